//! Kiosk mode: always listening. The front end's energy rule decides where speech starts and
//! ends ([`SpeechDetector`]); the picture stays `hold_seconds`, then the attract screen
//! returns. Speech during the hold (or during an error) starts the next recording at once.
//!
//! The microphone is stopped while a picture is drawn, so a visitor's reaction to the screen
//! is not queued up as the next description.

use std::collections::VecDeque;
use std::time::Duration;

use super::config::KioskConfig;
use super::session::{Problem, Recording, Session, Summary};
use crate::audio::{AudioError, Source, SpeechDetector, SpeechEvent};

/// Audio kept from before the detected start of speech (the detector needs 50 ms of speech
/// to be sure, and soft onsets begin below its threshold).
pub const PREROLL: Duration = Duration::from_millis(300);

enum Heard {
    /// Speech ended (or the take did): the recording.
    Speech(Recording),
    /// The take ended with no speech: start the next one.
    Nothing,
    Failed(Problem),
}

/// Runs until the source has nothing more to play (a live microphone never ends).
pub fn run(session: &mut Session<'_>, source: &mut dyn Source, kiosk: &KioskConfig) -> Summary {
    let rate = source.sample_rate();
    let mut detector = SpeechDetector::new(session.frontend.energy_rule(), rate, kiosk.silence_ms);
    let hold = Duration::from_secs_f64(kiosk.hold_seconds);
    // The Result or Error screen stays until then.
    let mut hold_until: Option<Duration> = None;
    session.attract();
    loop {
        match source.start() {
            Ok(()) => {}
            Err(AudioError::Exhausted(_)) => return session.summary().clone(),
            Err(e) => {
                broken_source(session, e);
                hold_until = None;
                continue;
            }
        }
        detector.reset();
        let heard = listen(session, source, &mut detector, &mut hold_until);
        source.stop();
        let outcome = match heard {
            Heard::Nothing => continue,
            Heard::Failed(Problem::Audio(e)) => {
                broken_source(session, e);
                hold_until = None;
                continue;
            }
            Heard::Failed(problem) => Err(problem),
            Heard::Speech(recording) => {
                let name = source.name().to_string();
                session
                    .features(recording, &name)
                    .and_then(|f| session.draw(&f, &name, session.settings.seed))
            }
        };
        hold_until = Some(
            session.now()
                + match outcome {
                    Ok(()) => hold,
                    Err(problem) => {
                        session.error(&problem);
                        session.settings.error_hold
                    }
                },
        );
    }
}

/// A microphone that fails: say so, wait (a missing device would otherwise be retried in a
/// tight loop), then try again from the attract screen.
fn broken_source(session: &mut Session<'_>, error: AudioError) {
    session.error(&Problem::Audio(error));
    session.clock.sleep(session.settings.error_hold);
    session.attract();
}

/// Waits for speech (ending a held screen when its time is up), then records it to its end.
fn listen(
    session: &mut Session<'_>,
    source: &mut dyn Source,
    detector: &mut SpeechDetector,
    hold_until: &mut Option<Duration>,
) -> Heard {
    let rate = source.sample_rate();
    let preroll_len = (PREROLL.as_secs_f64() * rate as f64) as usize;
    // The newest samples and the count pushed before them, to cut the pre-roll at the start.
    let mut recent: VecDeque<i16> = VecDeque::new();
    let mut pushed = 0usize;
    let mut recording: Option<Recording> = None;
    loop {
        if hold_until.is_some_and(|t| session.now() >= t) {
            *hold_until = None;
            session.attract();
        }
        let chunk = match source.read() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                return match recording {
                    Some(r) => Heard::Speech(r),
                    None => Heard::Nothing,
                }
            }
            Err(e) => return Heard::Failed(e.into()),
        };
        let events = detector.push(&chunk);
        match &mut recording {
            None => {
                recent.extend(&chunk);
                pushed += chunk.len();
                let excess = recent.len().saturating_sub(preroll_len + chunk.len());
                recent.drain(..excess);
                let Some(at) = events.iter().find_map(|e| match e {
                    SpeechEvent::Started { at } => Some(*at),
                    SpeechEvent::Ended { .. } => None,
                }) else {
                    continue;
                };
                let first = pushed - recent.len();
                let keep_from = at.saturating_sub(preroll_len).max(first) - first;
                let mut r = Recording::new(rate, session.settings.max_recording, session.now());
                let (a, b) = recent.as_slices();
                let kept: Vec<i16> = a.iter().chain(b).skip(keep_from).copied().collect();
                if let Err(problem) = r.push(&kept) {
                    return Heard::Failed(problem);
                }
                *hold_until = None;
                session.listening(&mut r);
                recording = Some(r);
            }
            Some(r) => {
                if let Err(problem) = r.push(&chunk) {
                    return Heard::Failed(problem);
                }
                session.listening(r);
                if events
                    .iter()
                    .any(|e| matches!(e, SpeechEvent::Ended { .. }))
                {
                    return Heard::Speech(recording.take().expect("recording"));
                }
            }
        }
    }
}
