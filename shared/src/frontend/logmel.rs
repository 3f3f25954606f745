//! Framing, windowing and the log of the mel energies: 16 kHz samples → log-mel in Q16 nats.
//!
//! Frames are centred (librosa's `center=True`): the signal is reflect-padded by half a window on
//! each side and frame t covers original samples [t·hop − win/2, t·hop + win/2), so there are
//! 1 + ⌊len/hop⌋ frames. Each sample (i16) is multiplied by the periodic Hann window in Q30, the
//! exact i64 product zero-padded to 512 and handed to the integer FFT. With the FFT's block
//! exponent e, the mel energy of a [-1, 1] signal is M·2^−(128 + 2e), where M = Σ w·P in u128
//! (15 + 30 bits of input scale, doubled for power, + 36 weight bits + 2 from the FFT's 2·X).
//! Its log2 is computed in Q24 from a table with linear interpolation, floored at `log_floor_log2`, and multiplied by ln 2 (Q62),
//! rounding to Q16 nats.

use super::fft::{RealFft, FFT_SIZE};
use super::fixed::{sin_cos_turn_q30, Log2Table, LN2_Q62};
use super::mel::{MelFilterbank, WEIGHT_BITS};

/// Log-mel energies in Q16 nats, band-major: `data[band·frames + t]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMel {
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<i32>,
}

impl LogMel {
    /// Value of `band` at frame `t` in nats.
    pub fn nats(&self, band: usize, t: usize) -> f64 {
        self.data[band * self.frames + t] as f64 / 65536.0
    }
}

/// Periodic Hann window in Q30: sin²(πn/N) = (1 − cos(2πn/N))/2.
pub fn hann_q30(len: usize) -> Vec<i64> {
    (0..len)
        .map(|n| {
            let turn = (((n as u64) << 32) / len as u64) as u32;
            let c = sin_cos_turn_q30(turn).1 as i64;
            ((1i64 << 30) - c + 1) >> 1
        })
        .collect()
}

/// numpy's `reflect` index for i in a signal of length n (bounces as often as needed).
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let j = i.rem_euclid(period);
    if j >= n as isize {
        (period - j) as usize
    } else {
        j as usize
    }
}

pub struct LogMelExtractor<'a> {
    pub window: &'a [i64],
    pub hop: usize,
    pub fft: &'a RealFft,
    pub mel: &'a MelFilterbank,
    pub log2: &'a Log2Table,
    pub floor_log2: i32,
}

impl LogMelExtractor<'_> {
    pub fn frames_for(&self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            1 + len / self.hop
        }
    }

    pub fn run(&self, samples: &[i16]) -> LogMel {
        let n_mels = self.mel.bands.len();
        let frames = self.frames_for(samples.len());
        let mut data = vec![0i32; n_mels * frames];
        let win = self.window.len();
        let half = (win / 2) as isize;
        let mut buffer = [0i64; FFT_SIZE];
        let mut mel = vec![0u128; n_mels];
        let floor_q24 = (self.floor_log2 as i64) << 24;
        for t in 0..frames {
            let start = (t * self.hop) as isize - half;
            let inside = start >= 0 && start as usize + win <= samples.len();
            for (n, (b, &w)) in buffer.iter_mut().zip(self.window).enumerate() {
                let i = if inside {
                    start as usize + n
                } else {
                    reflect(start + n as isize, samples.len())
                };
                *b = samples[i] as i64 * w;
            }
            let spectrum = self.fft.power_spectrum(&buffer);
            self.mel.apply(&spectrum.power, &mut mel);
            let offset = (90 + 2 + WEIGHT_BITS as i64 + 2 * spectrum.exponent as i64) << 24;
            for (band, &m) in mel.iter().enumerate() {
                let log2 = if m == 0 {
                    floor_q24
                } else {
                    (self.log2.log2_q24(m) - offset).max(floor_q24)
                };
                let nats = (log2 as i128 * LN2_Q62 + (1i128 << 69)) >> 70;
                data[band * frames + t] = nats as i32;
            }
        }
        LogMel {
            n_mels,
            frames,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_the_periodic_hann() {
        let w = hann_q30(400);
        for (n, &v) in w.iter().enumerate() {
            let want = 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / 400.0).cos();
            assert!((v as f64 / 2f64.powi(30) - want).abs() < 2e-9, "{n}");
        }
        assert_eq!(w[0], 0);
        assert_eq!(w[200], 1 << 30);
    }

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([0,1,2,3], 5, 'reflect') → [1,2,3,2,1,0,1,2,3,2,1,0,1,2]
        let got: Vec<usize> = (-5..9).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
    }
}
