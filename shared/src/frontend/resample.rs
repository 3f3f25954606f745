//! Deterministic integer polyphase resampling to the front end's rate.
//!
//! For an input rate `r` and output rate `f`, with `g = gcd(r, f)`, the signal is conceptually
//! upsampled by `L = f/g`, filtered, and decimated by `M = r/g` (48 kHz → 16 kHz is L = 1,
//! M = 3; 44.1 kHz is L = 160, M = 441). The prototype filter is a Blackman-windowed sinc whose
//! cut-off sits at `cutoff_permille`/1000 of the lower rate's Nyquist frequency and which spans
//! `zero_crossings` zero crossings of that sinc on each side. It is computed with the integer
//! sine of [`super::fixed`], quantised to Q14, and each of the `L` phases is adjusted to sum to
//! exactly 2^14 (unit gain at DC, so no phase is louder than another).
//!
//! Widths: samples i16, coefficients i16 in Q14, products summed in i32. The sum cannot
//! overflow: [`Resampler::new`] checks that every phase's L1 norm is below 2^16, so
//! |Σ h·x| < 2^16 · 2^15 = 2^31. The output is rounded half up and saturated to i16.

use super::fixed::{div_round_i128, shr_round_i128, sin_cos_turn_q30, PI_Q61};

/// Coefficient scale: Q14.
const COEF_BITS: u32 = 14;

#[derive(Debug, Clone)]
pub struct Resampler {
    input_rate: u32,
    output_rate: u32,
    up: usize,
    down: usize,
    taps: usize,
    /// `up` phases of `taps` coefficients, phase-major, each phase already in convolution order.
    coefficients: Vec<i16>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Resampler {
    pub fn new(
        input_rate: u32,
        output_rate: u32,
        zero_crossings: u32,
        cutoff_permille: u32,
    ) -> Self {
        assert!(input_rate > 0 && output_rate > 0);
        let g = gcd(input_rate as u64, output_rate as u64);
        let up = (output_rate as u64 / g) as usize;
        let down = (input_rate as u64 / g) as usize;
        if up == 1 && down == 1 {
            return Self {
                input_rate,
                output_rate,
                up,
                down,
                taps: 1,
                coefficients: vec![1 << COEF_BITS],
            };
        }
        let low_rate = input_rate.min(output_rate) as i128;
        // Half-width in input samples (rounded up), so taps per phase is even.
        let half_taps =
            (zero_crossings as u64 * input_rate as u64).div_ceil(low_rate as u64) as usize;
        let taps = 2 * half_taps;
        // Prototype time index m runs at L·r; its half-width in those units:
        let half_width = (half_taps * up) as i128;
        // sinc argument a(m) = cutoff·low/(L·r) · m, as the rational a_num·m / a_den.
        let a_num = cutoff_permille as i128 * low_rate;
        let a_den = 1000 * up as i128 * input_rate as i128;

        let prototype = |m: i128| -> i128 {
            // Blackman window over (−W, W): 0.42 + 0.5 cos(πm/W) + 0.08 cos(2πm/W), Q30.
            if m.abs() >= half_width {
                return 0;
            }
            let turn = |num: i128, den: i128| -> u32 {
                (num * (1i128 << 32) / den).rem_euclid(1i128 << 32) as u32
            };
            let c1 = sin_cos_turn_q30(turn(m, 2 * half_width)).1 as i128;
            let c2 = sin_cos_turn_q30(turn(m, half_width)).1 as i128;
            let window = div_round_i128(42 << 30, 100) + c1 / 2 + div_round_i128(8 * c2, 100);
            // sinc(a) = sin(πa)/(πa), Q30.
            let sinc = if m == 0 {
                1i128 << 30
            } else {
                let s = sin_cos_turn_q30(turn(a_num * m, 2 * a_den)).0 as i128;
                // s / (π · a_num·m / a_den) = s · a_den · 2^61 / (PI_Q61 · a_num · m)
                div_round_i128(s * a_den * (1i128 << 61), PI_Q61 * a_num * m)
            };
            shr_round_i128(window * sinc, 30)
        };

        let mut coefficients = Vec::with_capacity(up * taps);
        for phase in 0..up {
            // Output at prototype time p = j·M with p mod L = phase uses inputs
            // n = ⌊p/L⌋ − half_taps + 1 + i, at prototype offset m = phase + (half_taps − 1 − i)·L.
            let raw: Vec<i128> = (0..taps)
                .map(|i| {
                    prototype(phase as i128 + (half_taps as i128 - 1 - i as i128) * up as i128)
                })
                .collect();
            let sum: i128 = raw.iter().sum();
            let mut q: Vec<i128> = raw
                .iter()
                .map(|&h| div_round_i128(h << COEF_BITS, sum))
                .collect();
            // Put the rounding residue on the largest tap so the phase sums to exactly 1.0.
            let residue = (1i128 << COEF_BITS) - q.iter().sum::<i128>();
            let peak = (0..taps)
                .max_by_key(|&i| (q[i].abs(), std::cmp::Reverse(i)))
                .unwrap_or(0);
            q[peak] += residue;
            let l1: i128 = q.iter().map(|h| h.abs()).sum();
            assert!(
                l1 < 1 << 16,
                "resampler phase L1 norm {l1} would overflow the i32 sum"
            );
            coefficients.extend(q.iter().map(|&h| h as i16));
        }
        Self {
            input_rate,
            output_rate,
            up,
            down,
            taps,
            coefficients,
        }
    }

    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }

    pub fn output_rate(&self) -> u32 {
        self.output_rate
    }

    /// The coefficient table, for the front end's table hash.
    pub fn coefficients(&self) -> &[i16] {
        &self.coefficients
    }

    /// Number of output samples for `n` input samples: ⌈n·L/M⌉.
    pub fn output_len(&self, n: usize) -> usize {
        (n * self.up).div_ceil(self.down)
    }

    /// Resamples a whole signal; samples beyond either end count as zero.
    pub fn process(&self, input: &[i16]) -> Vec<i16> {
        if self.up == 1 && self.down == 1 {
            return input.to_vec();
        }
        let half = self.taps / 2;
        // Zero padding on both sides lets the inner loop run without bounds arithmetic.
        let mut padded = vec![0i16; input.len() + 2 * self.taps];
        padded[self.taps..self.taps + input.len()].copy_from_slice(input);
        let n_out = self.output_len(input.len());
        let mut out = Vec::with_capacity(n_out);
        for j in 0..n_out {
            let p = j * self.down;
            let phase = p % self.up;
            let base = p / self.up;
            // First input index n = base − half + 1, shifted by the padding.
            let start = base + 1 + self.taps - half;
            let x = &padded[start..start + self.taps];
            let h = &self.coefficients[phase * self.taps..(phase + 1) * self.taps];
            let acc: i32 = x.iter().zip(h).map(|(&a, &b)| a as i32 * b as i32).sum();
            let y = (acc + (1 << (COEF_BITS - 1))) >> COEF_BITS;
            out.push(y.clamp(i16::MIN as i32, i16::MAX as i32) as i16);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amp * (std::f64::consts::TAU * hz * i as f64 / rate as f64).sin()).round() as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn every_phase_has_unit_dc_gain() {
        for rate in crate::frontend::config::SUPPORTED_INPUT_RATES {
            let r = Resampler::new(rate, 16_000, 32, 940);
            for phase in r.coefficients.chunks(r.taps) {
                assert_eq!(
                    phase.iter().map(|&h| h as i32).sum::<i32>(),
                    1 << COEF_BITS,
                    "{rate}"
                );
            }
            let dc = vec![1000i16; rate as usize / 10];
            let out = r.process(&dc);
            assert_eq!(out.len(), 1600, "{rate}");
            // Away from the edges a constant stays exactly constant.
            assert!(out[200..1400].iter().all(|&v| v == 1000), "{rate}");
        }
    }

    #[test]
    fn passband_tone_keeps_its_level_and_stopband_tone_is_removed() {
        for rate in [22_050u32, 44_100, 48_000] {
            let r = Resampler::new(rate, 16_000, 32, 940);
            let n = rate as usize;
            let pass = r.process(&tone(rate, 1000.0, n, 10_000.0));
            let gain = rms(&pass[800..15_200]) / (10_000.0 / 2f64.sqrt());
            assert!((gain - 1.0).abs() < 0.01, "{rate}: passband gain {gain}");
            // A 10 kHz tone would alias to 6 kHz at 16 kHz: it must be at least 60 dB down.
            let stop = r.process(&tone(rate, 10_000.0, n, 10_000.0));
            let atten = 20.0 * (rms(&stop[800..15_200]) / (10_000.0 / 2f64.sqrt())).log10();
            assert!(atten < -60.0, "{rate}: stopband {atten:.1} dB");
        }
    }

    #[test]
    fn upsampling_preserves_a_tone() {
        let r = Resampler::new(8_000, 16_000, 32, 940);
        let out = r.process(&tone(8_000, 500.0, 8_000, 8_000.0));
        let want = tone(16_000, 500.0, 16_000, 8_000.0);
        let err: f64 = out[400..15_600]
            .iter()
            .zip(&want[400..15_600])
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .fold(0.0, f64::max);
        assert!(err < 60.0, "max deviation {err} of 8000");
    }
}
