//! Soak: 200 pictures in one process through the whole handheld loop (scripted presses and
//! audio, the real front end and pipeline), and the peak resident memory must not grow by 5%
//! or more between picture 50 and picture 200: a leak of one picture's buffers per cycle
//! would show.
//!
//! Every fourth press is new speech (one of the nine samples in turn), the other three are
//! taps that redraw it with the next seed, so both paths are soaked. Both stages run.

mod app_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_support::*;
use s2i_device::app::{RecordingDisplay, Shown};
use s2i_device::audio::{ScriptedSource, Take};
use s2i_device::bench::peak_memory_bytes;
use s2i_device::clock::ManualClock;
use s2i_device::infer::Pipeline;
use s2i_device::input::ScriptedButton;
use s2i_shared::frontend::Frontend;

const PICTURES: usize = 200;
/// Seconds between presses (longer than any sample plus its silence).
const CYCLE: f64 = 10.0;

fn current_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

#[test]
fn two_hundred_pictures_without_memory_growth() {
    let frontend = Frontend::default();
    let pipeline = Pipeline::load(&default_bundle(), &frontend).unwrap();
    let clock = ManualClock::new();
    let words: Arc<Vec<Vec<i16>>> = Arc::new(
        SAMPLES
            .iter()
            .map(|s| concat(&[&room(0.2, 1), &speech(&frontend, s), &room(0.6, 2)]))
            .collect(),
    );
    let is_speech = |c: usize| c.is_multiple_of(4);
    let take_words = words.clone();
    let takes = (0..PICTURES).map(move |c| {
        if is_speech(c) {
            Take::new(take_words[(c / 4) % take_words.len()].clone())
        } else {
            Take::new(room(0.5, c as u64))
        }
    });
    let edge_words = words.clone();
    let edges = (0..PICTURES).flat_map(move |c| {
        let at = 1.0 + c as f64 * CYCLE;
        let held = if is_speech(c) {
            edge_words[(c / 4) % edge_words.len()].len() as f64 / RATE as f64 - 0.3
        } else {
            0.2
        };
        bouncy_press(at, at + held)
    });
    let mut source = ScriptedSource::new(RATE, takes, Arc::new(clock.clone()));
    let mut button = ScriptedButton::new(edges, Duration::from_millis(20), Arc::new(clock.clone()));

    // (picture number, peak, current) at the checkpoints.
    let marks: Rc<RefCell<Vec<(usize, u64, u64)>>> = Rc::default();
    let hook_marks = marks.clone();
    let mut count = 0usize;
    let mut display = RecordingDisplay::new(240, 240)
        .keeping(32)
        .with_hook(move |shown| {
            if let Shown::Result { .. } = shown {
                count += 1;
                if count == 50 || count == PICTURES {
                    hook_marks.borrow_mut().push((
                        count,
                        peak_memory_bytes().unwrap_or(0),
                        current_rss_bytes().unwrap_or(0),
                    ));
                }
            }
        });
    let start = Instant::now();
    let summary = run_handheld(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &mut button,
    );
    let took = start.elapsed();
    assert_eq!(summary.pictures, PICTURES, "{summary:?}");
    assert_eq!(summary.errors, 0, "{summary:?}");
    let marks = marks.borrow();
    println!(
        "{PICTURES} pictures in {:.1} s; peak/current RSS at 50: {:.1}/{:.1} MiB, at {PICTURES}: {:.1}/{:.1} MiB",
        took.as_secs_f64(),
        marks[0].1 as f64 / 1048576.0,
        marks[0].2 as f64 / 1048576.0,
        marks[1].1 as f64 / 1048576.0,
        marks[1].2 as f64 / 1048576.0
    );
    if peak_memory_bytes().is_none() {
        eprintln!("no /proc/self/status here: memory not checked");
        return;
    }
    let (peak50, peak200) = (marks[0].1 as f64, marks[1].1 as f64);
    assert!(
        peak200 < peak50 * 1.05,
        "peak memory grew {:.1}% from picture 50 to {PICTURES}",
        (peak200 / peak50 - 1.0) * 100.0
    );
    let (rss50, rss200) = (marks[0].2 as f64, marks[1].2 as f64);
    assert!(
        rss200 < rss50 * 1.05,
        "resident memory grew {:.1}% from picture 50 to {PICTURES}",
        (rss200 / rss50 - 1.0) * 100.0
    );
}
