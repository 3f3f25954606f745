//! The handheld and kiosk state machines, driven through their traits by scripted audio and
//! scripted (bouncing) button edges in simulated time, on the real pipeline with the shipped
//! bundle and its spoken samples. What the screen showed is checked screen by screen, and the
//! pictures against the pipeline run directly on the same audio.

mod app_support;

use std::sync::Arc;
use std::time::Duration;

use app_support::*;
use s2i_device::app::config::KioskConfig;
use s2i_device::app::{handheld, RecordingDisplay, Session, Settings, Shown};
use s2i_device::audio::{AudioError, ScriptedSource, Take, WavSource};
use s2i_device::clock::{Clock, ManualClock};
use s2i_device::infer::Pipeline;
use s2i_device::input::ScriptedButton;
use s2i_shared::frontend::{Audio, Frontend};

const DEBOUNCE: Duration = Duration::from_millis(20);

fn load() -> (Frontend, Pipeline) {
    let frontend = Frontend::default();
    let pipeline = Pipeline::load(&default_bundle(), &frontend).unwrap();
    (frontend, pipeline)
}

/// The last stage's picture the pipeline draws directly for `samples` (16 kHz) and `seed`.
fn direct(frontend: &Frontend, pipeline: &Pipeline, samples: &[i16], seed: u64) -> Vec<u8> {
    let audio = Audio {
        sample_rate: RATE,
        samples: samples.to_vec(),
    };
    let features = frontend.features_from_audio(&audio, "direct").unwrap();
    let images = pipeline
        .generate(&features, "direct", seed, None, |_| {})
        .unwrap();
    images.last().unwrap().rgb.clone()
}

fn results(display: &RecordingDisplay) -> Vec<(Vec<u8>, String)> {
    display
        .shown()
        .filter_map(|s| match s {
            Shown::Result { rgb, caption, .. } => Some((rgb.clone(), caption.clone())),
            _ => None,
        })
        .collect()
}

fn errors(display: &RecordingDisplay) -> Vec<String> {
    display
        .shown()
        .filter_map(|s| match s {
            Shown::Error { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn lost_microphone() -> AudioError {
    AudioError::Lost {
        device: "USB microphone".into(),
        message: "snd_pcm_readi: No such device".into(),
    }
}

#[test]
fn handheld_press_speak_release_draws_and_a_tap_redraws_with_the_next_seed() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = speech(&frontend, SAMPLES[0]);
    let take1 = concat(&[&room(0.2, 1), &words, &room(0.8, 2)]);
    let d1 = take1.len() as f64 / RATE as f64;
    let mut source = ScriptedSource::new(
        RATE,
        vec![Take::new(take1.clone()), Take::new(room(1.0, 3))],
        Arc::new(clock.clone()),
    );
    // Hold while speaking (release 0.3 s before the take ends), then a 0.2 s tap.
    let mut edges = bouncy_press(1.0, 1.0 + d1 - 0.3);
    edges.extend(bouncy_press(30.0, 30.2));
    let mut button = ScriptedButton::new(edges, DEBOUNCE, Arc::new(clock.clone()));
    let mut display = RecordingDisplay::new(240, 240).with_clock(Arc::new(clock.clone()));
    let summary = run_handheld(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &mut button,
    );

    assert_eq!(
        display.path(),
        [
            "attract",
            "listening",
            "working",
            "result",
            "listening",
            "working",
            "result"
        ]
    );
    assert_eq!((summary.pictures, summary.errors), (2, 0));

    // Listening: the level rises with the voice, time runs from the press, the limit is 8 s.
    let listening: Vec<(Duration, f32, Duration)> = display
        .shown()
        .filter_map(|s| match s {
            Shown::Listening {
                level,
                elapsed,
                limit,
            } => Some((*elapsed, *level, *limit)),
            _ => None,
        })
        .collect();
    assert!(listening.iter().all(|l| l.2 == Duration::from_secs(8)));
    assert!(
        listening.iter().any(|l| l.1 > 0.4),
        "the voice should move the meter"
    );
    assert!(listening[0].1 < 0.1, "the room is quiet");
    // The first press's screens: those before the first Working screen.
    let first_count = display
        .shown()
        .take_while(|s| s.kind() != "working")
        .filter(|s| s.kind() == "listening")
        .count();
    let first_press = &listening[..first_count];
    assert!(first_press.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(first_press.last().unwrap().0 > secs(d1 - 0.5));
    // Refreshed at most every 100 ms of audio.
    assert!(first_press.len() <= (d1 * 10.0) as usize + 1);

    // Working: the encoder and stage 1 arrive together, then stage 2, with previews.
    let working: Vec<(usize, usize, Option<u32>)> = display
        .shown()
        .filter_map(|s| match s {
            Shown::Working {
                done,
                total,
                preview,
            } => Some((*done, *total, *preview)),
            _ => None,
        })
        .collect();
    let one_cycle = [(0, 3, None), (2, 3, Some(64)), (3, 3, Some(128))];
    assert_eq!(working, [one_cycle, one_cycle].concat());

    // The pictures are the pipeline's own for this speech with seeds 0 and 1, and differ.
    let results = results(&display);
    assert!(results[0].1.starts_with("seed 0"), "{}", results[0].1);
    assert!(results[1].1.starts_with("seed 1"), "{}", results[1].1);
    assert!(results[0].0 == direct(&frontend, &pipeline, &take1, 0));
    assert!(results[1].0 == direct(&frontend, &pipeline, &take1, 1));
    let moved = mean_abs_difference(&results[0].0, &results[1].0);
    assert!(
        moved > 2.0,
        "a new seed should draw another bird (moved {moved:.2})"
    );
}

#[test]
fn a_tap_after_the_largest_seed_says_so_instead_of_wrapping_to_zero() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = speech(&frontend, SAMPLES[2]);
    let take = concat(&[&room(0.2, 1), &words, &room(0.8, 2)]);
    let held = take.len() as f64 / RATE as f64 - 0.3;
    let mut source = ScriptedSource::new(
        RATE,
        vec![Take::new(take), Take::new(room(1.0, 3))],
        Arc::new(clock.clone()),
    );
    // Speech drawn with the largest seed, then a tap: there is no next seed.
    let mut edges = bouncy_press(1.0, 1.0 + held);
    edges.extend(bouncy_press(30.0, 30.2));
    let mut button = ScriptedButton::new(edges, DEBOUNCE, Arc::new(clock.clone()));
    let mut display = RecordingDisplay::new(240, 240);
    let mut session = Session::new(
        &pipeline,
        &frontend,
        &mut display,
        Arc::new(clock.clone()),
        Settings {
            seed: u64::MAX,
            ..Settings::default()
        },
    );
    let summary = handheld::run(&mut session, &mut source, &mut button).unwrap();
    assert_eq!((summary.pictures, summary.errors), (1, 1), "{summary:?}");
    let results = results(&display);
    assert!(
        results[0].1.starts_with(&format!("seed {}", u64::MAX)),
        "{}",
        results[0].1
    );
    assert_eq!(
        errors(&display),
        ["Seed 18446744073709551615 was the last one for these words. Describe the bird again."]
    );
}

#[test]
fn handheld_shows_each_failure_then_returns_to_ready_and_the_next_press_works() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = speech(&frontend, SAMPLES[1]);
    let long = concat(&[&words, &words, &words, &words]);
    let good = concat(&[&room(0.2, 4), &words, &room(0.8, 5)]);
    let dg = good.len() as f64 / RATE as f64;
    let takes = vec![
        // Unplugged one second into the sentence.
        Take::new(words.clone()).failing_at(RATE as usize, lost_microphone()),
        // Held 1.5 s in a quiet room, with nothing drawn before: nothing to redraw.
        Take::new(room(2.0, 6)),
        // Talking on past the 8 s limit.
        Take::new(long),
        Take::new(good.clone()),
        Take::new(room(1.0, 7)),
    ];
    let mut source = ScriptedSource::new(RATE, takes, Arc::new(clock.clone()));
    let edges = [
        bouncy_press(1.0, 4.0),
        bouncy_press(10.0, 11.5),
        bouncy_press(20.0, 33.0),
        bouncy_press(40.0, 40.0 + dg - 0.3),
        bouncy_press(50.0, 50.1),
    ]
    .concat();
    let mut button = ScriptedButton::new(edges, DEBOUNCE, Arc::new(clock.clone()));
    let mut display = RecordingDisplay::new(240, 240).with_clock(Arc::new(clock.clone()));
    let summary = run_handheld(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &mut button,
    );
    assert_eq!(
        display.path(),
        [
            "attract",
            "listening",
            "error",
            "attract",
            "listening",
            "error",
            "attract",
            "listening",
            "error",
            "attract",
            "listening",
            "working",
            "result",
            "listening",
            "working",
            "result"
        ]
    );
    let errors = errors(&display);
    assert!(errors[0].contains("USB microphone stopped during the recording"));
    assert!(errors[0].contains("unplugged"), "{}", errors[0]);
    assert!(errors[1].starts_with("No speech heard"), "{}", errors[1]);
    assert!(errors[2].contains("8 s limit"), "{}", errors[2]);
    assert_eq!(summary.errors, 3);
    assert_eq!(summary.pictures, 2);
    // The limit stops the recording at 8 s, not at the release (20 s + 8 s of audio).
    let error_times: Vec<Duration> = display
        .timed()
        .filter(|(_, s)| s.kind() == "error")
        .map(|(t, _)| *t)
        .collect();
    let t = error_times[2].as_secs_f64();
    assert!((28.0..28.1).contains(&t), "limit error at {t:.3} s");
    // Each error stays `error_hold` (4 s) before the attract screen returns.
    let attract_after_first = display
        .timed()
        .find(|(at, s)| s.kind() == "attract" && *at > error_times[0])
        .unwrap()
        .0;
    let held = (attract_after_first - error_times[0]).as_secs_f64();
    assert!((4.0..4.1).contains(&held), "error held {held:.3} s");
    // The drawing after the errors is the same as one without them.
    let results = results(&display);
    assert!(results[0].0 == direct(&frontend, &pipeline, &good, 0));
    assert!(results[1].1.starts_with("seed 1"));
}

#[test]
fn handheld_shows_an_inference_error_and_carries_on() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = concat(&[&speech(&frontend, SAMPLES[2]), &room(0.5, 8)]);
    let d = words.len() as f64 / RATE as f64;
    let mut source = ScriptedSource::new(
        RATE,
        vec![Take::new(words.clone()), Take::new(words)],
        Arc::new(clock.clone()),
    );
    let edges = [
        bouncy_press(1.0, 1.0 + d - 0.2),
        bouncy_press(20.0, 20.0 + d - 0.2),
    ]
    .concat();
    let mut button = ScriptedButton::new(edges, DEBOUNCE, Arc::new(clock.clone()));
    let mut display = RecordingDisplay::new(240, 240);
    // This bundle has two stages: asking for a third fails inside the pipeline, every time.
    let settings = Settings {
        last_stage: Some(3),
        ..Settings::default()
    };
    let summary = {
        let mut session = Session::new(
            &pipeline,
            &frontend,
            &mut display,
            Arc::new(clock.clone()),
            settings,
        );
        handheld::run(&mut session, &mut source, &mut button).unwrap()
    };
    assert_eq!(
        display.path(),
        [
            "attract",
            "listening",
            "working",
            "error",
            "attract",
            "listening",
            "working",
            "error"
        ]
    );
    assert_eq!(summary.errors, 2);
    assert!(errors(&display)[0].contains("stage 3 does not exist"));
}

/// A wav file with `samples` at 16 kHz, written by hand (44-byte header).
fn write_wav(path: &std::path::Path, samples: &[i16]) {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend((36 + data.len() as u32).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(RATE.to_le_bytes());
    b.extend((RATE * 2).to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn handheld_on_wav_files_reports_the_files_the_front_end_rejects() {
    let (frontend, pipeline) = load();
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.wav");
    std::fs::write(&corrupt, b"this is not audio at all, only words").unwrap();
    let silent = dir.path().join("silent.wav");
    write_wav(&silent, &vec![0; RATE as usize]);
    let good = sample_path(SAMPLES[3]);
    let clock = ManualClock::new();
    let mut source = WavSource::new(
        vec![corrupt.clone(), silent.clone(), good.clone()],
        false,
        frontend.config().clone(),
        Arc::new(clock.clone()),
    );
    // Each press plays the next file; the wav plays out before the release (4 s).
    let edges = [
        bouncy_press(1.0, 5.0),
        bouncy_press(10.0, 14.0),
        bouncy_press(20.0, 24.0),
        bouncy_press(30.0, 34.0),
    ]
    .concat();
    let mut button = ScriptedButton::new(edges, DEBOUNCE, Arc::new(clock.clone()));
    let mut display = RecordingDisplay::new(320, 240);
    let summary = run_handheld(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &mut button,
    );
    // The fourth press finds the list played out, which ends the run.
    assert_eq!(
        display.path(),
        [
            "attract",
            "error",
            "attract",
            "listening",
            "error",
            "attract",
            "listening",
            "working",
            "result"
        ]
    );
    let errors = errors(&display);
    assert!(
        errors[0].contains(&corrupt.display().to_string()),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("not a RIFF/WAVE file"), "{}", errors[0]);
    assert!(errors[1].starts_with("No speech heard"), "{}", errors[1]);
    assert_eq!((summary.pictures, summary.errors), (1, 2));
    // The file's picture is the one `s2i generate` draws from it.
    let features = frontend.features_from_wav_file(&good).unwrap();
    let want = pipeline.generate(&features, "g", 0, None, |_| {}).unwrap();
    assert!(results(&display)[0].0 == want.last().unwrap().rgb);
}

fn kiosk_settings() -> KioskConfig {
    KioskConfig {
        silence_ms: 800,
        hold_seconds: 20.0,
    }
}

#[test]
fn kiosk_listens_finds_the_end_of_speech_holds_the_picture_then_attracts() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = speech(&frontend, SAMPLES[4]);
    let take1 = concat(&[&room(1.0, 9), &words, &room(2.0, 10)]);
    let mut source = ScriptedSource::new(
        RATE,
        vec![Take::new(take1.clone()), Take::new(room(25.0, 11))],
        Arc::new(clock.clone()),
    );
    let mut display = RecordingDisplay::new(640, 480).with_clock(Arc::new(clock.clone()));
    let summary = run_kiosk(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &kiosk_settings(),
    );
    assert_eq!(
        display.path(),
        ["attract", "listening", "working", "result", "attract"]
    );
    assert_eq!((summary.pictures, summary.errors), (1, 0));
    let at = |kind: &str| {
        display
            .timed()
            .find(|(_, s)| s.kind() == kind)
            .map(|(t, _)| t.as_secs_f64())
            .unwrap()
    };
    // Speech starts about 1 s in (the samples begin with a little silence of their own).
    let rule = frontend.energy_rule();
    let speech_range = rule.speech_range(&take1).unwrap();
    let margin = 10.0 * 160.0 / RATE as f64;
    let first = speech_range.start as f64 / RATE as f64 + margin;
    let last = speech_range.end as f64 / RATE as f64 - margin;
    assert!(
        (at("listening") - first).abs() < 0.1,
        "{} vs {first}",
        at("listening")
    );
    // It ends 800 ms after the last speech block (give or take a 20 ms chunk).
    let ended = at("working");
    assert!(
        (ended - (last + 0.8)).abs() < 0.05,
        "{ended} vs {}",
        last + 0.8
    );
    // The picture is held 20 s (inference takes no simulated time), then the attract screen.
    let attract_again = display
        .timed()
        .filter(|(_, s)| s.kind() == "attract")
        .nth(1)
        .unwrap()
        .0
        .as_secs_f64();
    let held = attract_again - at("result");
    assert!((20.0..20.05).contains(&held), "held {held:.3} s");
    // The picture is the pipeline's own for the whole take.
    assert!(results(&display)[0].0 == direct(&frontend, &pipeline, &take1, 0));
}

#[test]
fn kiosk_survives_a_microphone_failure_mid_sentence_and_the_next_visitor_gets_a_picture() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = speech(&frontend, SAMPLES[5]);
    let broken = concat(&[&room(0.5, 12), &words]);
    let good = concat(&[&room(0.5, 13), &words, &room(1.5, 14)]);
    let takes = vec![
        Take::new(broken).failing_at(RATE as usize * 3 / 2, lost_microphone()),
        Take::new(good.clone()),
    ];
    let mut source = ScriptedSource::new(RATE, takes, Arc::new(clock.clone()));
    let mut display = RecordingDisplay::new(640, 480).with_clock(Arc::new(clock.clone()));
    let summary = run_kiosk(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &kiosk_settings(),
    );
    assert_eq!(
        display.path(),
        [
            "attract",
            "listening",
            "error",
            "attract",
            "listening",
            "working",
            "result"
        ]
    );
    assert_eq!((summary.pictures, summary.errors), (1, 1));
    assert!(errors(&display)[0].contains("unplugged"));
    assert!(results(&display)[0].0 == direct(&frontend, &pipeline, &good, 0));
    // Time moved on by the error hold before the microphone was tried again.
    assert!(clock.now() > secs(1.5 + 4.0));
}

#[test]
fn kiosk_refuses_a_recording_that_never_ends_and_listens_again() {
    let (frontend, pipeline) = load();
    let clock = ManualClock::new();
    let words = speech(&frontend, SAMPLES[6]);
    // A loud crowd: speech-level sound for 12 s, then quiet, then a visitor.
    let crowd = concat(&[&words, &words, &words, &words, &room(1.0, 15)]);
    let visitor = concat(&[&room(0.5, 16), &words, &room(1.5, 17)]);
    let mut source = ScriptedSource::new(
        RATE,
        vec![Take::new(crowd), Take::new(visitor)],
        Arc::new(clock.clone()),
    );
    let mut display = RecordingDisplay::new(640, 480);
    let summary = run_kiosk(
        &pipeline,
        &frontend,
        &mut display,
        &clock,
        &mut source,
        &kiosk_settings(),
    );
    // The visitor speaks while the error is still up: listening starts at once.
    assert_eq!(
        display.path(),
        [
            "attract",
            "listening",
            "error",
            "listening",
            "working",
            "result"
        ]
    );
    assert!(errors(&display)[0].contains("8 s limit"));
    assert_eq!((summary.pictures, summary.errors), (1, 1));
}
