//! The Fréchet distance between two sets of feature vectors, each summarised as a Gaussian
//! (FID's formula, on whatever feature space the caller picks — here the attribute probe's):
//!
//! d² = |μa − μb|² + tr(Σa) + tr(Σb) − 2·tr((Σa^½ Σb Σa^½)^½)
//!
//! The cross term is computed through symmetric eigendecompositions rather than a general matrix
//! square root of Σa·Σb: both arguments are symmetric positive semi-definite, so `eigh` is exact
//! up to rounding and never returns complex values. Everything runs in f64 on the CPU, because
//! the cross term is a difference of large, nearly equal numbers when the sets are close.

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

/// Fréchet distance (squared, as FID reports it) between the rows of `a` `[N, F]` and of `b`
/// `[M, F]`. Covariances use the unbiased (N − 1) normalisation. Needs at least two rows each.
pub fn frechet_distance(a: &Tensor, b: &Tensor) -> Result<f64> {
    let (mu_a, cov_a) = moments(a, "first")?;
    let (mu_b, cov_b) = moments(b, "second")?;
    if mu_a.size() != mu_b.size() {
        bail!(
            "Fréchet distance: the sets have {} and {} features per row",
            mu_a.size()[0],
            mu_b.size()[0]
        );
    }
    let mean_term = f64::try_from((&mu_a - &mu_b).square().sum(Kind::Double))?;
    let trace_a = f64::try_from(cov_a.trace())?;
    let trace_b = f64::try_from(cov_b.trace())?;
    let root_a = psd_sqrt(&cov_a)?;
    let cross = symmetrise(&root_a.matmul(&cov_b).matmul(&root_a));
    let trace_cross = f64::try_from(psd_eigenvalues(&cross)?.sqrt().sum(Kind::Double))?;
    // Rounding can take a distance of (nearly) zero a hair below it.
    Ok((mean_term + trace_a + trace_b - 2.0 * trace_cross).max(0.0))
}

/// Mean `[F]` and covariance `[F, F]` of the rows, in f64 on the CPU.
fn moments(x: &Tensor, which: &str) -> Result<(Tensor, Tensor)> {
    let size = x.size();
    if size.len() != 2 {
        bail!("Fréchet distance: the {which} set must be [rows, features], got {size:?}");
    }
    if size[0] < 2 {
        bail!(
            "Fréchet distance: the {which} set has {} row(s); a covariance needs at least 2",
            size[0]
        );
    }
    let x = x.to_device(Device::Cpu).to_kind(Kind::Double);
    let mu = x.mean_dim([0].as_slice(), false, Kind::Double);
    let centred = &x - mu.unsqueeze(0);
    let cov = centred.transpose(0, 1).matmul(&centred) / (size[0] - 1) as f64;
    if !bool::try_from(cov.isfinite().all())? {
        bail!("Fréchet distance: the {which} set holds non-finite values");
    }
    Ok((mu, symmetrise(&cov)))
}

fn symmetrise(m: &Tensor) -> Tensor {
    (m + m.transpose(0, 1)) * 0.5
}

/// Eigenvalues of a symmetric PSD matrix, with the tiny negative ones rounding leaves set to 0.
fn psd_eigenvalues(m: &Tensor) -> Result<Tensor> {
    let (values, _) = m.f_linalg_eigh("L")?;
    Ok(values.clamp_min(0.0))
}

/// The symmetric square root V·diag(√λ)·Vᵀ of a symmetric PSD matrix.
fn psd_sqrt(m: &Tensor) -> Result<Tensor> {
    let (values, vectors) = m.f_linalg_eigh("L")?;
    let root = values.clamp_min(0.0).sqrt();
    Ok((&vectors * root.unsqueeze(0)).matmul(&vectors.transpose(0, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n`×`f` ±1 columns of a Sylvester–Hadamard matrix (skipping the all-ones column): every
    /// column has mean 0 and the columns are orthogonal, so the sample covariance is exactly
    /// n/(n−1)·I and closed forms hold without sampling error.
    fn hadamard_columns(n: usize, f: usize) -> Tensor {
        assert!(n.is_power_of_two() && f < n);
        let entry = |i: usize, j: usize| {
            if (i & j).count_ones().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            }
        };
        let data: Vec<f64> = (0..n)
            .flat_map(|i| (1..=f).map(move |j| entry(i, j)))
            .collect();
        Tensor::from_slice(&data).view([n as i64, f as i64])
    }

    /// Rows with the given mean and per-feature standard deviation (sample, unbiased) exactly.
    fn gaussian_like(n: usize, mean: &[f64], std: &[f64]) -> Tensor {
        let z = hadamard_columns(n, mean.len());
        let scale = ((n as f64 - 1.0) / n as f64).sqrt();
        let std = Tensor::from_slice(std) * scale;
        z * std.unsqueeze(0) + Tensor::from_slice(mean).unsqueeze(0)
    }

    #[test]
    fn identical_sets_are_at_distance_zero() {
        tch::manual_seed(1);
        let x = Tensor::randn([200, 16], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
        let d = frechet_distance(&x, &x).unwrap();
        assert!(d.abs() < 1e-8, "{d}");
    }

    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        let (mean_a, std_a) = ([0.0, 1.0, -2.0, 0.5], [1.0, 2.0, 0.5, 3.0]);
        let (mean_b, std_b) = ([1.0, 1.0, 0.0, -0.5], [2.0, 0.5, 0.5, 1.0]);
        let a = gaussian_like(16, &mean_a, &std_a);
        let b = gaussian_like(16, &mean_b, &std_b);
        let expected: f64 = (0..4)
            .map(|i| (mean_a[i] - mean_b[i]).powi(2) + (std_a[i] - std_b[i]).powi(2))
            .sum();
        let d = frechet_distance(&a, &b).unwrap();
        assert!((d - expected).abs() < 1e-9, "{d} vs {expected}");
    }

    #[test]
    fn a_shared_rotation_does_not_change_the_distance() {
        // Non-diagonal covariances: rotate both diagonal sets by the same orthogonal matrix.
        let a = gaussian_like(32, &[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        let b = gaussian_like(32, &[1.0, 0.0, 2.0], &[3.0, 1.0, 0.5]);
        tch::manual_seed(3);
        let (q, _) = Tensor::linalg_qr(
            &Tensor::randn([3, 3], (Kind::Double, Device::Cpu)),
            "reduced",
        );
        let expected = 1.0 + 1.0 + 4.0 + 1.0 + 6.25;
        let d = frechet_distance(&a.matmul(&q), &b.matmul(&q)).unwrap();
        assert!((d - expected).abs() < 1e-9, "{d} vs {expected}");
    }

    #[test]
    fn the_distance_is_symmetric() {
        tch::manual_seed(2);
        let a = Tensor::randn([100, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([70, 8], (Kind::Float, Device::Cpu)).square() + 0.5;
        let ab = frechet_distance(&a, &b).unwrap();
        let ba = frechet_distance(&b, &a).unwrap();
        assert!(ab > 0.1);
        assert!((ab - ba).abs() < 1e-9 * ab.max(1.0), "{ab} vs {ba}");
    }

    #[test]
    fn bad_shapes_are_refused() {
        let one = Tensor::zeros([1, 4], (Kind::Float, Device::Cpu));
        let two = Tensor::zeros([2, 4], (Kind::Float, Device::Cpu));
        let err = frechet_distance(&one, &two).unwrap_err().to_string();
        assert!(err.contains("at least 2"), "{err}");
        let other = Tensor::zeros([2, 5], (Kind::Float, Device::Cpu));
        assert!(frechet_distance(&two, &other).is_err());
        assert!(frechet_distance(&two.view([8]), &two).is_err());
    }
}
