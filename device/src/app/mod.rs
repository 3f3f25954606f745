//! The board's two modes as one state machine: Attract → Listening → Working → Result → back,
//! with an Error screen (then back to ready) for anything that goes wrong with one attempt. A
//! failure never ends the program: the screen and the log say what happened and the next
//! attempt starts clean. Only the input ending (a script played out, stdin closed) or a broken
//! push-to-talk button ends a run.
//!
//! - [`handheld`]: hold the button to talk, release to draw; a short press without speech
//!   redraws the last speech with the next seed.
//! - [`kiosk`]: always listening; the front end's energy rule finds the end of speech; the
//!   picture stays `hold_seconds`, then the attract screen returns.
//!
//! A recording longer than `max_seconds` is refused with an error rather than cut short: the
//! end of a description usually carries the words that matter (the wing colour), so a picture
//! of its first eight seconds would be a confidently wrong answer.

pub mod build;
pub mod config;
pub mod devices;
pub mod handheld;
pub mod kiosk;
pub mod probe;
pub mod recording;
pub mod session;

pub use config::{Config, ConfigError, Mode};
pub use recording::{RecordingDisplay, Shown};
pub use session::{Problem, Session, Settings, State, Summary};
