//! Sound in: a [`Source`] delivers 16-bit mono chunks at the front end's rate, from a
//! microphone (feature `microphone`), wav files, or a script in tests. [`LevelMeter`] turns the
//! newest samples into the Listening screen's level, [`SpeechDetector`] finds where speech
//! starts and ends with the front end's own energy rule, and [`StreamResampler`] gives a live
//! stream the very samples the shared resampler gives a whole file.

pub mod endpoint;
pub mod level;
#[cfg(feature = "microphone")]
pub mod microphone;
pub mod scripted;
pub mod stream_resample;
pub mod wav_source;

pub use endpoint::{SpeechDetector, SpeechEvent};
pub use level::LevelMeter;
#[cfg(feature = "microphone")]
pub use microphone::MicrophoneSource;
pub use scripted::{ScriptedSource, Take};
pub use stream_resample::StreamResampler;
pub use wav_source::WavSource;

use s2i_shared::frontend::FrontendError;

/// Why audio could not be had. Each names the device or file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("no audio input found{}", list_inputs(.available))]
    NoInput { available: Vec<String> },
    #[error("no audio input's name contains \"{wanted}\"{}", list_inputs(.available))]
    NoMatchingInput {
        wanted: String,
        available: Vec<String>,
    },
    #[error("{device}: {message}")]
    Device { device: String, message: String },
    /// The stream broke while recording: unplugged, or the driver gave up.
    #[error("{device} stopped during the recording ({message}); is the microphone unplugged?")]
    Lost { device: String, message: String },
    #[error(transparent)]
    Wav(#[from] FrontendError),
    /// A finite source (a script, a wav list played once) has nothing more: not a fault, the
    /// app stops when it sees this.
    #[error("{0}: nothing more to play")]
    Exhausted(String),
}

fn list_inputs(available: &[String]) -> String {
    if available.is_empty() {
        " (this machine has no audio inputs; is a microphone plugged in?)".into()
    } else {
        format!("; inputs present: {}", available.join(", "))
    }
}

/// A place sound comes from. Between [`Source::start`] and [`Source::stop`] is one *take*
/// (one recording); [`Source::read`] returns its samples in order, a few tens of milliseconds at
/// a time, waiting for them when they come from a live device.
pub trait Source {
    /// The device or file, for messages.
    fn name(&self) -> &str;
    /// Rate of every chunk [`Source::read`] returns.
    fn sample_rate(&self) -> u32;
    /// Begins a take. [`AudioError::Exhausted`] when a finite source has no take left.
    fn start(&mut self) -> Result<(), AudioError>;
    /// The next chunk of the take; `Ok(None)` once the take has ended (a file played to its
    /// end; a microphone never ends). An error here is a failure in the middle of a recording.
    fn read(&mut self) -> Result<Option<Vec<i16>>, AudioError>;
    /// Ends the take and releases the device; samples not yet read are dropped.
    fn stop(&mut self);
}

/// Milliseconds of `samples` at `rate`.
pub fn duration_ms(samples: usize, rate: u32) -> u64 {
    samples as u64 * 1000 / rate.max(1) as u64
}
