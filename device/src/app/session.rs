//! What both modes share: the screen (with the state it implies), the recording in progress,
//! drawing a picture with per-stage progress, and the errors shown to a person.

use std::sync::Arc;
use std::time::Duration;

use s2i_shared::frontend::{Audio, Features, Frontend, FrontendError, Problem as InputProblem};

use crate::audio::{AudioError, LevelMeter};
use crate::clock::Clock;
use crate::display::{Display, Screen};
use crate::infer::{InferError, Pipeline, StageImage};
use crate::input::InputError;

/// Where the state machine is; each state has its screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Attract,
    Listening,
    Working,
    Result,
    Error,
}

/// Why one attempt failed, worded for the person in front of the screen.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Audio(#[from] AudioError),
    #[error("No speech heard. {0}")]
    NoSpeech(&'static str),
    #[error(
        "The recording passed the {limit_s} s limit. Please describe the bird in a few words."
    )]
    TooLong { limit_s: f64 },
    /// A recording or wav file the front end refuses (not the no-speech case).
    #[error("{0}")]
    Input(FrontendError),
    #[error("{0}")]
    Infer(#[from] InferError),
    #[error("push-to-talk: {0}")]
    Button(String),
    /// A redraw after the largest seed: wrapping to 0 would repeat the first picture unasked.
    #[error("Seed {last} was the last one for these words. Describe the bird again.")]
    NoNextSeed { last: u64 },
}

impl From<InputError> for Problem {
    fn from(e: InputError) -> Self {
        Problem::Button(e.to_string())
    }
}

impl From<FrontendError> for Problem {
    fn from(e: FrontendError) -> Self {
        match e.problem {
            InputProblem::NoSpeech { .. } => Problem::NoSpeech("Speak close to the microphone."),
            _ => Problem::Input(e),
        }
    }
}

/// Behaviour shared by the modes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seed of the first picture for new speech.
    pub seed: u64,
    /// Stop after this generator stage (`None`: all).
    pub last_stage: Option<usize>,
    /// Longest recording; longer ones are refused.
    pub max_recording: Duration,
    /// How long an error stays before the ready screen returns.
    pub error_hold: Duration,
    /// Shortest interval between two Listening screens (an SPI panel redraw is not free).
    pub listening_refresh: Duration,
    /// The attract screen's line.
    pub prompt: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            seed: 0,
            last_stage: None,
            max_recording: Duration::from_secs(8),
            error_hold: Duration::from_secs(4),
            listening_refresh: Duration::from_millis(100),
            prompt: "Describe a bird".into(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub pictures: usize,
    pub errors: usize,
    pub last_error: Option<String>,
}

/// One run's screen, clock, model and counters.
pub struct Session<'a> {
    pub pipeline: &'a Pipeline,
    pub frontend: &'a Frontend,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    display: &'a mut dyn Display,
    state: State,
    summary: Summary,
}

impl<'a> Session<'a> {
    pub fn new(
        pipeline: &'a Pipeline,
        frontend: &'a Frontend,
        display: &'a mut dyn Display,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            pipeline,
            frontend,
            clock,
            settings,
            display,
            state: State::Attract,
            summary: Summary::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Shows `screen`. A panel that fails to draw is logged, not fatal: the next screen may
    /// well succeed (a loose SPI cable), and there is nowhere else to show the error.
    fn show(&mut self, state: State, screen: Screen<'_>) {
        self.state = state;
        if let Err(e) = self.display.show(&screen) {
            log::error!("display: {e}");
        }
    }

    pub fn attract(&mut self) {
        let prompt = self.settings.prompt.clone();
        self.show(State::Attract, Screen::Attract { prompt: &prompt });
    }

    /// Shows the recording's level and time, at most every `listening_refresh` (always the
    /// first time).
    pub fn listening(&mut self, recording: &mut Recording) {
        let now = self.now();
        if recording
            .last_shown
            .is_some_and(|t| now < t + self.settings.listening_refresh)
        {
            return;
        }
        recording.last_shown = Some(now);
        self.show(
            State::Listening,
            Screen::Listening {
                level: recording.meter.level(),
                elapsed: now.saturating_sub(recording.started),
                limit: self.settings.max_recording,
            },
        );
    }

    /// Logs and shows one attempt's failure.
    pub fn error(&mut self, problem: &Problem) {
        let message = problem.to_string();
        log::error!("{message}");
        self.summary.errors += 1;
        self.show(State::Error, Screen::Error { message: &message });
        self.summary.last_error = Some(message);
    }

    /// Features of a finished recording.
    pub fn features(&self, recording: Recording, source: &str) -> Result<Features, Problem> {
        let audio = Audio {
            sample_rate: recording.rate,
            samples: recording.samples,
        };
        Ok(self.frontend.features_from_audio(&audio, source)?)
    }

    /// Draws the picture for `features`, showing each stage as it is ready, then the result.
    pub fn draw(&mut self, features: &Features, source: &str, seed: u64) -> Result<(), Problem> {
        let stages = self
            .settings
            .last_stage
            .unwrap_or(self.pipeline.stages())
            .min(self.pipeline.stages());
        // Steps: the speech encoder, then each stage (the encoder's end is seen with stage 1).
        let total = stages + 1;
        self.show(
            State::Working,
            Screen::Working {
                done: 0,
                total,
                preview: None,
            },
        );
        let start = self.now();
        let pipeline = self.pipeline;
        let last_stage = self.settings.last_stage;
        let mut images = pipeline.generate(features, source, seed, last_stage, |image| {
            self.show(
                State::Working,
                Screen::Working {
                    done: image.stage + 1,
                    total,
                    preview: Some(image),
                },
            );
        })?;
        let image: StageImage = images.pop().expect("generate returns every stage it ran");
        let took = self.now().saturating_sub(start);
        log::info!(
            "{source}: picture {}² with seed {seed} in {:.0} ms",
            image.side,
            took.as_secs_f64() * 1e3
        );
        let caption = format!("seed {seed} · {:.1} s", took.as_secs_f64());
        self.summary.pictures += 1;
        self.show(
            State::Result,
            Screen::Result {
                image: &image,
                caption: &caption,
            },
        );
        Ok(())
    }
}

/// A recording in progress: its samples, level and limit.
pub struct Recording {
    pub rate: u32,
    pub samples: Vec<i16>,
    pub meter: LevelMeter,
    /// Clock time the recording began (for the Listening screen).
    pub started: Duration,
    last_shown: Option<Duration>,
    limit: usize,
}

impl Recording {
    pub fn new(rate: u32, limit: Duration, started: Duration) -> Self {
        Self {
            rate,
            samples: Vec::new(),
            meter: LevelMeter::new(rate, 50),
            started,
            last_shown: None,
            limit: (limit.as_secs_f64() * rate as f64).round() as usize,
        }
    }

    /// Adds samples; [`Problem::TooLong`] once the recording passes its limit.
    pub fn push(&mut self, samples: &[i16]) -> Result<(), Problem> {
        self.meter.push(samples);
        self.samples.extend_from_slice(samples);
        if self.samples.len() > self.limit {
            return Err(Problem::TooLong {
                limit_s: self.limit as f64 / self.rate as f64,
            });
        }
        Ok(())
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / self.rate as f64)
    }
}
