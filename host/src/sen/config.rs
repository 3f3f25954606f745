//! One config for both presets: `paper` (spec §2–§4 sizes) and `edge` (a board-sized encoder).
//!
//! **Why `edge` is this size.** The paper's SED costs about 7.0 M multiply-adds per encoder frame
//! (25 frames per second of speech after the two stride-2 convolutions), 95 % of it in the two
//! bidirectional GRU layers, whose cost grows with the square of the hidden width. The issue caps
//! the edge encoder at a quarter of that; hidden 128 per direction gives 0.56 M (8 %), leaving
//! room for a Pi 3's single-core budget and for training on a 2-core CPU within the hour, and its
//! 256-d embedding is plenty for the synthetic sets' dozens of classes. The image encoder is a
//! small CNN on 64² crops (what the edge generator's first stage draws).

use serde::{Deserialize, Serialize};

use super::spec_augment::SpeechAugment;

use crate::train::AdamConfig;

/// The speech encoder's shape (spec §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechEncoderConfig {
    pub n_mels: i64,
    /// Output channels of the two conv1d layers.
    pub conv_channels: [i64; 2],
    pub conv_kernel: i64,
    pub conv_stride: i64,
    /// Hidden units per direction; the embedding is twice this.
    pub gru_hidden: i64,
    pub gru_layers: usize,
    pub attention_hidden: i64,
}

impl SpeechEncoderConfig {
    pub fn embedding_dim(&self) -> i64 {
        2 * self.gru_hidden
    }

    /// Input frames the shortest utterance needs for one encoder frame.
    pub fn min_frames(&self) -> i64 {
        let (k, s) = (self.conv_kernel, self.conv_stride);
        // Invert L' = ⌊(L − k)/s⌋ + 1 twice for L'' = 1.
        (k - 1) * s + k
    }

    /// Valid frames after the two convolutions (0 when too short).
    pub fn encoded_frames(&self, frames: i64) -> i64 {
        let conv = |l: i64| {
            if l < self.conv_kernel {
                0
            } else {
                (l - self.conv_kernel) / self.conv_stride + 1
            }
        };
        conv(conv(frames))
    }

    /// Multiply-adds per second of speech (100 input frames), inference, batch 1.
    pub fn macs_per_second(&self) -> f64 {
        let [c1, c2] = self.conv_channels;
        let f1 = 100.0 / self.conv_stride as f64;
        let f2 = f1 / self.conv_stride as f64;
        let conv = f1 * (self.n_mels * c1 * self.conv_kernel) as f64
            + f2 * (c1 * c2 * self.conv_kernel) as f64;
        let h = self.gru_hidden;
        let mut gru = 0i64;
        let mut input = c2;
        for _ in 0..self.gru_layers {
            gru += 2 * 3 * (input * h + h * h);
            input = 2 * h;
        }
        let d = self.embedding_dim();
        let attention = 2 * d * self.attention_hidden;
        conv + f2 * (gru + attention) as f64
    }
}

/// The jointly trained image encoder (design decision 7), used when no Inception weights are given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEncoderConfig {
    /// Square input side; other sizes are resampled to it.
    pub input_size: i64,
    /// Channels of each stride-2 block.
    pub channels: Vec<i64>,
}

/// Losses and their switches (spec §4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Sharpness of the in-batch softmax (γ3 in the paper's code).
    pub gamma: f64,
    /// The class ("distinctive") loss L_d; off for the ablation.
    pub distinctive: bool,
}

/// Optimisation (spec §4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    pub adam: AdamConfig,
    /// lr = base · decay^⌊epoch / decay_every⌋, epochs counted from 1.
    pub lr_decay: f64,
    pub lr_decay_every: u64,
    pub batch_size: usize,
    pub epochs: u64,
    /// Validate (and maybe keep a new best) every this many epochs, and after the last.
    pub validate_every: u64,
    pub seed: u64,
}

impl ScheduleConfig {
    pub fn lr_at(&self, epoch: u64) -> f64 {
        self.adam.lr
            * self
                .lr_decay
                .powi((epoch / self.lr_decay_every.max(1)) as i32)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SenConfig {
    pub preset: String,
    pub speech: SpeechEncoderConfig,
    pub image: ImageEncoderConfig,
    pub loss: LossConfig,
    pub schedule: ScheduleConfig,
    /// Feature augmentation in training (off in the presets that reproduce earlier runs).
    #[serde(default = "SpeechAugment::off")]
    pub augment: SpeechAugment,
}

impl SenConfig {
    /// The paper's sizes: BiGRU 2×512, 1024-d embedding, batch 128, 151 epochs.
    pub fn paper() -> Self {
        Self {
            preset: "paper".into(),
            speech: SpeechEncoderConfig {
                n_mels: 40,
                conv_channels: [64, 128],
                conv_kernel: 6,
                conv_stride: 2,
                gru_hidden: 512,
                gru_layers: 2,
                attention_hidden: 128,
            },
            image: ImageEncoderConfig {
                input_size: 256,
                channels: vec![32, 64, 128, 256, 512, 1024],
            },
            loss: LossConfig {
                gamma: 10.0,
                distinctive: true,
            },
            schedule: ScheduleConfig {
                adam: AdamConfig::new(1e-3, 0.95, 0.999, 1e-3),
                lr_decay: 0.1,
                lr_decay_every: 50,
                batch_size: 128,
                epochs: 151,
                validate_every: 5,
                seed: 200,
            },
            augment: SpeechAugment::off(),
        }
    }

    /// Board-sized: BiGRU 2×128, 256-d embedding, 64² image crops (see the module notes).
    pub fn edge() -> Self {
        let paper = Self::paper();
        Self {
            preset: "edge".into(),
            speech: SpeechEncoderConfig {
                gru_hidden: 128,
                attention_hidden: 64,
                ..paper.speech
            },
            image: ImageEncoderConfig {
                input_size: 64,
                channels: vec![32, 64, 128, 256],
            },
            loss: paper.loss,
            schedule: ScheduleConfig {
                // 70 epochs of 22 steps take about 25 minutes on one core of a 2-core x86
                // (about 20 s an epoch), inside the hour's budget even on a shared machine;
                // the decay leaves the last 20 epochs at a tenth of the rate.
                batch_size: 64,
                epochs: 70,
                lr_decay_every: 50,
                validate_every: 5,
                ..paper.schedule
            },
            augment: SpeechAugment::off(),
        }
    }

    pub fn preset(name: &str) -> Result<Self, String> {
        match name {
            "paper" => Ok(Self::paper()),
            "edge" => Ok(Self::edge()),
            other => Err(format!(
                "unknown SEN preset `{other}` (expected paper or edge)"
            )),
        }
    }

    pub fn embedding_dim(&self) -> i64 {
        self.speech.embedding_dim()
    }

    pub fn validate(&self) -> Result<(), String> {
        self.augment.validate()?;
        let s = &self.speech;
        if s.n_mels <= 0 || s.gru_hidden <= 0 || s.attention_hidden <= 0 || s.gru_layers == 0 {
            return Err("speech encoder sizes must be positive".into());
        }
        if s.conv_kernel <= 0 || s.conv_stride <= 0 || s.conv_channels.iter().any(|&c| c <= 0) {
            return Err("convolution sizes must be positive".into());
        }
        if self.image.channels.is_empty() || self.image.input_size < 8 {
            return Err(
                "the image encoder needs at least one block and inputs of 8² or more".into(),
            );
        }
        let sch = &self.schedule;
        if sch.batch_size < 2 {
            return Err(
                "--batch-size must be at least 2 (the matching loss contrasts pairs)".into(),
            );
        }
        if sch.epochs == 0 || sch.validate_every == 0 {
            return Err("--epochs and --validate-every must be positive".into());
        }
        if !(sch.adam.lr > 0.0 && self.loss.gamma > 0.0) {
            return Err("--lr and --gamma must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_cost_matches_the_spec() {
        // Spec §11.2: about 7.0 M MAC per encoder frame, 0.17 GMAC per second of speech.
        let gmacs = SenConfig::paper().speech.macs_per_second() / 1e9;
        assert!((gmacs - 0.17).abs() < 0.01, "{gmacs}");
    }

    #[test]
    fn edge_costs_at_most_a_quarter_of_paper() {
        let ratio = SenConfig::edge().speech.macs_per_second()
            / SenConfig::paper().speech.macs_per_second();
        assert!(ratio <= 0.25, "edge/paper = {ratio}");
    }

    #[test]
    fn frame_arithmetic_is_consistent() {
        let s = SenConfig::paper().speech;
        assert_eq!(s.min_frames(), 16);
        assert_eq!(s.encoded_frames(16), 1);
        assert_eq!(s.encoded_frames(15), 0);
        assert_eq!(s.encoded_frames(502), 122); // spec §11.2: 502 → 249 → 122
    }
}
