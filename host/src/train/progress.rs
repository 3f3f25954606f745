//! The training progress bar: position, rate, ETA and a message with the current losses.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps, starting at `done` (a resumed run).
pub fn training_bar(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done);
    bar.reset_eta();
    bar
}
