//! The integer speech front end: wav → 16 kHz → trimmed → 40 Slaney log-mel bands → CMVN.
//!
//! Every step is integer arithmetic with stated widths, so x86_64, aarch64 and armv7 produce the
//! same bits, and the trainer and the board compute identical features. The output is
//! `[n_mels, T]` f32 obtained from Q16 integers by an exact power-of-two scale.
//!
//! ```no_run
//! use s2i_shared::frontend::Frontend;
//! let frontend = Frontend::default();
//! let features = frontend.features_from_wav_file("caption.wav".as_ref())?;
//! println!("{} bands × {} frames, tables {}", features.n_mels, features.frames, frontend.table_hash());
//! # Ok::<(), s2i_shared::frontend::FrontendError>(())
//! ```

pub mod cmvn;
pub mod config;
pub mod error;
pub mod fft;
pub mod fixed;
pub mod logmel;
pub mod mel;
pub mod resample;
pub mod trim;
pub mod wav;

use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub use config::{ConfigError, FrontendConfig, TrimConfig, SUPPORTED_INPUT_RATES};
pub use error::{FrontendError, Problem};
pub use logmel::LogMel;
pub use trim::EnergyRule;
pub use wav::Audio;

use error::SupportedRates;
use fft::RealFft;
use logmel::LogMelExtractor;
use mel::MelFilterbank;
use resample::Resampler;

/// Features of one utterance: `data[band·frames + t]`, f32 values that are exact multiples of 2^-16.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
}

impl Features {
    pub fn get(&self, band: usize, t: usize) -> f32 {
        self.data[band * self.frames + t]
    }

    /// Little-endian f32 bytes, band-major: the golden-file format.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.data.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

/// The front end with its tables built. Cheap to share across threads.
#[derive(Debug)]
pub struct Frontend {
    config: FrontendConfig,
    window: Vec<i64>,
    fft: RealFft,
    mel: MelFilterbank,
    log2: fixed::Log2Table,
    trim: EnergyRule,
    /// One resampler per supported input rate, built on first use.
    resamplers: [OnceLock<Resampler>; SUPPORTED_INPUT_RATES.len()],
    table_hash: OnceLock<String>,
}

impl Default for Frontend {
    fn default() -> Self {
        Self::new(FrontendConfig::default()).expect("the default front-end configuration is valid")
    }
}

impl Frontend {
    pub fn new(config: FrontendConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            window: logmel::hann_q30(config.win_length),
            fft: RealFft::new(),
            mel: MelFilterbank::new(
                config.n_mels,
                config.n_fft,
                config.sample_rate,
                config.f_min_hz,
                config.f_max_hz,
            ),
            log2: fixed::Log2Table::new(),
            trim: EnergyRule::new(&config.trim),
            resamplers: Default::default(),
            table_hash: OnceLock::new(),
            config,
        })
    }

    pub fn config(&self) -> &FrontendConfig {
        &self.config
    }

    pub fn energy_rule(&self) -> &EnergyRule {
        &self.trim
    }

    /// SHA-256 (hex) of the configuration and every table it produces: window, twiddles, mel
    /// weights, the log table and the resampler for each supported rate. Two front ends with the same hash
    /// compute the same features.
    pub fn table_hash(&self) -> &str {
        self.table_hash.get_or_init(|| {
            let mut h = Sha256::new();
            h.update(b"s2i-frontend-tables-v1\n");
            h.update(serde_json::to_vec(&self.config).expect("config serialises"));
            h.update(b"\nwindow\n");
            self.window.iter().for_each(|w| h.update(w.to_le_bytes()));
            h.update(b"\nfft\n");
            self.fft
                .table_words()
                .for_each(|w| h.update(w.to_le_bytes()));
            h.update(b"\nmel\n");
            self.mel
                .table_words()
                .for_each(|w| h.update(w.to_le_bytes()));
            for rate in SUPPORTED_INPUT_RATES {
                h.update(format!("\nresampler {rate}\n").as_bytes());
                let r = self.resampler(rate).expect("supported rate");
                r.coefficients()
                    .iter()
                    .for_each(|c| h.update(c.to_le_bytes()));
            }
            h.finalize().iter().map(|b| format!("{b:02x}")).collect()
        })
    }

    fn resampler(&self, rate: u32) -> Option<&Resampler> {
        let i = SUPPORTED_INPUT_RATES.iter().position(|&r| r == rate)?;
        Some(self.resamplers[i].get_or_init(|| {
            Resampler::new(
                rate,
                self.config.sample_rate,
                self.config.resampler_zero_crossings,
                self.config.resampler_cutoff_permille,
            )
        }))
    }

    /// Reads, resamples, trims, and computes normalised features for a wav file.
    pub fn features_from_wav_file(&self, path: &Path) -> Result<Features, FrontendError> {
        let audio = wav::read_wav_file(path, self.config.max_duration_ms)?;
        self.features_from_audio(&audio, &path.display().to_string())
    }

    /// The same for wav bytes; `name` labels errors.
    pub fn features_from_wav_bytes(
        &self,
        bytes: &[u8],
        name: &str,
    ) -> Result<Features, FrontendError> {
        let audio = wav::read_wav_bytes(bytes, name, self.config.max_duration_ms)?;
        self.features_from_audio(&audio, name)
    }

    /// Resamples mono audio at any supported rate to the front end's rate.
    pub fn resample(&self, audio: &Audio, name: &str) -> Result<Vec<i16>, FrontendError> {
        let resampler = self.resampler(audio.sample_rate).ok_or_else(|| {
            FrontendError::new(
                name,
                Problem::UnsupportedRate {
                    rate: audio.sample_rate,
                    supported: SupportedRates,
                },
            )
        })?;
        Ok(resampler.process(&audio.samples))
    }

    /// The whole pipeline on decoded audio.
    pub fn features_from_audio(
        &self,
        audio: &Audio,
        name: &str,
    ) -> Result<Features, FrontendError> {
        if audio.duration_ms() > self.config.max_duration_ms as u64 {
            return Err(FrontendError::new(
                name,
                Problem::TooLong {
                    actual_ms: audio.duration_ms(),
                    limit_ms: self.config.max_duration_ms,
                },
            ));
        }
        let samples = self.resample(audio, name)?;
        let speech = self.trim.speech_range(&samples).ok_or_else(|| {
            FrontendError::new(
                name,
                Problem::NoSpeech {
                    min_rms: self.config.trim.min_speech_rms,
                },
            )
        })?;
        Ok(self.normalise(self.log_mel(&samples[speech])))
    }

    /// Log-mel in Q16 nats of samples already at the front end's rate, without trimming or CMVN.
    pub fn log_mel(&self, samples: &[i16]) -> LogMel {
        LogMelExtractor {
            window: &self.window,
            hop: self.config.hop_length,
            fft: &self.fft,
            mel: &self.mel,
            log2: &self.log2,
            floor_log2: self.config.log_floor_log2,
        }
        .run(samples)
    }

    /// CMVN (when configured) and the exact conversion to f32.
    pub fn normalise(&self, mut log_mel: LogMel) -> Features {
        if self.config.cmvn {
            cmvn::normalise_rows(&mut log_mel.data, log_mel.frames);
        }
        // |v| < 2^24, so v as f32 is exact, and the power-of-two scale is exact too.
        let scale = 1.0 / 65536.0;
        Features {
            n_mels: log_mel.n_mels,
            frames: log_mel.frames,
            data: log_mel.data.iter().map(|&v| v as f32 * scale).collect(),
        }
    }
}
