//! Training-time augmentation of the log-mel features, so the speech encoder learns what was
//! said rather than how one synthetic voice says it:
//!
//! * speed: the time axis resampled by a factor in [1 − s, 1 + s] (linear interpolation between
//!   frames), which a faster or slower speaker produces;
//! * SpecAugment (Park et al. 2019): `frequency_masks` bands of up to `frequency_width` mel
//!   bins and `time_masks` spans of up to `time_fraction` of the utterance, set to zero (the
//!   CMVN mean), so no single band or stretch can carry the caption.
//!
//! Applied per utterance on the padded `[B, n_mels, T]` batch; lengths change with the speed.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechAugment {
    /// Largest relative speed change (0 = off).
    pub speed: f64,
    pub frequency_masks: usize,
    /// Widest frequency mask, in mel bins.
    pub frequency_width: i64,
    pub time_masks: usize,
    /// Widest time mask, as a fraction of the utterance's frames.
    pub time_fraction: f64,
}

impl SpeechAugment {
    /// Nothing changed: the features as the front end computed them.
    pub fn off() -> Self {
        Self {
            speed: 0.0,
            frequency_masks: 0,
            frequency_width: 0,
            time_masks: 0,
            time_fraction: 0.0,
        }
    }

    /// For 40 mel bands: speed ±15 %, two frequency masks up to 8 bins, two time masks up to
    /// 10 % of the utterance each (SpecAugment's policies scaled from 80 bands).
    pub fn voices() -> Self {
        Self {
            speed: 0.15,
            frequency_masks: 2,
            frequency_width: 8,
            time_masks: 2,
            time_fraction: 0.1,
        }
    }

    pub fn is_off(&self) -> bool {
        self == &Self::off()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..0.5).contains(&self.speed) {
            return Err(format!(
                "augment speed must lie in [0, 0.5), got {}",
                self.speed
            ));
        }
        if !(0.0..=0.5).contains(&self.time_fraction) {
            return Err(format!(
                "augment time_fraction must lie in [0, 0.5], got {}",
                self.time_fraction
            ));
        }
        if self.frequency_width < 0 {
            return Err("augment frequency_width must be ≥ 0".into());
        }
        Ok(())
    }

    /// Augments `speech` `[B, n_mels, T]` with valid `lengths`; returns the new batch and lengths.
    /// Randomness comes from `rng` (seeded per step by the trainer, so resume repeats it).
    pub fn apply(
        &self,
        speech: &Tensor,
        lengths: &[i64],
        rng: &mut impl rand::Rng,
    ) -> (Tensor, Vec<i64>) {
        if self.is_off() {
            return (speech.shallow_clone(), lengths.to_vec());
        }
        let (_, mels, _) = speech.size3().expect("speech batch is [B, n_mels, T]");
        let mut rows = Vec::with_capacity(lengths.len());
        let mut new_lengths = Vec::with_capacity(lengths.len());
        for (b, &len) in lengths.iter().enumerate() {
            let mut x = speech.get(b as i64).narrow(1, 0, len.max(1));
            if self.speed > 0.0 {
                let factor = 1.0 + rng.gen_range(-self.speed..=self.speed);
                x = stretch(&x, factor);
            }
            let t = x.size()[1];
            let keep = Tensor::ones([mels, t], (Kind::Float, x.device()));
            for _ in 0..self.frequency_masks {
                let w = rng.gen_range(0..=self.frequency_width.min(mels));
                let f0 = rng.gen_range(0..=(mels - w));
                let _ = keep.narrow(0, f0, w).fill_(0.0);
            }
            let widest = (self.time_fraction * t as f64) as i64;
            for _ in 0..self.time_masks {
                let w = rng.gen_range(0..=widest);
                let t0 = rng.gen_range(0..=(t - w));
                let _ = keep.narrow(1, t0, w).fill_(0.0);
            }
            x *= keep;
            new_lengths.push(t);
            rows.push(x);
        }
        let longest = *new_lengths.iter().max().unwrap_or(&1);
        let padded: Vec<Tensor> = rows
            .iter()
            .map(|x| x.constant_pad_nd([0, longest - x.size()[1]]))
            .collect();
        (Tensor::stack(&padded, 0), new_lengths)
    }
}

/// `[n_mels, T]` → `[n_mels, round(T / factor)]` by linear interpolation along time (factor > 1
/// is faster speech: fewer frames).
pub fn stretch(x: &Tensor, factor: f64) -> Tensor {
    let t = x.size()[1];
    let out = ((t as f64 / factor).round() as i64).max(1);
    if out == t {
        return x.shallow_clone();
    }
    x.unsqueeze(0)
        .upsample_linear1d([out], true, None)
        .squeeze_dim(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::Device;

    #[test]
    fn off_changes_nothing() {
        let x = Tensor::randn([2, 40, 30], (Kind::Float, Device::Cpu));
        let (y, l) = SpeechAugment::off().apply(&x, &[30, 20], &mut ChaCha8Rng::seed_from_u64(0));
        assert!(y.equal(&x));
        assert_eq!(l, [30, 20]);
    }

    #[test]
    fn masks_zero_whole_bands_and_spans_and_speed_changes_lengths() {
        let x = Tensor::ones([3, 40, 100], (Kind::Float, Device::Cpu));
        let aug = SpeechAugment::voices();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (y, lengths) = aug.apply(&x, &[100, 80, 60], &mut rng);
        for (b, &len) in lengths.iter().enumerate() {
            let orig = [100, 80, 60][b] as f64;
            assert!(
                (len as f64 - orig).abs() <= orig * 0.15 / 0.85 + 1.0,
                "{len} from {orig}"
            );
            let row = y.get(b as i64).narrow(1, 0, len);
            // Zeroed bins: whole bands (every frame) or whole spans (every bin), nothing else.
            let zero = row.eq(0.0);
            let band_zero = zero.all_dim(1, false);
            let frame_zero = zero.all_dim(0, false);
            let explained = band_zero.unsqueeze(1).logical_or(&frame_zero.unsqueeze(0));
            assert!(zero.eq_tensor(&explained).all().int64_value(&[]) == 1);
            let bands = band_zero.sum(Kind::Int64).int64_value(&[]);
            assert!(bands <= 16, "{bands}");
            // Padding after the new length is zero.
            if len < y.size()[2] {
                let pad = y.get(b as i64).narrow(1, len, y.size()[2] - len);
                assert_eq!(pad.abs().sum(Kind::Float).double_value(&[]), 0.0);
            }
        }
    }

    #[test]
    fn stretch_keeps_a_ramp_a_ramp() {
        let ramp = Tensor::arange(50, (Kind::Float, Device::Cpu)).view([1, 50]);
        let y = stretch(&ramp, 1.25);
        assert_eq!(y.size(), [1, 40]);
        assert!((y.double_value(&[0, 0]) - 0.0).abs() < 1e-6);
        assert!((y.double_value(&[0, 39]) - 49.0).abs() < 1e-4);
    }
}
