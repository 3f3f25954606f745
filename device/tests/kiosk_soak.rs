//! Kiosk soak, CI-sized: 60 pictures in one process through the whole kiosk loop, its input
//! wav files read from disk by the real `WavSource` while the test corrupts and deletes them
//! between takes (a truncated copy, bytes that are not a wav, a file gone), as a careless
//! operator or a failing SD card would. Every bad take is one error screen and the kiosk carries
//! on; resident memory after the last picture is within 2 MB of what it was at picture 20.

mod app_support;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use app_support::*;
use s2i_device::app::config::KioskConfig;
use s2i_device::app::{RecordingDisplay, Shown};
use s2i_device::audio::WavSource;
use s2i_device::clock::ManualClock;
use s2i_device::infer::Pipeline;
use s2i_shared::frontend::Frontend;

const PICTURES: usize = 60;
/// Every fourth take finds its file damaged or gone.
const BAD_EVERY: usize = 4;
const TAKES: usize = PICTURES * BAD_EVERY / (BAD_EVERY - 1);
/// Resident memory may move this much between picture 20 and the last.
const FLAT_BYTES: u64 = 2 << 20;

fn current_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// What take `i`'s file holds when the take starts.
fn damage(i: usize) -> Option<usize> {
    (i % BAD_EVERY == BAD_EVERY - 1).then_some((i / BAD_EVERY) % 3)
}

#[test]
fn sixty_pictures_with_inputs_damaged_while_it_runs_and_flat_memory() {
    let frontend = Frontend::default();
    let pipeline = Pipeline::load(&default_bundle(), &frontend).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let originals: Vec<Vec<u8>> = SAMPLES[..6]
        .iter()
        .map(|s| std::fs::read(sample_path(s)).unwrap())
        .collect();
    let files: Vec<PathBuf> = (0..originals.len())
        .map(|k| dir.path().join(format!("visitor{k}.wav")))
        .collect();
    for (path, bytes) in files.iter().zip(&originals) {
        std::fs::write(path, bytes).unwrap();
    }
    // Take i plays files[i % 6]; the hook sets that file up just before the take starts.
    let prepare = {
        let files = files.clone();
        move |i: usize| {
            if i >= TAKES {
                return;
            }
            let k = i % files.len();
            let path = &files[k];
            let _ = std::fs::remove_file(path);
            match damage(i) {
                None => std::fs::write(path, &originals[k]).unwrap(),
                // Cut off in the middle of its samples.
                Some(0) => std::fs::write(path, &originals[k][..originals[k].len() / 3]).unwrap(),
                // Not a wav at all.
                Some(1) => {
                    std::fs::write(path, b"RIFX this was overwritten by a log file").unwrap()
                }
                // Deleted.
                _ => {}
            }
        }
    };
    let clock = ManualClock::new();
    let source = WavSource::new(
        (0..TAKES).map(|i| files[i % files.len()].clone()).collect(),
        false,
        frontend.config().clone(),
        Arc::new(clock.clone()),
    )
    .with_lead_in(Duration::from_secs(3));
    let mut source = source;

    // (pictures so far, resident bytes) at picture 20 and at the last.
    let marks: Rc<RefCell<Vec<(usize, u64)>>> = Rc::default();
    let hook_marks = marks.clone();
    let (mut pictures, mut outcomes) = (0usize, 0usize);
    let mut display = RecordingDisplay::new(320, 240)
        .keeping(16)
        .with_hook(move |shown| {
            if !matches!(shown, Shown::Result { .. } | Shown::Error { .. }) {
                return;
            }
            if let Shown::Result { .. } = shown {
                pictures += 1;
                if pictures == 20 || pictures == PICTURES {
                    hook_marks
                        .borrow_mut()
                        .push((pictures, current_rss_bytes().unwrap_or(0)));
                }
            }
            outcomes += 1;
            prepare(outcomes);
        });
    let settings = KioskConfig {
        silence_ms: 800,
        hold_seconds: 2.0,
    };
    let summary = run_kiosk(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &settings,
    );
    let bad = (0..TAKES).filter(|&i| damage(i).is_some()).count();
    assert_eq!(
        (summary.pictures, summary.errors),
        (PICTURES, bad),
        "{summary:?}"
    );
    let marks = marks.borrow();
    let (at20, at_end) = (marks[0].1, marks[1].1);
    println!(
        "{PICTURES} pictures and {bad} refused takes; resident memory at picture 20: {:.1} MiB, \
         at {PICTURES}: {:.1} MiB",
        at20 as f64 / 1048576.0,
        at_end as f64 / 1048576.0
    );
    if at20 == 0 {
        eprintln!("no /proc/self/status here: memory not checked");
        return;
    }
    assert!(
        at_end <= at20 + FLAT_BYTES,
        "resident memory grew {} KiB from picture 20 to {PICTURES}",
        (at_end - at20) / 1024
    );
}
