//! Audio sources through the `Source` trait: wav files reach the app as exactly the samples the
//! front end computes from the file, in real (here simulated) time; a finite list ends; and,
//! with the `microphone` feature, a missing input is a clear error.

mod app_support;

use std::sync::Arc;
use std::time::Duration;

use app_support::*;
use s2i_device::audio::{AudioError, Source, WavSource};
use s2i_device::clock::{Clock, ManualClock};
use s2i_shared::frontend::wav::read_wav_file;
use s2i_shared::frontend::Frontend;

fn play(source: &mut dyn Source) -> Vec<i16> {
    source.start().unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = source.read().unwrap() {
        assert!(!chunk.is_empty() && chunk.len() <= 320, "{}", chunk.len());
        out.extend(chunk);
    }
    source.stop();
    out
}

#[test]
fn wav_takes_are_the_front_ends_own_samples_at_the_files_pace() {
    let frontend = Frontend::default();
    let clock = ManualClock::new();
    let files = vec![sample_path(SAMPLES[0]), sample_path(SAMPLES[1])];
    let mut source = WavSource::new(
        files.clone(),
        true,
        frontend.config().clone(),
        Arc::new(clock.clone()),
    );
    assert_eq!(source.sample_rate(), 16_000);
    for round in 0..2 {
        for file in &files {
            let before = clock.now();
            let got = play(&mut source);
            assert_eq!(source.name(), file.display().to_string());
            let audio = read_wav_file(file, 20_000).unwrap();
            let want = frontend.resample(&audio, "x").unwrap();
            assert!(got == want, "round {round}: {} differs", file.display());
            // A take lasts as long as its audio.
            let took = clock.now() - before;
            let expected = Duration::from_secs_f64(want.len() as f64 / 16_000.0);
            assert!(
                took.abs_diff(expected) < Duration::from_millis(1),
                "{took:?}"
            );
        }
    }
}

#[test]
fn a_list_played_once_ends_and_a_bad_file_does_not_wedge_it() {
    let frontend = Frontend::default();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("truncated.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEfmt ").unwrap();
    let mut source = WavSource::new(
        vec![bad.clone(), sample_path(SAMPLES[2])],
        false,
        frontend.config().clone(),
        Arc::new(ManualClock::new()),
    );
    let e = source.start().unwrap_err();
    assert!(matches!(e, AudioError::Wav(_)));
    assert!(e.to_string().contains("truncated.wav"), "{e}");
    assert_eq!(source.read().unwrap(), None);
    assert!(!play(&mut source).is_empty());
    assert!(matches!(source.start(), Err(AudioError::Exhausted(_))));
}

#[cfg(feature = "microphone")]
#[test]
fn a_microphone_that_is_not_there_is_named_in_the_error() {
    use s2i_device::audio::MicrophoneSource;
    let frontend = Frontend::default();
    match MicrophoneSource::open("no-such-microphone-xyz", frontend.config()) {
        Ok(_) => panic!("no input should match"),
        Err(e) => assert!(e.to_string().contains("no-such-microphone-xyz"), "{e}"),
    }
}
