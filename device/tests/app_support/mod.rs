//! Shared by the app_* tests: the shipped bundle, its spoken samples at the front end's rate,
//! quiet-room noise, and scripted button presses.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use s2i_device::app::config::KioskConfig;
use s2i_device::app::{handheld, kiosk, Session, Settings, Summary};
use s2i_device::audio::Source;
use s2i_device::clock::ManualClock;
use s2i_device::display::Display;
use s2i_device::infer::Pipeline;
use s2i_device::input::{Button, Edge};
use s2i_shared::frontend::wav::read_wav_file;
use s2i_shared::frontend::Frontend;

pub const RATE: u32 = 16_000;

pub fn default_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("models/default")
}

pub fn sample_path(name: &str) -> PathBuf {
    default_bundle().join("samples").join(name)
}

pub const SAMPLES: [&str; 9] = [
    "yellow_body_black_wings.wav",
    "red_body_blue_wings.wav",
    "grey_body_brown_wings.wav",
    "yellow_body_blue_wings.wav",
    "red_body_black_wings.wav",
    "grey_body_blue_wings.wav",
    "yellow_body_brown_wings.wav",
    "red_body_brown_wings.wav",
    "grey_body_black_wings.wav",
];

/// A spoken sample at 16 kHz, through the shared reader and resampler.
pub fn speech(frontend: &Frontend, name: &str) -> Vec<i16> {
    let audio = read_wav_file(&sample_path(name), 20_000).unwrap();
    frontend.resample(&audio, name).unwrap()
}

/// A quiet room: deterministic noise of about 17 RMS (−66 dBFS), below the speech floor.
pub fn room(seconds: f64, seed: u64) -> Vec<i16> {
    let n = (seconds * RATE as f64) as usize;
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state % 61) as i64 - 30) as i16
        })
        .collect()
}

pub fn concat(parts: &[&[i16]]) -> Vec<i16> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A press at `at` that bounces for a few milliseconds, held until `until`, with a bouncy
/// release: the edges a real switch makes.
pub fn bouncy_press(at: f64, until: f64) -> Vec<Edge> {
    let ms = |v: f64| secs(v / 1000.0);
    vec![
        Edge::press(secs(at)),
        Edge::release(secs(at) + ms(1.0)),
        Edge::press(secs(at) + ms(3.0)),
        Edge::release(secs(until)),
        Edge::press(secs(until) + ms(2.0)),
        Edge::release(secs(until) + ms(4.0)),
    ]
}

/// Mean absolute difference of two RGB buffers, 0..255.
pub fn mean_abs_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// One handheld session with default settings on the test's manual clock, run to its end.
pub fn run_handheld(
    pipeline: &Pipeline,
    frontend: &Frontend,
    display: &mut dyn Display,
    clock: &ManualClock,
    source: &mut dyn Source,
    button: &mut dyn Button,
) -> Summary {
    let mut session = Session::new(
        pipeline,
        frontend,
        display,
        Arc::new(clock.clone()),
        Settings::default(),
    );
    handheld::run(&mut session, source, button).unwrap()
}

/// One kiosk session with default settings on the test's manual clock, run to its end.
pub fn run_kiosk(
    pipeline: &Pipeline,
    frontend: &Frontend,
    display: &mut dyn Display,
    clock: &ManualClock,
    source: &mut dyn Source,
    settings: &KioskConfig,
) -> Summary {
    let mut session = Session::new(
        pipeline,
        frontend,
        display,
        Arc::new(clock.clone()),
        Settings::default(),
    );
    kiosk::run(&mut session, source, settings)
}
