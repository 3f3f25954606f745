//! Every kind of bad input gets one clear error that names the file and the problem.

use std::path::{Path, PathBuf};

use s2i_shared::frontend::{Frontend, FrontendError};

fn wav_header(format_tag: u16, channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block_align = channels.max(1) * bits / 8;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&36u32.wrapping_add(data_len).to_le_bytes());
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

/// The error for `path`, failing the test if it takes 20 s (a refusal is instant; the old reader
/// waited forever for a FIFO's writer).
fn error_within_20_s(path: &Path) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(error_for(&owned).to_string());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{} still being read after 20 s", path.display()))
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_by_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.wav");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cases = [
        (fifo, "a FIFO (named pipe), not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "a character device, not a regular file",
        ),
        (
            PathBuf::from("/dev/urandom"),
            "a character device, not a regular file",
        ),
        (dir.path().to_path_buf(), "a directory, not a regular file"),
    ];
    for (path, says) in cases {
        let msg = error_within_20_s(&path);
        println!("{msg}");
        assert_eq!(msg, format!("{}: {says}", path.display()));
    }
    // A link to a wav is followed (recordings are often links); a link to a device is not read.
    let link = dir.path().join("zero.wav");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert_eq!(
        error_within_20_s(&link),
        format!("{}: a character device, not a regular file", link.display())
    );
}

#[test]
fn absurd_headers_are_refused_before_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 4 294 967 294 one-byte samples at 4 294 967 295 Hz "last" a second.
    let mut fast = wav_header(1, 1, 16_000, 8, u32::MAX - 1);
    fast[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    fast[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
    fast.extend(vec![0x80u8; 70_000]);
    assert_message(
        &write(d, "fast.wav", &fast),
        "sample rate 4294967295 Hz is not supported",
    );
    // 65 535 channels of 8 bits at 48 kHz: 1.4 s by the header.
    let mut wide = wav_header(1, 1, 48_000, 8, 65_535 * 65_535);
    wide[22..24].copy_from_slice(&u16::MAX.to_le_bytes());
    wide[28..32].copy_from_slice(&(48_000u32 * 65_535).to_le_bytes());
    wide[32..34].copy_from_slice(&u16::MAX.to_le_bytes());
    wide.extend(vec![0x80u8; 70_000]);
    assert_message(
        &write(d, "wide.wav", &wide),
        "the wav header declares 65535 channels; at most 32 are read",
    );
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
