//! DF-GAN's discriminator, one per scale: residual down-blocks without normalisation, judged on
//! the speech embedding itself rather than on the generator's CA mean.
//!
//! ```text
//!  image ─► conv3×3 ─► down-block × (log₂(size/4)) ─► x (8·ndf × 4 × 4) ─► 4×4 head ─► unconditional
//!  [x, tile(e)] ─► conv3×3 LReLU ─► 4×4 head ─► conditional
//! down-block(x) = avgpool(s(x)) + g · lrelu(conv3×3(lrelu(conv4×4/2(x))))   g starts at 0
//! ```
//!
//! Without BN a logit depends on its own image only, which the matching-aware gradient penalty
//! needs (a per-sample gradient), and the zero gain lets each block start as the identity.
//! Variable names: `stem`, `down{i}.{conv1, conv2, shortcut, gain}`, `joint`, `logits`,
//! `uncond_logits`.

use tch::{nn, Tensor};

use super::blocks::tile;
use super::config::{RdgConfig, D_FEATURE_SIDE};
use super::discriminator::DiscriminatorLogits;
use super::fused::leaky_relu;

#[derive(Debug)]
pub struct ResidualDownBlock {
    pub conv1: nn::Conv2D,
    pub conv2: nn::Conv2D,
    pub shortcut: Option<nn::Conv2D>,
    pub gain: Tensor,
}

impl ResidualDownBlock {
    fn new(p: nn::Path, i: i64, o: i64) -> Self {
        let conv = |name: &str, i: i64, k: i64, stride: i64, padding: i64, bias: bool| {
            let cfg = nn::ConvConfig {
                stride,
                padding,
                bias,
                ..Default::default()
            };
            nn::conv2d(&p / name, i, o, k, cfg)
        };
        Self {
            conv1: conv("conv1", i, 4, 2, 1, false),
            conv2: conv("conv2", o, 3, 1, 1, false),
            shortcut: (i != o).then(|| conv("shortcut", i, 1, 1, 0, true)),
            gain: p.zeros("gain", &[1]),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let branch = leaky_relu(&x.apply(&self.conv1));
        let branch = leaky_relu(&branch.apply(&self.conv2));
        let skip = match &self.shortcut {
            Some(s) => x.apply(s),
            None => x.shallow_clone(),
        };
        let skip = skip.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
        skip + branch * &self.gain
    }
}

#[derive(Debug)]
pub struct ResidualDiscriminator {
    pub size: i64,
    pub stem: nn::Conv2D,
    pub down: Vec<ResidualDownBlock>,
    pub joint: nn::Conv2D,
    pub logits: nn::Conv2D,
    pub uncond_logits: nn::Conv2D,
}

/// Widths of the down-blocks for a `size`² image: ndf doubling up to 8·ndf, then staying there.
pub fn down_widths(ndf: i64, size: i64) -> Vec<(i64, i64)> {
    let levels = (size / D_FEATURE_SIDE).trailing_zeros() as i64;
    let mut widths = Vec::new();
    let mut ch = ndf;
    for l in 0..levels {
        let next = (ndf << (l + 1)).min(8 * ndf);
        widths.push((ch, next));
        ch = next;
    }
    widths
}

impl ResidualDiscriminator {
    /// The discriminator for `size`² images conditioned on `condition`-sized vectors.
    pub fn new(p: nn::Path, cfg: &RdgConfig, size: i64, condition: i64) -> Self {
        let ndf = cfg.ndf;
        let widths = down_widths(ndf, size);
        let ch = widths.last().map_or(ndf, |w| w.1);
        let conv = |name: &str, i: i64, o: i64, k: i64, padding: i64, bias: bool| {
            let c = nn::ConvConfig {
                padding,
                bias,
                ..Default::default()
            };
            nn::conv2d(&p / name, i, o, k, c)
        };
        Self {
            size,
            stem: conv("stem", 3, ndf, 3, 1, true),
            down: widths
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| ResidualDownBlock::new(&p / format!("down{}", i + 1), a, b))
                .collect(),
            joint: conv("joint", ch + condition, 2 * ndf, 3, 1, true),
            logits: conv("logits", 2 * ndf, 1, D_FEATURE_SIDE, 0, true),
            uncond_logits: conv("uncond_logits", ch, 1, D_FEATURE_SIDE, 0, true),
        }
    }

    /// `images` `[B, 3, size, size]` → `[B, 8·ndf, 4, 4]`.
    pub fn features(&self, images: &Tensor) -> Tensor {
        let s = images.size();
        assert!(
            s.len() == 4 && s[2] == self.size && s[3] == self.size,
            "D{} got images of shape {s:?}",
            self.size
        );
        let mut x = images.apply(&self.stem);
        for block in &self.down {
            x = block.forward(&x);
        }
        x
    }

    pub fn heads(&self, x: &Tensor, condition: &Tensor) -> DiscriminatorLogits {
        let joint = Tensor::cat(&[x, &tile(condition, D_FEATURE_SIDE)], 1).apply(&self.joint);
        DiscriminatorLogits {
            cond: leaky_relu(&joint).apply(&self.logits).view([-1]),
            uncond: leaky_relu(x).apply(&self.uncond_logits).view([-1]),
        }
    }

    pub fn forward(&self, images: &Tensor, condition: &Tensor) -> DiscriminatorLogits {
        self.heads(&self.features(images), condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdg::config::tiny;
    use tch::{Device, Kind};

    #[test]
    fn widths_reach_four_by_four() {
        assert_eq!(
            down_widths(16, 64),
            [(16, 32), (32, 64), (64, 128), (128, 128)]
        );
        assert_eq!(down_widths(16, 128).len(), 5);
    }

    #[test]
    fn one_logit_per_image_and_no_batch_coupling() {
        tch::manual_seed(0);
        let cfg = tiny(2);
        for size in [64, 128] {
            let vs = nn::VarStore::new(Device::Cpu);
            let d = ResidualDiscriminator::new(vs.root(), &cfg, size, cfg.embedding_dim);
            let x = Tensor::randn([3, 3, size, size], (Kind::Float, Device::Cpu));
            let e = Tensor::randn([3, cfg.embedding_dim], (Kind::Float, Device::Cpu));
            let all = d.forward(&x, &e);
            assert_eq!(all.cond.size(), [3]);
            assert_eq!(all.uncond.size(), [3]);
            // Without BN, an image's logit does not depend on the others in its batch.
            let one = d.forward(&x.narrow(0, 1, 1), &e.narrow(0, 1, 1));
            assert!(one
                .cond
                .allclose(&all.cond.narrow(0, 1, 1), 1e-5, 1e-5, false));
        }
    }
}
