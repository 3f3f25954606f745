//! Handheld mode: hold the button and speak, release to draw. A press shorter than [`TAP`], or
//! one that heard no speech, redraws the last speech with the next seed (seed + 1, + 2, ...),
//! since the same words give another bird with another seed.
//!
//! The microphone runs only while the button is held. The result stays until the next press;
//! an error stays `error_hold`, then the attract screen returns.

use std::time::Duration;

use s2i_shared::frontend::Features;

use super::session::{Problem, Recording, Session, Summary};
use crate::audio::{AudioError, Source};
use crate::input::{Button, ButtonEvent, InputError};

/// A press shorter than this is a tap: "another picture of the same words".
pub const TAP: Duration = Duration::from_millis(400);

/// How long the ready loop waits on the button before looking at its timers again.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// The last speech drawn, for redraws.
struct Utterance {
    features: Features,
    source: String,
    seed: u64,
}

/// How a press ended.
enum Heard {
    /// Released: the recording and how long the button was held.
    Recording(Recording, Duration),
    Failed(Problem),
    /// The button or the source has nothing more: the run ends.
    End,
}

/// Runs until the button closes or the source has nothing more to play. A button that fails
/// (not one that closes) is shown, then returned: without it the handheld cannot be used, and
/// a service manager can restart the program.
pub fn run(
    session: &mut Session<'_>,
    source: &mut dyn Source,
    button: &mut dyn Button,
) -> Result<Summary, InputError> {
    let mut last: Option<Utterance> = None;
    let mut error_until: Option<Duration> = None;
    session.attract();
    loop {
        let event = match button.poll(IDLE_POLL) {
            Ok(e) => e,
            Err(InputError::Closed(_)) => return Ok(session.summary().clone()),
            Err(e) => {
                session.error(&Problem::Button(e.to_string()));
                return Err(e);
            }
        };
        if error_until.is_some_and(|t| session.now() >= t) {
            error_until = None;
            session.attract();
        }
        if event != Some(ButtonEvent::Pressed) {
            continue;
        }
        let outcome = match listen(session, source, button) {
            Heard::End => return Ok(session.summary().clone()),
            Heard::Failed(problem) => Err(problem),
            Heard::Recording(recording, held) => {
                respond(session, recording, held, source.name(), &mut last)
            }
        };
        error_until = None;
        if let Err(problem) = outcome {
            session.error(&problem);
            error_until = Some(session.now() + session.settings.error_hold);
        }
    }
}

/// Records from the press to the release.
fn listen(session: &mut Session<'_>, source: &mut dyn Source, button: &mut dyn Button) -> Heard {
    let pressed_at = session.now();
    match source.start() {
        Ok(()) => {}
        Err(AudioError::Exhausted(_)) => return Heard::End,
        Err(e) => return Heard::Failed(e.into()),
    }
    let mut recording = Recording::new(
        source.sample_rate(),
        session.settings.max_recording,
        pressed_at,
    );
    session.listening(&mut recording);
    // Set when the take has ended (a wav file played out) before the release.
    let mut take_over = false;
    let fail = |source: &mut dyn Source, problem: Problem| {
        source.stop();
        Heard::Failed(problem)
    };
    loop {
        let wait = if take_over { IDLE_POLL } else { Duration::ZERO };
        match button.poll(wait) {
            Ok(Some(ButtonEvent::Released)) => break,
            Ok(_) => {}
            Err(InputError::Closed(_)) => {
                source.stop();
                return Heard::End;
            }
            Err(e) => return fail(source, e.into()),
        }
        if take_over {
            continue;
        }
        match source.read() {
            Ok(Some(chunk)) => {
                if let Err(problem) = recording.push(&chunk) {
                    return fail(source, problem);
                }
                session.listening(&mut recording);
            }
            Ok(None) => take_over = true,
            Err(e) => return fail(source, e.into()),
        }
    }
    source.stop();
    let held = session.now().saturating_sub(pressed_at);
    Heard::Recording(recording, held)
}

/// Draws new speech, or redraws the last speech after a tap.
fn respond(
    session: &mut Session<'_>,
    recording: Recording,
    held: Duration,
    source: &str,
    last: &mut Option<Utterance>,
) -> Result<(), Problem> {
    let features = if held < TAP {
        None
    } else {
        match session.features(recording, source) {
            Ok(f) => Some(f),
            Err(Problem::NoSpeech(_)) if last.is_some() => None,
            Err(e) => return Err(e),
        }
    };
    match (features, last.as_mut()) {
        (Some(features), _) => {
            let seed = session.settings.seed;
            let source = source.to_string();
            // Replaced before drawing: a tap after a failed drawing retries these words.
            *last = Some(Utterance {
                features,
                source,
                seed,
            });
            let u = last.as_ref().expect("just set");
            session.draw(&u.features, &u.source, seed)
        }
        (None, Some(u)) => {
            u.seed = u
                .seed
                .checked_add(1)
                .ok_or(Problem::NoNextSeed { last: u.seed })?;
            log::info!("tap: the same words again with seed {}", u.seed);
            session.draw(&u.features, &u.source, u.seed)
        }
        (None, None) => Err(Problem::NoSpeech(
            "Hold the button while you describe the bird.",
        )),
    }
}
