//! The Enter key as push-to-talk on a desktop: each line on stdin toggles, so Enter starts
//! speaking and Enter again stops. A terminal delivers a line only on Enter, so no raw mode.

use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::{Button, ButtonEvent, InputError};

pub struct EnterKey {
    lines: Receiver<()>,
    pressed: bool,
}

impl EnterKey {
    /// Reads stdin on a thread of its own (a blocking read cannot time out).
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                if line.is_err() || tx.send(()).is_err() {
                    break;
                }
            }
        });
        Self {
            lines: rx,
            pressed: false,
        }
    }
}

impl Default for EnterKey {
    fn default() -> Self {
        Self::new()
    }
}

impl Button for EnterKey {
    fn poll(&mut self, timeout: Duration) -> Result<Option<ButtonEvent>, InputError> {
        match self.lines.recv_timeout(timeout) {
            Ok(()) => {
                self.pressed = !self.pressed;
                Ok(Some(if self.pressed {
                    ButtonEvent::Pressed
                } else {
                    ButtonEvent::Released
                }))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(InputError::Closed("stdin".into())),
        }
    }
}
