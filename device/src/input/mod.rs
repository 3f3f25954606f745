//! Push-to-talk: a [`Button`] reports presses and releases. A GPIO line on the board
//! ([`gpio::GpioButton`], Linux), the Enter key on a desktop ([`EnterKey`]), or a script in
//! tests ([`ScriptedButton`]). Raw edges from a mechanical switch bounce; [`Debouncer`] turns
//! them into clean events.

pub mod debounce;
pub mod enter;
#[cfg(target_os = "linux")]
pub mod gpio;
pub mod scripted;

use std::time::Duration;

pub use debounce::Debouncer;
pub use enter::EnterKey;
pub use scripted::{Edge, ScriptedButton};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonEvent {
    Pressed,
    Released,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input has ended for good (stdin closed, a script played out): the app stops.
    #[error("{0}: closed")]
    Closed(String),
    #[error("no GPIO chip labelled \"{label}\"; {}", present_chips(.present))]
    NoChip {
        label: String,
        /// Every chip found, described (label and lines, or why it cannot be opened).
        present: Vec<String>,
    },
    #[error("{device}: {message}")]
    Device { device: String, message: String },
}

fn present_chips(present: &[String]) -> String {
    if present.is_empty() {
        "this machine has no GPIO chips (/dev/gpiochip*)".into()
    } else {
        format!("chips present: {}", present.join("; "))
    }
}

/// A push-to-talk button.
pub trait Button {
    /// The next press or release, waiting at most `timeout` for one; `Ok(None)` when none came.
    /// A zero timeout only reports what has already happened.
    fn poll(&mut self, timeout: Duration) -> Result<Option<ButtonEvent>, InputError>;
}
