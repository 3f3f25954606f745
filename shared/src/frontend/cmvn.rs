//! Per-utterance mean and variance normalisation of each band, in integers.
//!
//! Input and output are Q16 (2^16 = 1.0). The mean is Σx/T rounded; the variance Σ(x − μ)²/T is
//! Q32 in i64 (|x − μ| < 2^23, T ≤ 60 000 frames, so the sum is below 2^63); the standard
//! deviation is its integer square root (Q16), at least one step; the output is
//! (x − μ)·2^16/σ rounded half away from zero, saturated to ±(2^24 − 1) so that converting it
//! to f32 is exact.

use super::fixed::{div_round_i128, isqrt_u128};

const SATURATION: i64 = (1 << 24) - 1;

/// Normalises each `frames`-long row of `rows` in place.
pub fn normalise_rows(rows: &mut [i32], frames: usize) {
    if frames == 0 {
        return;
    }
    for row in rows.chunks_exact_mut(frames) {
        let t = frames as i128;
        let sum: i128 = row.iter().map(|&v| v as i128).sum();
        let mean = div_round_i128(sum, t) as i64;
        let squares: i128 = row
            .iter()
            .map(|&v| (v as i64 - mean) as i128)
            .map(|d| d * d)
            .sum();
        let variance = div_round_i128(squares, t);
        let std = (isqrt_u128(variance as u128) as i64).max(1);
        for v in row.iter_mut() {
            let z = div_round_i128(((*v as i64 - mean) as i128) << 16, std as i128) as i64;
            *v = z.clamp(-SATURATION, SATURATION) as i32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_get_zero_mean_and_unit_variance() {
        let mut rows: Vec<i32> = (0..200)
            .map(|i| ((i * 7919) % 101) * 4000 - 150_000)
            .collect();
        normalise_rows(&mut rows, 100);
        for row in rows.chunks(100) {
            let mean: f64 = row.iter().map(|&v| v as f64 / 65536.0).sum::<f64>() / 100.0;
            let var: f64 = row
                .iter()
                .map(|&v| (v as f64 / 65536.0 - mean).powi(2))
                .sum::<f64>()
                / 100.0;
            assert!(mean.abs() < 1e-3, "{mean}");
            assert!((var - 1.0).abs() < 1e-3, "{var}");
        }
    }

    #[test]
    fn a_constant_band_becomes_zero() {
        let mut rows = vec![-1_000_000; 50];
        normalise_rows(&mut rows, 50);
        assert!(rows.iter().all(|&v| v == 0));
    }
}
