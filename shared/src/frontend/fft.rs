//! A 512-point real FFT in 32-bit integers with block floating point, giving the power spectrum.
//!
//! The 512 real samples are packed into 256 complex values, transformed by an iterative radix-2
//! FFT, and split into the 257 bins of the real transform. Widths and scaling:
//! - Data are i32; twiddles are Q30 i32; a complex product is formed in i64 and rounded back
//!   with a half-up shift of 30.
//! - Before every stage the block's largest component is checked; if it has reached 2^29 the
//!   whole block is shifted right (rounded) until it is below 2^29, and the shift is added to the
//!   block exponent. A butterfly grows a component by at most 1 + √2 < 2^1.28, so nothing can
//!   reach 2^31. The caller normalises the input to just below 2^29 first, so every stage keeps
//!   about 29 significant bits whatever the signal level.
//! - The final split runs in i64 and yields 2·X[k]. Its inputs are below 2^29 (normalised once
//!   more), so each component of 2·X[k] is below 2^29·2·(1 + √2) < 2^31.3 and the power
//!   |2·X[k]|² < 2^63.6 fits a u64.

use super::fixed::sin_cos_turn_q30;

pub const FFT_SIZE: usize = 512;
const HALF: usize = FFT_SIZE / 2;
const STAGES: u32 = HALF.trailing_zeros();
/// Bins of the real transform: 0 ..= N/2.
pub const N_BINS: usize = HALF + 1;
/// Largest component allowed into a stage: 2^29.
const HEADROOM_BITS: u32 = 29;

/// Twiddle tables (computed by integer code) and the bit-reversal permutation.
#[derive(Debug, Clone)]
pub struct RealFft {
    /// Per stage of length `len` (2, 4, …, 256), e^{−2πik/len} for k < len/2, Q30, stored
    /// stage after stage so each stage reads its twiddles contiguously.
    stage_re: Vec<i32>,
    stage_im: Vec<i32>,
    /// e^{−2πik/512} for k ≤ 256, Q30, for the real-input split.
    split_twiddles: Vec<(i32, i32)>,
    bit_reverse: Vec<u16>,
}

/// The power spectrum of one frame: `power[k]·2^(−2·exponent − 2)` is |X[k]|² at the input's scale.
#[derive(Debug, Clone)]
pub struct PowerSpectrum {
    pub power: [u64; N_BINS],
    /// Net left shift applied to the data: input normalisation minus block shifts.
    pub exponent: i32,
}

fn twiddle(k: usize, n: usize) -> (i32, i32) {
    // e^{−iθ} = cos θ − i sin θ, θ = 2πk/n, as a fraction of a turn in 2^32.
    let turn = ((k as u64) << 32) / n as u64;
    let (s, c) = sin_cos_turn_q30(turn as u32);
    (c, -s)
}

impl Default for RealFft {
    fn default() -> Self {
        Self::new()
    }
}

impl RealFft {
    pub fn new() -> Self {
        let mut stage_re = Vec::with_capacity(HALF);
        let mut stage_im = Vec::with_capacity(HALF);
        let mut len = 2;
        while len <= HALF {
            for k in 0..len / 2 {
                let (re, im) = twiddle(k * (HALF / len), HALF);
                stage_re.push(re);
                stage_im.push(im);
            }
            len *= 2;
        }
        let split_twiddles = (0..=HALF).map(|k| twiddle(k, FFT_SIZE)).collect();
        let bit_reverse = (0..HALF)
            .map(|i| (i as u16).reverse_bits() >> (16 - STAGES))
            .collect();
        Self {
            stage_re,
            stage_im,
            split_twiddles,
            bit_reverse,
        }
    }

    /// The tables, flattened, for the front end's table hash.
    pub fn table_words(&self) -> impl Iterator<Item = i32> + '_ {
        self.stage_re
            .iter()
            .zip(&self.stage_im)
            .chain(self.split_twiddles.iter().map(|(re, im)| (re, im)))
            .flat_map(|(&re, &im)| [re, im])
    }

    /// Power spectrum of 512 real samples of any magnitude below 2^62. The block is first
    /// scaled (left, or right with rounding) so its largest sample lies in [2^28, 2^29).
    pub fn power_spectrum(&self, input: &[i64; FFT_SIZE]) -> PowerSpectrum {
        let bits = input.iter().fold(0u64, |acc, &v| acc | v.unsigned_abs());
        let used = 64 - bits.leading_zeros() as i32;
        // Silence keeps exponent 0 and an all-zero spectrum.
        let mut exponent = if bits == 0 {
            0
        } else {
            HEADROOM_BITS as i32 - used
        };
        let scale = |v: i64| -> i32 {
            if exponent >= 0 {
                (v << exponent) as i32
            } else {
                let s = -exponent;
                ((v + (1i64 << (s - 1))) >> s) as i32
            }
        };
        let mut re = [0i32; HALF];
        let mut im = [0i32; HALF];
        for (i, &j) in self.bit_reverse.iter().enumerate() {
            re[j as usize] = scale(input[2 * i]);
            im[j as usize] = scale(input[2 * i + 1]);
        }
        let mut len = 2;
        let mut offset = 0;
        while len <= HALF {
            exponent -= normalise(&mut re, &mut im);
            let half = len / 2;
            let (wre, wim) = (
                &self.stage_re[offset..offset + half],
                &self.stage_im[offset..offset + half],
            );
            for (re_block, im_block) in re.chunks_exact_mut(len).zip(im.chunks_exact_mut(len)) {
                let (ra, rb) = re_block.split_at_mut(half);
                let (ia, ib) = im_block.split_at_mut(half);
                for ((((ar, ai), br), bi), (&wr, &wi)) in ra
                    .iter_mut()
                    .zip(ia.iter_mut())
                    .zip(rb.iter_mut())
                    .zip(ib.iter_mut())
                    .zip(wre.iter().zip(wim))
                {
                    let (xr, xi) = (*br as i64, *bi as i64);
                    let tr = ((xr * wr as i64 - xi * wi as i64 + (1 << 29)) >> 30) as i32;
                    let ti = ((xr * wi as i64 + xi * wr as i64 + (1 << 29)) >> 30) as i32;
                    let (yr, yi) = (*ar, *ai);
                    *ar = yr + tr;
                    *ai = yi + ti;
                    *br = yr - tr;
                    *bi = yi - ti;
                }
            }
            offset += half;
            len *= 2;
        }
        exponent -= normalise(&mut re, &mut im);

        // Split: 2X[k] = (Z[k] + Z*[N−k]) − i·W^k·(Z[k] − Z*[N−k]), with Z[N] = Z[0].
        let mut power = [0u64; N_BINS];
        for (k, p) in power.iter_mut().enumerate() {
            let (zr, zi) = (re[k % HALF] as i64, im[k % HALF] as i64);
            let (cr, ci) = (
                re[(HALF - k) % HALF] as i64,
                -(im[(HALF - k) % HALF] as i64),
            );
            let (er, ei) = (zr + cr, zi + ci);
            let (dr, di) = (zr - cr, zi - ci);
            let (wr, wi) = self.split_twiddles[k];
            let (wr, wi) = (wr as i64, wi as i64);
            let tr = (dr * wr - di * wi + (1 << 29)) >> 30;
            let ti = (dr * wi + di * wr + (1 << 29)) >> 30;
            // −i·(tr + i·ti) = ti − i·tr
            let (xr, xi) = (er + ti, ei - tr);
            *p = (xr * xr) as u64 + (xi * xi) as u64;
        }
        PowerSpectrum { power, exponent }
    }
}

/// Shifts the block right (rounded) until every component is below 2^29; returns the shift.
fn normalise(re: &mut [i32; HALF], im: &mut [i32; HALF]) -> i32 {
    let bits = re
        .iter()
        .chain(im.iter())
        .fold(0u32, |acc, &v| acc | v.unsigned_abs());
    let used = 32 - bits.leading_zeros();
    if used <= HEADROOM_BITS {
        return 0;
    }
    let shift = used - HEADROOM_BITS;
    let half = 1i64 << (shift - 1);
    for v in re.iter_mut().chain(im.iter_mut()) {
        *v = ((*v as i64 + half) >> shift) as i32;
    }
    shift as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustfft::num_complex::Complex;

    fn reference_power(x: &[f64]) -> Vec<f64> {
        let mut buf: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v, 0.0)).collect();
        rustfft::FftPlanner::new()
            .plan_fft_forward(FFT_SIZE)
            .process(&mut buf);
        buf[..N_BINS].iter().map(|c| c.norm_sqr()).collect()
    }

    #[test]
    fn matches_an_f64_fft_over_a_wide_dynamic_range() {
        let fft = RealFft::new();
        let mut seed = 12345u64;
        for amplitude_bits in [2u32, 10, 20, 28] {
            let mut x = [0i64; FFT_SIZE];
            for (i, v) in x.iter_mut().enumerate() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((seed >> 40) as i64 - (1 << 23)) >> (24 - amplitude_bits.min(24));
                let tone = ((1i64 << amplitude_bits) as f64 * 0.5 * (i as f64 * 0.3).sin()) as i64;
                *v = noise / 4 + tone;
            }
            let spectrum = fft.power_spectrum(&x);
            let reference = reference_power(&x.map(|v| v as f64));
            let scale = (2.0f64).powi(-2 * spectrum.exponent - 2);
            let peak = reference.iter().cloned().fold(0.0, f64::max);
            for (k, (&power, &want)) in spectrum.power.iter().zip(&reference).enumerate() {
                let got = power as f64 * scale;
                // Rounding noise is a fixed fraction of the block's peak amplitude (about 29
                // significant bits at each stage): bound the amplitude error by 2^-23 of it.
                let err = (got.sqrt() - want.sqrt()).abs();
                assert!(
                    err <= peak.sqrt() * 2f64.powi(-23),
                    "bits {amplitude_bits} bin {k}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn silence_gives_a_zero_spectrum() {
        let s = RealFft::new().power_spectrum(&[0; FFT_SIZE]);
        assert!(s.power.iter().all(|&p| p == 0));
    }

    #[test]
    fn full_scale_input_cannot_overflow() {
        let fft = RealFft::new();
        let worst = [(1i64 << 40) - 1; FFT_SIZE];
        let s = fft.power_spectrum(&worst);
        let scale = (2.0f64).powi(-2 * s.exponent - 2);
        let dc = s.power[0] as f64 * scale;
        let want = (FFT_SIZE as f64 * ((1i64 << 40) - 1) as f64).powi(2);
        assert!((dc / want - 1.0).abs() < 1e-6);
        let mut alternating = worst;
        for (i, v) in alternating.iter_mut().enumerate() {
            if i % 2 == 1 {
                *v = -*v;
            }
        }
        let s = fft.power_spectrum(&alternating);
        let nyquist = s.power[HALF] as f64 * (2.0f64).powi(-2 * s.exponent - 2);
        assert!((nyquist / want - 1.0).abs() < 1e-6);
    }
}
