//! The front end's parameters. Every bundle records them with a hash of the tables they produce,
//! and the board refuses a bundle whose front end differs from its own.

use serde::{Deserialize, Serialize};

/// Sample rates the resampler converts to [`FrontendConfig::sample_rate`].
pub const SUPPORTED_INPUT_RATES: [u32; 7] = [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000];

/// Parameters of the integer log-mel front end. [`Default`] is the product's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendConfig {
    /// Rate every input is resampled to, Hz.
    pub sample_rate: u32,
    /// Analysis window (periodic Hann), samples: 25 ms at 16 kHz.
    pub win_length: usize,
    /// Hop between frames, samples: 10 ms at 16 kHz.
    pub hop_length: usize,
    /// FFT size; the window is zero-padded to it.
    pub n_fft: usize,
    /// Slaney-scale mel bands with Slaney area normalisation.
    pub n_mels: usize,
    pub f_min_hz: u32,
    pub f_max_hz: u32,
    /// Mel power floor as a power of two (power of a [-1, 1] signal): ln(max(mel, 2^floor)).
    /// 2^-20 ≈ 1e-6 is the floor the paper used.
    pub log_floor_log2: i32,
    /// Blackman-windowed sinc resampler: zero crossings of the lower rate's sinc on each side.
    pub resampler_zero_crossings: u32,
    /// Resampler cut-off as thousandths of the lower rate's Nyquist frequency.
    pub resampler_cutoff_permille: u32,
    /// Silence trimming at both ends.
    pub trim: TrimConfig,
    /// Longest accepted input, milliseconds, before trimming.
    pub max_duration_ms: u32,
    /// Per-utterance mean and variance normalisation of each band.
    pub cmvn: bool,
}

/// The energy rule that separates speech from silence, on 10 ms blocks of 16 kHz audio.
///
/// A block is speech when its mean square is at least `min_speech_rms`² **and** at most
/// `max_peak_ratio` times below the loudest block of the utterance. Defaults: RMS 104 of 32767
/// (−50 dBFS, above a quiet room on a cheap microphone) and a ratio of 10 000 (40 dB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrimConfig {
    pub enabled: bool,
    pub block_length: usize,
    pub min_speech_rms: u32,
    pub max_peak_ratio: u64,
    /// Blocks of context kept before the first and after the last speech block.
    pub margin_blocks: usize,
}

impl Default for TrimConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            block_length: 160,
            min_speech_rms: 104,
            max_peak_ratio: 10_000,
            margin_blocks: 10,
        }
    }
}

impl Default for FrontendConfig {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            win_length: 400,
            hop_length: 160,
            n_fft: 512,
            n_mels: 40,
            f_min_hz: 0,
            f_max_hz: 8_000,
            log_floor_log2: -20,
            resampler_zero_crossings: 32,
            resampler_cutoff_permille: 940,
            trim: TrimConfig::default(),
            max_duration_ms: 20_000,
            cmvn: true,
        }
    }
}

/// Why a configuration cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid front-end configuration: {0}")]
pub struct ConfigError(pub String);

impl FrontendConfig {
    /// Checks the limits the fixed-point arithmetic was proven for.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError(m));
        if self.n_fft != 512 {
            return fail(format!(
                "n_fft must be 512 (the integer FFT's size), got {}",
                self.n_fft
            ));
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return fail(format!(
                "win_length {} must be in 1..={}",
                self.win_length, self.n_fft
            ));
        }
        if self.hop_length == 0 || self.hop_length > self.win_length {
            return fail(format!(
                "hop_length {} must be in 1..=win_length",
                self.hop_length
            ));
        }
        if !SUPPORTED_INPUT_RATES.contains(&self.sample_rate) {
            return fail(format!(
                "sample_rate {} is not one of {SUPPORTED_INPUT_RATES:?}",
                self.sample_rate
            ));
        }
        if self.f_min_hz >= self.f_max_hz || self.f_max_hz > self.sample_rate / 2 {
            return fail(format!(
                "mel range {}..{} Hz must be increasing and end at or below Nyquist ({} Hz)",
                self.f_min_hz,
                self.f_max_hz,
                self.sample_rate / 2
            ));
        }
        if self.n_mels == 0 || self.n_mels > 128 {
            return fail(format!("n_mels {} must be in 1..=128", self.n_mels));
        }
        if !(-60..=0).contains(&self.log_floor_log2) {
            return fail(format!(
                "log_floor_log2 {} must be in -60..=0",
                self.log_floor_log2
            ));
        }
        if !(4..=64).contains(&self.resampler_zero_crossings) {
            return fail(format!(
                "resampler_zero_crossings {} must be in 4..=64",
                self.resampler_zero_crossings
            ));
        }
        if !(500..=1000).contains(&self.resampler_cutoff_permille) {
            return fail(format!(
                "resampler_cutoff_permille {} must be in 500..=1000",
                self.resampler_cutoff_permille
            ));
        }
        if self.trim.block_length == 0 || self.trim.max_peak_ratio == 0 {
            return fail("trim block_length and max_peak_ratio must be positive".into());
        }
        if self.max_duration_ms == 0 || self.max_duration_ms > 600_000 {
            return fail(format!(
                "max_duration_ms {} must be in 1..=600000",
                self.max_duration_ms
            ));
        }
        Ok(())
    }

    /// Longest accepted input in samples at `rate`.
    pub fn max_samples_at(&self, rate: u32) -> u64 {
        self.max_duration_ms as u64 * rate as u64 / 1000
    }
}
