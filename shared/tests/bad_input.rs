//! Every kind of bad input gets one clear error that names the file and the problem.

use std::path::{Path, PathBuf};

use s2i_shared::frontend::{Frontend, FrontendError};

fn wav_header(format_tag: u16, channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block_align = channels.max(1) * bits / 8;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&format_tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

fn speech_like(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (((i * 37) % 200) as i16 * 100 - 10_000).to_le_bytes())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn error_for(path: &Path) -> FrontendError {
    match Frontend::default().features_from_wav_file(path) {
        Ok(f) => panic!("{} was accepted ({} frames)", path.display(), f.frames),
        Err(e) => e,
    }
}

fn assert_message(path: &Path, needle: &str) {
    let msg = error_for(path).to_string();
    println!("{msg}");
    assert!(
        msg.starts_with(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    assert!(
        msg.contains(needle),
        "message {msg:?} does not say {needle:?}"
    );
}

#[test]
fn each_bad_wav_gets_its_own_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    assert_message(&write(d, "empty.wav", b""), "the file is empty");
    assert_message(
        &write(d, "text.wav", b"this is not audio at all, just text"),
        "not a RIFF/WAVE file",
    );

    let mut truncated = wav_header(1, 1, 16_000, 16, 32_000);
    truncated.extend(speech_like(4_000));
    assert_message(
        &write(d, "truncated.wav", &truncated),
        "truncated data chunk: the header declares 16000 samples but only 4000",
    );

    let mut alaw = wav_header(6, 1, 8_000, 8, 8_000);
    alaw.extend(vec![0x55u8; 8_000]);
    assert_message(&write(d, "alaw.wav", &alaw), "unsupported wav encoding");

    let mut zero = wav_header(1, 0, 16_000, 16, 3_200);
    zero.extend(speech_like(1_600));
    assert_message(&write(d, "zero-channels.wav", &zero), "zero channels");

    let mut odd_rate = wav_header(1, 1, 12_000, 16, 24_000);
    odd_rate.extend(speech_like(12_000));
    assert_message(
        &write(d, "12k.wav", &odd_rate),
        "sample rate 12000 Hz is not supported; supported rates: 8000, 11025, 16000",
    );

    let mut silent = wav_header(1, 1, 16_000, 16, 32_000);
    silent.extend(vec![0u8; 32_000]);
    assert_message(&write(d, "silence.wav", &silent), "no speech found");

    // 21 s at 8 kHz: refused from the header, before the samples are read.
    let mut long = wav_header(1, 1, 8_000, 16, 336_000);
    long.extend(vec![0u8; 336_000]);
    assert_message(
        &write(d, "long.wav", &long),
        "the audio lasts 21000 ms, longer than the 20000 ms limit",
    );

    let mut nan = wav_header(3, 1, 16_000, 32, 16);
    for v in [0.1f32, f32::NAN, 0.2, 0.3] {
        nan.extend_from_slice(&v.to_le_bytes());
    }
    assert_message(
        &write(d, "nan.wav", &nan),
        "sample 1 is not a finite number",
    );

    let mut double = wav_header(3, 1, 16_000, 64, 64);
    double.extend(vec![0u8; 64]);
    assert_message(
        &write(d, "f64.wav", &double),
        "unsupported wav encoding: a float format",
    );

    assert_message(&d.join("missing.wav"), "cannot read");
}

#[test]
fn a_clipped_signal_is_accepted() {
    // Clipping is a property of the recording, not a format error: it must not crash or be refused.
    let dir = tempfile::tempdir().unwrap();
    let mut clipped = wav_header(1, 1, 16_000, 16, 32_000);
    clipped.extend((0..16_000).flat_map(|i| {
        if (i / 20) % 2 == 0 {
            i16::MAX
        } else {
            i16::MIN
        }
        .to_le_bytes()
    }));
    let path = write(dir.path(), "clipped.wav", &clipped);
    let f = Frontend::default().features_from_wav_file(&path).unwrap();
    assert_eq!(f.n_mels, 40);
    assert!(f.data.iter().all(|v| v.is_finite()));
}
