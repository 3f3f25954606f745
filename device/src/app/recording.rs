//! An in-memory [`Display`] that records what the app showed, as owned summaries: the target
//! of tests, and a way to watch a run without a panel.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::display::{Display, DisplayError, Screen};

/// One screen as shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    Attract {
        prompt: String,
    },
    Listening {
        level: f32,
        elapsed: Duration,
        limit: Duration,
    },
    Working {
        done: usize,
        total: usize,
        /// Side of the preview picture, when there is one.
        preview: Option<u32>,
    },
    Result {
        side: u32,
        rgb: Vec<u8>,
        caption: String,
    },
    Error {
        message: String,
    },
}

impl Shown {
    pub fn from_screen(screen: &Screen<'_>) -> Self {
        match *screen {
            Screen::Attract { prompt } => Shown::Attract {
                prompt: prompt.into(),
            },
            Screen::Listening {
                level,
                elapsed,
                limit,
            } => Shown::Listening {
                level,
                elapsed,
                limit,
            },
            Screen::Working {
                done,
                total,
                preview,
            } => Shown::Working {
                done,
                total,
                preview: preview.map(|p| p.side),
            },
            Screen::Result { image, caption } => Shown::Result {
                side: image.side,
                rgb: image.rgb.clone(),
                caption: caption.into(),
            },
            Screen::Error { message } => Shown::Error {
                message: message.into(),
            },
        }
    }

    /// The screen's kind: "attract", "listening", "working", "result", "error".
    pub fn kind(&self) -> &'static str {
        match self {
            Shown::Attract { .. } => "attract",
            Shown::Listening { .. } => "listening",
            Shown::Working { .. } => "working",
            Shown::Result { .. } => "result",
            Shown::Error { .. } => "error",
        }
    }
}

type Hook = Box<dyn FnMut(&Shown)>;

/// Records every screen (or the newest `keep`), with the clock time it was shown.
pub struct RecordingDisplay {
    size: (u32, u32),
    clock: Option<Arc<dyn Clock>>,
    keep: usize,
    shown: VecDeque<(Duration, Shown)>,
    total: usize,
    hook: Option<Hook>,
}

impl RecordingDisplay {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            size: (width, height),
            clock: None,
            keep: usize::MAX,
            shown: VecDeque::new(),
            total: 0,
            hook: None,
        }
    }

    /// Stamps each screen with `clock`'s time (zero otherwise).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keeps only the newest `keep` screens (a soak run shows tens of thousands).
    pub fn keeping(mut self, keep: usize) -> Self {
        self.keep = keep.max(1);
        self
    }

    /// Calls `hook` with every screen as it is shown.
    pub fn with_hook(mut self, hook: impl FnMut(&Shown) + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    pub fn shown(&self) -> impl Iterator<Item = &Shown> {
        self.shown.iter().map(|(_, s)| s)
    }

    pub fn timed(&self) -> impl Iterator<Item = &(Duration, Shown)> {
        self.shown.iter()
    }

    /// Screens shown in all, including those no longer kept.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The kinds in order, with consecutive repeats merged: the path through the states.
    pub fn path(&self) -> Vec<&'static str> {
        let mut path: Vec<&'static str> = Vec::new();
        for s in self.shown() {
            if path.last() != Some(&s.kind()) {
                path.push(s.kind());
            }
        }
        path
    }

    pub fn clear(&mut self) {
        self.shown.clear();
    }
}

impl Display for RecordingDisplay {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), DisplayError> {
        let shown = Shown::from_screen(screen);
        if let Some(hook) = &mut self.hook {
            hook(&shown);
        }
        let at = self.clock.as_ref().map_or(Duration::ZERO, |c| c.now());
        if self.shown.len() == self.keep {
            self.shown.pop_front();
        }
        self.shown.push_back((at, shown));
        self.total += 1;
        Ok(())
    }
}
