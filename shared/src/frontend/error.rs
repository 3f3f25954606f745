//! One error type for everything that can be wrong with an input, always naming the input.

use std::fmt;

/// An input the front end refuses, with the file (or other source) it came from.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct FrontendError {
    pub source_name: String,
    pub problem: Problem,
}

/// What is wrong with the input.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("the file is empty")]
    Empty,
    /// A FIFO, a device, a directory: refused by its kind before anything is read.
    #[error("{0}, not a regular file")]
    NotRegular(&'static str),
    #[error("not a RIFF/WAVE file ({0})")]
    NotWav(String),
    #[error("unsupported wav encoding: {0}; use 8/16/24/32-bit PCM or 32-bit float")]
    UnsupportedEncoding(String),
    #[error("the wav header declares zero channels")]
    ZeroChannels,
    #[error("the wav header declares {channels} channels; at most {limit} are read")]
    TooManyChannels { channels: u16, limit: u16 },
    #[error("truncated data chunk: the header declares {declared} samples but only {read} could be read")]
    Truncated { declared: u64, read: u64 },
    #[error("sample {index} is not a finite number")]
    NonFiniteSample { index: u64 },
    #[error("sample rate {rate} Hz is not supported; supported rates: {supported}")]
    UnsupportedRate {
        rate: u32,
        supported: SupportedRates,
    },
    #[error("the audio lasts {actual_ms} ms, longer than the {limit_ms} ms limit")]
    TooLong { actual_ms: u64, limit_ms: u32 },
    #[error("the audio holds no samples")]
    NoSamples,
    #[error("no speech found: every 10 ms block is below {min_rms} RMS (of 32767)")]
    NoSpeech { min_rms: u32 },
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Displays the supported-rate list in error messages.
#[derive(Debug, Clone, Copy)]
pub struct SupportedRates;

impl fmt::Display for SupportedRates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rates: Vec<String> = super::config::SUPPORTED_INPUT_RATES
            .iter()
            .map(|r| r.to_string())
            .collect();
        write!(f, "{} Hz", rates.join(", "))
    }
}

impl FrontendError {
    pub fn new(source_name: impl Into<String>, problem: Problem) -> Self {
        Self {
            source_name: source_name.into(),
            problem,
        }
    }
}
