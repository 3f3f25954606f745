//! The input level shown while listening: RMS of the newest ~50 ms on a log scale, so a quiet
//! voice still moves the bar and a shout does not pin it.

use std::collections::VecDeque;

/// dBFS shown as an empty bar; 0 dBFS is a full one.
const FLOOR_DB: f32 = -60.0;

#[derive(Debug, Clone)]
pub struct LevelMeter {
    window: usize,
    recent: VecDeque<i16>,
    /// Σ s² over `recent`, kept incrementally (at most 2^30 per sample, so u64 is plenty).
    energy: u64,
}

impl LevelMeter {
    /// A meter over the last `window_ms` of audio at `rate`.
    pub fn new(rate: u32, window_ms: u32) -> Self {
        let window = (rate as usize * window_ms as usize / 1000).max(1);
        Self {
            window,
            recent: VecDeque::with_capacity(window),
            energy: 0,
        }
    }

    pub fn push(&mut self, samples: &[i16]) {
        for &s in samples {
            if self.recent.len() == self.window {
                let old = self.recent.pop_front().expect("window is full") as i64;
                self.energy -= (old * old) as u64;
            }
            self.recent.push_back(s);
            self.energy += (s as i64 * s as i64) as u64;
        }
    }

    pub fn reset(&mut self) {
        self.recent.clear();
        self.energy = 0;
    }

    /// RMS of the window relative to full scale.
    pub fn rms(&self) -> f32 {
        if self.recent.is_empty() {
            return 0.0;
        }
        (self.energy as f64 / self.recent.len() as f64).sqrt() as f32 / 32768.0
    }

    /// 0 at −60 dBFS or below, 1 at full scale, linear in dB between.
    pub fn level(&self) -> f32 {
        let rms = self.rms();
        if rms <= 0.0 {
            return 0.0;
        }
        let db = 20.0 * rms.log10();
        ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_logarithmic_and_follows_the_newest_samples() {
        let mut m = LevelMeter::new(16_000, 50);
        assert_eq!(m.level(), 0.0);
        // A square wave at −20 dBFS (RMS = amplitude) sits at 2/3 of the bar.
        let amp = 3277i16;
        let loud: Vec<i16> = (0..1600)
            .map(|i| if i % 2 == 0 { amp } else { -amp })
            .collect();
        m.push(&loud);
        assert!((m.level() - 2.0 / 3.0).abs() < 0.01, "{}", m.level());
        // 50 ms of digital silence later the window holds only silence.
        m.push(&[0; 800]);
        assert_eq!(m.level(), 0.0);
        // Full scale fills it.
        m.push(&[i16::MIN; 800]);
        assert!((m.level() - 1.0).abs() < 1e-3);
    }
}
