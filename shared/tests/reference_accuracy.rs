//! The fixed-point log-mel (before CMVN) against the f64 reference of the same pipeline, on real
//! speech spoken by espeak-ng in the test, tones, chirps and noise. Requirement: at most 0.05
//! nats (max abs) on every cell above the floor. The measured errors are printed.

mod common;

use common::reference::Reference;
use s2i_shared::frontend::{wav, Frontend};

const TOLERANCE_NATS: f64 = 0.05;

fn compare(name: &str, frontend: &Frontend, reference: &Reference, samples: &[i16]) -> f64 {
    let fixed = frontend.log_mel(samples);
    let want = reference.log_mel(samples);
    assert_eq!(fixed.data.len(), want.len(), "{name}: frame counts differ");
    let floor = frontend.config().log_floor_log2 as f64 * std::f64::consts::LN_2;
    let (mut worst, mut sum, mut cells) = (0.0f64, 0.0f64, 0usize);
    for (i, &r) in want.iter().enumerate() {
        if r <= floor + 1e-9 {
            continue;
        }
        let err = (fixed.data[i] as f64 / 65536.0 - r).abs();
        worst = worst.max(err);
        sum += err;
        cells += 1;
    }
    println!(
        "{name:>28}: {cells:6} cells above the floor, max |err| {worst:.2e} nats, mean {:.2e}",
        sum / cells.max(1) as f64
    );
    assert!(cells > 0, "{name}: nothing above the floor");
    assert!(
        worst <= TOLERANCE_NATS,
        "{name}: max error {worst} nats exceeds {TOLERANCE_NATS}"
    );
    worst
}

fn tone(hz: f64, amplitude: f64, seconds: f64) -> Vec<i16> {
    let n = (16_000.0 * seconds) as usize;
    (0..n)
        .map(|i| {
            (amplitude * 32767.0 * (std::f64::consts::TAU * hz * i as f64 / 16_000.0).sin()).round()
                as i16
        })
        .collect()
}

fn chirp(f0: f64, f1: f64, amplitude: f64, seconds: f64) -> Vec<i16> {
    let n = (16_000.0 * seconds) as usize;
    let k = (f1 - f0) / seconds;
    (0..n)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            (amplitude * 32767.0 * (std::f64::consts::TAU * (f0 * t + 0.5 * k * t * t)).sin())
                .round() as i16
        })
        .collect()
}

fn noise(amplitude: f64, seconds: f64, mut seed: u64) -> Vec<i16> {
    let n = (16_000.0 * seconds) as usize;
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (amplitude * 32767.0 * u).round() as i16
        })
        .collect()
}

#[test]
fn synthetic_signals_match_the_f64_reference() {
    let frontend = Frontend::default();
    let reference = Reference::new(frontend.config());
    compare(
        "tone 440 Hz, -6 dBFS",
        &frontend,
        &reference,
        &tone(440.0, 0.5, 1.0),
    );
    compare(
        "tone 3 kHz, -40 dBFS",
        &frontend,
        &reference,
        &tone(3000.0, 0.01, 1.0),
    );
    compare(
        "tone 7.6 kHz, full scale",
        &frontend,
        &reference,
        &tone(7600.0, 1.0, 0.5),
    );
    compare(
        "chirp 50 Hz-7.9 kHz",
        &frontend,
        &reference,
        &chirp(50.0, 7900.0, 0.7, 2.0),
    );
    compare(
        "white noise, -20 dBFS",
        &frontend,
        &reference,
        &noise(0.1, 1.0, 1),
    );
    compare(
        "white noise, -60 dBFS",
        &frontend,
        &reference,
        &noise(0.001, 1.0, 2),
    );
    let mut mixed = tone(200.0, 0.3, 1.0);
    for (m, n) in mixed.iter_mut().zip(noise(0.0005, 1.0, 3)) {
        *m = m.saturating_add(n);
    }
    compare("tone + faint noise", &frontend, &reference, &mixed);
}

#[test]
fn espeak_speech_matches_the_f64_reference() {
    let frontend = Frontend::default();
    let reference = Reference::new(frontend.config());
    let dir = tempfile::tempdir().unwrap();
    let voices = [
        ("en-us", "a small yellow bird with black wings"),
        ("en+f3", "a red flower with large petals"),
        ("en-gb+m3", "the bird has a long grey tail"),
    ];
    for (voice, text) in voices {
        let path = dir.path().join(format!("{voice}.wav"));
        let status = std::process::Command::new("espeak-ng")
            .args(["-v", voice, "-w"])
            .arg(&path)
            .arg(text)
            .status()
            .expect("espeak-ng is installed (deploy/setup-dev.sh installs it)");
        assert!(status.success(), "espeak-ng failed for {voice}");
        let audio = wav::read_wav_file(&path, 20_000).unwrap();
        let samples = frontend.resample(&audio, voice).unwrap();
        compare(
            &format!("espeak-ng {voice}"),
            &frontend,
            &reference,
            &samples,
        );
    }
}
