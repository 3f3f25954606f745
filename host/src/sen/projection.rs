//! A 2-D picture of embeddings: PCA onto the two leading components, one colour per class
//! (like the paper's t-SNE figure of speech embeddings).

use std::path::Path;

use anyhow::Result;
use tch::{Kind, Tensor};

use crate::report::{Group, Scatter};

/// Projects `[n, dim]` rows onto their two principal components (signs fixed so the largest
/// coefficient of each axis is positive, for a stable picture).
pub fn pca_2d(rows: &[f32], dim: usize) -> Result<Vec<(f32, f32)>> {
    let n = rows.len() / dim;
    if n < 2 {
        return Ok(vec![(0.0, 0.0); n]);
    }
    let x = Tensor::from_slice(rows)
        .view([n as i64, dim as i64])
        .to_kind(Kind::Double);
    let x = &x - x.mean_dim([0].as_slice(), true, Kind::Double);
    let (_, _, v) = x.svd(true, true);
    let mut axes = v.narrow(1, 0, 2.min(v.size()[1])).transpose(0, 1);
    let flip = axes.gather(1, &axes.abs().argmax(1, true), false).sign();
    axes *= flip;
    let p = x
        .matmul(&axes.transpose(0, 1))
        .to_kind(Kind::Float)
        .contiguous();
    let flat = Vec::<f32>::try_from(p.flatten(0, -1))?;
    let k = flat.len() / n;
    Ok((0..n)
        .map(|i| (flat[i * k], if k > 1 { flat[i * k + 1] } else { 0.0 }))
        .collect())
}

/// Writes the scatter for the given labelled rows.
pub fn write_projection(
    path: &Path,
    title: &str,
    rows: &[f32],
    dim: usize,
    labels: &[String],
) -> Result<()> {
    let points = pca_2d(rows, dim)?;
    let mut names: Vec<&String> = labels.iter().collect();
    names.sort();
    names.dedup();
    let groups = names
        .iter()
        .map(|name| Group {
            name: (*name).clone(),
            points: points
                .iter()
                .zip(labels)
                .filter(|(_, l)| l == name)
                .map(|(p, _)| *p)
                .collect(),
        })
        .collect();
    Scatter {
        title: title.into(),
        groups,
    }
    .write_png(path, 900, 700)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_spread_direction() {
        // Points spread along (1, 1, 0)/√2 with a little noise on the third axis.
        let rows: Vec<f32> = (0..10)
            .flat_map(|i| {
                let t = i as f32 - 4.5;
                [t, t, 0.01 * (i % 2) as f32]
            })
            .collect();
        let p = pca_2d(&rows, 3).unwrap();
        let spread = p.iter().map(|q| q.0).fold(f32::MIN, f32::max)
            - p.iter().map(|q| q.0).fold(f32::MAX, f32::min);
        assert!((spread - 9.0 * 2f32.sqrt()).abs() < 1e-3, "{spread}");
        assert!(p.iter().all(|q| q.1.abs() < 0.01));
    }
}
