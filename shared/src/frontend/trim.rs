//! The energy rule that tells speech from silence, used to trim both ends of an utterance and,
//! on the board, to detect the end of speech in kiosk mode.
//!
//! Blocks are `block_length` samples (10 ms at 16 kHz). A block's energy is Σ s² in u64 (at most
//! 160·2^30 < 2^38). A block is speech when its energy reaches `min_speech_rms`²·block_length and
//! is no more than `max_peak_ratio` times below the loudest block (compared in u128).

use std::ops::Range;

use super::config::TrimConfig;

#[derive(Debug, Clone)]
pub struct EnergyRule {
    config: TrimConfig,
}

impl EnergyRule {
    pub fn new(config: &TrimConfig) -> Self {
        Self {
            config: config.clone(),
        }
    }

    pub fn block_length(&self) -> usize {
        self.config.block_length
    }

    /// Σ s² over one block.
    pub fn block_energy(block: &[i16]) -> u64 {
        block.iter().map(|&s| (s as i64 * s as i64) as u64).sum()
    }

    /// Energy a full block needs to count as speech at all.
    pub fn absolute_threshold(&self) -> u64 {
        let rms = self.config.min_speech_rms as u64;
        rms * rms * self.config.block_length as u64
    }

    /// Whether a block of energy `energy` is speech, given the loudest block so far.
    pub fn is_speech(&self, energy: u64, peak: u64) -> bool {
        energy >= self.absolute_threshold()
            && energy as u128 * self.config.max_peak_ratio as u128 >= peak as u128
    }

    /// Energy of every whole or partial block.
    pub fn energies(&self, samples: &[i16]) -> Vec<u64> {
        samples
            .chunks(self.config.block_length)
            .map(Self::block_energy)
            .collect()
    }

    /// The sample range to keep: the first to the last speech block, widened by the margin.
    /// `None` when no block is speech. With trimming disabled, everything (if non-empty).
    pub fn speech_range(&self, samples: &[i16]) -> Option<Range<usize>> {
        if !self.config.enabled {
            return (!samples.is_empty()).then_some(0..samples.len());
        }
        let energies = self.energies(samples);
        let peak = energies.iter().copied().max()?;
        let first = energies.iter().position(|&e| self.is_speech(e, peak))?;
        let last = energies.iter().rposition(|&e| self.is_speech(e, peak))?;
        let block = self.config.block_length;
        let start = first.saturating_sub(self.config.margin_blocks) * block;
        let end = ((last + 1 + self.config.margin_blocks) * block).min(samples.len());
        Some(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_silence_and_keeps_the_margin() {
        let rule = EnergyRule::new(&TrimConfig::default());
        let mut x = vec![0i16; 16_000];
        for (i, v) in x[5_000..9_000].iter_mut().enumerate() {
            *v = if i % 2 == 0 { 3_000 } else { -3_000 };
        }
        // Quiet noise below the absolute threshold does not count.
        for v in x[..1_000].iter_mut().step_by(3) {
            *v = 50;
        }
        let r = rule.speech_range(&x).unwrap();
        assert_eq!(
            r,
            (5_000 / 160 - 10) * 160..(9_000usize.div_ceil(160) + 10) * 160
        );
    }

    #[test]
    fn relative_rule_ignores_a_faint_tail() {
        let rule = EnergyRule::new(&TrimConfig::default());
        let mut x = vec![0i16; 32_000];
        x[1_600..8_000]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i % 2 == 0 { 20_000 } else { -20_000 });
        // 150 RMS is above the absolute floor but 45 dB below the speech.
        x[20_000..24_000]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i % 2 == 0 { 150 } else { -150 });
        let r = rule.speech_range(&x).unwrap();
        assert_eq!(r.end, 8_000 + 10 * 160);
    }

    #[test]
    fn digital_silence_has_no_speech() {
        let rule = EnergyRule::new(&TrimConfig::default());
        assert_eq!(rule.speech_range(&[0; 4_000]), None);
        assert_eq!(rule.speech_range(&[]), None);
    }
}
