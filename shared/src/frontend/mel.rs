//! Slaney-scale mel filterbank with Slaney area normalisation (librosa's default), built with
//! integer arithmetic.
//!
//! Slaney's scale is linear below 1 kHz (200/3 Hz per mel) and logarithmic above (27 mels per
//! factor 6.4). Band edges are `n_mels + 2` points evenly spaced in mel from `f_min` to
//! `f_max`; band i is a triangle over edges i, i+1, i+2 in Hz, scaled by 2/(f_{i+2} − f_i) so that
//! every band integrates the same power density. Frequencies are held in Q20 Hz and mels in Q40,
//! computed with [`super::fixed::log2_q40`] and [`super::fixed::exp2_q40`]. Weights are stored
//! as u32 in Q36 (the largest Slaney weight at 16 kHz is about 0.014, so about 30 bits are used).

use super::fixed::{div_round_i128, exp2_q40, log2_q40};

pub const WEIGHT_BITS: u32 = 36;
const HZ_BITS: u32 = 20;
const MEL_BITS: u32 = 40;

/// One band: the first FFT bin it touches and its weights from there on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MelBand {
    pub first_bin: usize,
    pub weights: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MelFilterbank {
    pub bands: Vec<MelBand>,
}

/// log2(6.4) in Q40.
fn log2_6_4() -> i128 {
    log2_q40(32) - log2_q40(5)
}

/// Hz (Q20) → Slaney mel (Q40).
fn hz_to_mel(hz_q20: i128) -> i128 {
    let thousand = 1000i128 << HZ_BITS;
    if hz_q20 < thousand {
        // mel = 3·f/200
        div_round_i128((3 * hz_q20) << (MEL_BITS - HZ_BITS), 200)
    } else {
        // mel = 15 + 27·log2(f/1000)/log2(6.4)
        let ratio = log2_q40(hz_q20 as u128) - log2_q40(thousand as u128);
        (15i128 << MEL_BITS) + div_round_i128(27 * (ratio << MEL_BITS), log2_6_4())
    }
}

/// Slaney mel (Q40) → Hz (Q20).
fn mel_to_hz(mel_q40: i128) -> i128 {
    let fifteen = 15i128 << MEL_BITS;
    if mel_q40 < fifteen {
        div_round_i128(200 * mel_q40, 3 << (MEL_BITS - HZ_BITS))
    } else {
        // f = 1000 · 2^(log2(6.4)·(mel − 15)/27)
        let exponent = div_round_i128(((mel_q40 - fifteen) * log2_6_4()) >> MEL_BITS, 27);
        let factor_q40 = exp2_q40(exponent);
        div_round_i128(1000 * factor_q40, 1i128 << (MEL_BITS - HZ_BITS))
    }
}

impl MelFilterbank {
    pub fn new(
        n_mels: usize,
        n_fft: usize,
        sample_rate: u32,
        f_min_hz: u32,
        f_max_hz: u32,
    ) -> Self {
        let mel_lo = hz_to_mel((f_min_hz as i128) << HZ_BITS);
        let mel_hi = hz_to_mel((f_max_hz as i128) << HZ_BITS);
        let edges: Vec<i128> = (0..n_mels + 2)
            .map(|i| {
                mel_to_hz(
                    mel_lo + div_round_i128((mel_hi - mel_lo) * i as i128, (n_mels + 1) as i128),
                )
            })
            .collect();
        let n_bins = n_fft / 2 + 1;
        // Bin k sits at k·rate/n_fft Hz, exactly representable in Q20 for the supported rates.
        let bin_hz =
            |k: usize| -> i128 { ((k as i128 * sample_rate as i128) << HZ_BITS) / n_fft as i128 };
        let bands = (0..n_mels)
            .map(|i| {
                let (lo, mid, hi) = (edges[i], edges[i + 1], edges[i + 2]);
                let mut first_bin = None;
                let mut weights = Vec::new();
                for k in 0..n_bins {
                    let f = bin_hz(k);
                    // Triangle height in Q40: min((f − lo)/(mid − lo), (hi − f)/(hi − mid)).
                    let rising = div_round_i128((f - lo) << 40, mid - lo);
                    let falling = div_round_i128((hi - f) << 40, hi - mid);
                    let height = rising.min(falling).max(0);
                    if height == 0 {
                        if first_bin.is_some() {
                            break;
                        }
                        continue;
                    }
                    first_bin.get_or_insert(k);
                    // × 2/(hi − lo) Hz⁻¹ with hi − lo in Q20 → Q36.
                    let w = div_round_i128((height * 2) << (WEIGHT_BITS + HZ_BITS - 40), hi - lo);
                    weights.push(u32::try_from(w).expect("Slaney weight fits Q36 in u32"));
                }
                MelBand {
                    first_bin: first_bin.unwrap_or(0),
                    weights,
                }
            })
            .collect();
        Self { bands }
    }

    /// The weights, flattened with their offsets, for the front end's table hash.
    pub fn table_words(&self) -> impl Iterator<Item = u32> + '_ {
        self.bands.iter().flat_map(|b| {
            std::iter::once(b.first_bin as u32)
                .chain(std::iter::once(b.weights.len() as u32))
                .chain(b.weights.iter().copied())
        })
    }

    /// Σ_k w_k·P_k for each band, in the power's units × 2^36.
    pub fn apply(&self, power: &[u64], out: &mut [u128]) {
        for (band, o) in self.bands.iter().zip(out.iter_mut()) {
            *o = band
                .weights
                .iter()
                .zip(&power[band.first_bin..])
                .map(|(&w, &p)| w as u128 * p as u128)
                .sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slaney_hz_to_mel(f: f64) -> f64 {
        if f < 1000.0 {
            3.0 * f / 200.0
        } else {
            15.0 + (f / 1000.0).ln() / (6.4f64.ln() / 27.0)
        }
    }

    fn slaney_mel_to_hz(m: f64) -> f64 {
        if m < 15.0 {
            200.0 * m / 3.0
        } else {
            1000.0 * ((m - 15.0) * 6.4f64.ln() / 27.0).exp()
        }
    }

    #[test]
    fn scale_matches_librosa_formulas() {
        for f in [0.0, 300.0, 999.0, 1000.0, 2500.0, 7999.0, 8000.0] {
            let got = hz_to_mel((f * (1u64 << 20) as f64) as i128) as f64 / 2f64.powi(40);
            assert!((got - slaney_hz_to_mel(f)).abs() < 1e-9, "{f}");
            let back =
                mel_to_hz((slaney_hz_to_mel(f) * 2f64.powi(40)) as i128) as f64 / 2f64.powi(20);
            assert!((back - f).abs() < 1e-4, "{f}: {back}");
        }
        assert!((slaney_mel_to_hz(slaney_hz_to_mel(8000.0)) - 8000.0).abs() < 1e-9);
    }

    #[test]
    fn weights_match_an_f64_construction() {
        let bank = MelFilterbank::new(40, 512, 16_000, 0, 8_000);
        let (lo, hi) = (slaney_hz_to_mel(0.0), slaney_hz_to_mel(8000.0));
        let edges: Vec<f64> = (0..42)
            .map(|i| slaney_mel_to_hz(lo + (hi - lo) * i as f64 / 41.0))
            .collect();
        let scale = 2f64.powi(WEIGHT_BITS as i32);
        for (i, band) in bank.bands.iter().enumerate() {
            for k in 0..257 {
                let f = k as f64 * 16_000.0 / 512.0;
                let tri = ((f - edges[i]) / (edges[i + 1] - edges[i]))
                    .min((edges[i + 2] - f) / (edges[i + 2] - edges[i + 1]))
                    .max(0.0);
                let want = tri * 2.0 / (edges[i + 2] - edges[i]);
                let got = if k >= band.first_bin && k < band.first_bin + band.weights.len() {
                    band.weights[k - band.first_bin] as f64 / scale
                } else {
                    0.0
                };
                assert!(
                    (got - want).abs() < 1e-9,
                    "band {i} bin {k}: {got} vs {want}"
                );
            }
            assert!(!band.weights.is_empty(), "band {i} is empty");
        }
    }
}
