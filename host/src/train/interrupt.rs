//! Ctrl-C: the first press asks the trainer to stop after the current step (it then saves a
//! checkpoint); a second press exits at once, which is safe because checkpoints are only ever
//! replaced by a rename.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

#[derive(Clone)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
}

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static PRESSES: AtomicU32 = AtomicU32::new(0);

impl Interrupt {
    /// Installs the process-wide handler once; later calls share it.
    pub fn install() -> Self {
        let flag = FLAG
            .get_or_init(|| {
                let flag = Arc::new(AtomicBool::new(false));
                let f = flag.clone();
                let installed = ctrlc::set_handler(move || {
                    if PRESSES.fetch_add(1, Ordering::SeqCst) >= 1 {
                        eprintln!("\ninterrupted again: exiting now (checkpoints are intact)");
                        std::process::exit(130);
                    }
                    eprintln!("\ninterrupt: stopping after this step and saving a checkpoint");
                    f.store(true, Ordering::SeqCst);
                });
                if let Err(e) = installed {
                    eprintln!("warning: cannot install the Ctrl-C handler: {e}");
                }
                flag
            })
            .clone();
        Self { flag }
    }

    /// A flag nobody sets, for tests and library callers.
    pub fn never() -> Self {
        Self {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Asks for a stop as Ctrl-C would (tests use it to interrupt a run mid-way).
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }
}
