//! Seeded Gaussian noise for the generator's z, the same on the trainer and the board: one wav
//! and one seed give one picture wherever they are drawn (independent of libtorch's RNG).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` standard normal samples from ChaCha8 seeded with `seed` (Box–Muller, cosine branch).
pub fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.gen();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_standard_normal() {
        assert_eq!(gaussian(5, 7), gaussian(5, 7));
        assert_ne!(gaussian(5, 7), gaussian(5, 8));
        let x = gaussian(20_000, 1);
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
