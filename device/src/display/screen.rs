//! What the board shows, independent of the panel: the app decides which screen, a `Display`
//! decides how its pixels reach the glass.

use std::time::Duration;

use crate::infer::StageImage;

/// One screen of the user interface.
#[derive(Debug, Clone, Copy)]
pub enum Screen<'a> {
    /// Waiting for a person: the prompt ("Hold the button and describe a bird").
    Attract { prompt: &'a str },
    /// Recording: input level in [0, 1] and time used against the recording limit.
    Listening {
        level: f32,
        elapsed: Duration,
        limit: Duration,
    },
    /// Generating: `done` of `total` steps finished (encoder, then each stage), with the newest
    /// stage picture as a preview once one exists.
    Working {
        done: usize,
        total: usize,
        preview: Option<&'a StageImage>,
    },
    /// The picture, scaled to fit with its aspect kept, and a one-line caption (seed, timing).
    Result {
        image: &'a StageImage,
        caption: &'a str,
    },
    /// Something went wrong; the device stays usable and says what happened.
    Error { message: &'a str },
}
