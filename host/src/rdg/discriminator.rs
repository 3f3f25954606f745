//! The per-scale discriminators D64, D128, D256 (spec §6), StackGAN-v2 style.
//!
//! ```text
//!  image ─► 16× down-sampler ─► [extra down-blocks ─► 3×3 squeezes] ─► x (8·ndf × 4 × 4)
//!   x ─────────────────────────────────────────────► 4×4 head ─► unconditional logit
//!   [tile(μ), x] ─► conv3×3 BN LReLU ─────────────► 4×4 head ─► conditional logit
//! ```
//!
//! The heads return **logits**: the paper ends them with a sigmoid and applies BCE, we leave the
//! sigmoid to BCE-with-logits in [`super::losses`], which computes log σ(x) without the
//! saturation (log 0) a separate sigmoid hits once D is confident.
//!
//! Variable names under the given path: `down{1..}.{conv, bn}` (down1 has no BN; D128 and D256
//! add down5, down6), `squeeze{1..}.{conv, bn}`, `joint.{conv, bn}`, `logits`, `uncond_logits`.

use tch::{nn, nn::ModuleT, Tensor};

use super::blocks::{batch_norm2d, tile};
use super::config::{discriminator_extra_levels, RdgConfig, D_FEATURE_SIDE};

/// LeakyReLU with slope 0.2 (tch's `leaky_relu` is fixed at 0.01).
fn leaky_relu(xs: &Tensor) -> Tensor {
    xs.maximum(&(xs * 0.2))
}

/// Convolution (no bias) → optional BN → LeakyReLU 0.2.
#[derive(Debug)]
pub struct ConvBnLrelu {
    pub conv: nn::Conv2D,
    pub bn: Option<nn::BatchNorm>,
}

impl ConvBnLrelu {
    fn new(p: nn::Path, i: i64, o: i64, kernel: i64, stride: i64, bn: bool) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            padding: 1, // 4×4 stride 2 halves the side; 3×3 stride 1 keeps it
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(&p / "conv", i, o, kernel, cfg),
            bn: bn.then(|| batch_norm2d(&p / "bn", o)),
        }
    }
}

impl ModuleT for ConvBnLrelu {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let x = xs.apply(&self.conv);
        let x = match &self.bn {
            Some(bn) => x.apply_t(bn, train),
            None => x,
        };
        leaky_relu(&x)
    }
}

/// Both heads' logits, `[B]` each.
#[derive(Debug)]
pub struct DiscriminatorLogits {
    /// Real-and-matching vs not, given μ.
    pub cond: Tensor,
    /// Real vs generated, ignoring the condition.
    pub uncond: Tensor,
}

#[derive(Debug)]
pub struct Discriminator {
    /// Input image side.
    pub size: i64,
    /// Stride-2 4×4 blocks: the common 16× down-sampler, then D128/D256's extra levels.
    pub down: Vec<ConvBnLrelu>,
    /// 3×3 blocks halving the channels back to 8·ndf.
    pub squeeze: Vec<ConvBnLrelu>,
    pub joint: ConvBnLrelu,
    pub logits: nn::Conv2D,
    pub uncond_logits: nn::Conv2D,
}

impl Discriminator {
    /// The discriminator for `size`² images (64, 128 or 256; panics otherwise, since the sizes
    /// come from a validated [`RdgConfig::image_sizes`]).
    pub fn for_scale(p: nn::Path, cfg: &RdgConfig, size: i64) -> Self {
        let extra = discriminator_extra_levels(size).unwrap_or_else(|e| panic!("{e}"));
        let ndf = cfg.ndf;
        let mut down = Vec::new();
        let mut ch = 3;
        for (i, out) in [ndf, 2 * ndf, 4 * ndf, 8 * ndf].into_iter().enumerate() {
            // No BN on the first layer (it would normalise away the image's colour statistics).
            down.push(ConvBnLrelu::new(
                &p / format!("down{}", i + 1),
                ch,
                out,
                4,
                2,
                i > 0,
            ));
            ch = out;
        }
        for i in 0..extra {
            down.push(ConvBnLrelu::new(
                &p / format!("down{}", i + 5),
                ch,
                2 * ch,
                4,
                2,
                true,
            ));
            ch *= 2;
        }
        let mut squeeze = Vec::new();
        for i in 0..extra {
            squeeze.push(ConvBnLrelu::new(
                &p / format!("squeeze{}", i + 1),
                ch,
                ch / 2,
                3,
                1,
                true,
            ));
            ch /= 2;
        }
        let head = |name: &str| {
            let cfg = nn::ConvConfig {
                stride: 4,
                ..Default::default()
            };
            nn::conv2d(&p / name, ch, 1, D_FEATURE_SIDE, cfg)
        };
        Self {
            size,
            joint: ConvBnLrelu::new(&p / "joint", cfg.condition_dim + ch, ch, 3, 1, true),
            logits: head("logits"),
            uncond_logits: head("uncond_logits"),
            down,
            squeeze,
        }
    }

    /// `images` `[B, 3, size, size]` → x `[B, 8·ndf, 4, 4]`, shared by both heads.
    pub fn features_t(&self, images: &Tensor, train: bool) -> Tensor {
        let s = images.size();
        assert!(
            s.len() == 4 && s[2] == self.size && s[3] == self.size,
            "D{} got images of shape {s:?}",
            self.size
        );
        let mut x = images.shallow_clone();
        for block in self.down.iter().chain(&self.squeeze) {
            x = block.forward_t(&x, train);
        }
        x
    }

    /// Both heads on features `x` with condition `mu` `[B, cond]`.
    pub fn heads_t(&self, x: &Tensor, mu: &Tensor, train: bool) -> DiscriminatorLogits {
        let joint = self
            .joint
            .forward_t(&Tensor::cat(&[&tile(mu, D_FEATURE_SIDE), x], 1), train);
        DiscriminatorLogits {
            cond: joint.apply(&self.logits).view([-1]),
            uncond: x.apply(&self.uncond_logits).view([-1]),
        }
    }

    pub fn forward_t(&self, images: &Tensor, mu: &Tensor, train: bool) -> DiscriminatorLogits {
        self.heads_t(&self.features_t(images, train), mu, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdg::config::tiny;
    use tch::{Device, Kind};

    #[test]
    fn every_scale_gives_one_logit_per_image_per_head() {
        tch::manual_seed(0);
        let cfg = tiny(3);
        for size in cfg.image_sizes() {
            let vs = nn::VarStore::new(Device::Cpu);
            let d = Discriminator::for_scale(vs.root() / format!("d{size}"), &cfg, size);
            let x = Tensor::randn([2, 3, size, size], (Kind::Float, Device::Cpu));
            let mu = Tensor::randn([2, cfg.condition_dim], (Kind::Float, Device::Cpu));
            assert_eq!(d.features_t(&x, true).size(), [2, 8 * cfg.ndf, 4, 4]);
            let out = d.forward_t(&x, &mu, true);
            assert_eq!(out.cond.size(), [2]);
            assert_eq!(out.uncond.size(), [2]);
            let params: u64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as u64)
                .sum();
            assert_eq!(params, cfg.discriminator_params(size), "D{size}");
        }
    }

    /// D64 and D128 of the paper, built: spec §11.3's 5.72 M and 18.83 M.
    #[test]
    fn paper_discriminator_parameter_counts() {
        let cfg = RdgConfig::paper();
        for (size, expected) in [(64, 5_723_906u64), (128, 18_834_178)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let _d = Discriminator::for_scale(vs.root(), &cfg, size);
            let params: u64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as u64)
                .sum();
            assert_eq!(params, expected);
            assert_eq!(cfg.discriminator_params(size), expected);
        }
    }

    #[test]
    fn names_and_biases() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _d = Discriminator::for_scale(vs.root() / "d256", &tiny(3), 256);
        let names = vs.variables();
        for n in [
            "d256.down1.conv.weight",
            "d256.down6.bn.weight",
            "d256.squeeze2.conv.weight",
            "d256.joint.bn.bias",
            "d256.logits.bias",
            "d256.uncond_logits.weight",
        ] {
            assert!(names.contains_key(n), "missing {n}");
        }
        assert!(!names.contains_key("d256.down1.bn.weight"));
        assert!(!names.contains_key("d256.joint.conv.bias"));
    }

    #[test]
    fn leaky_relu_slope() {
        let x = Tensor::from_slice(&[-1.0f32, 2.0]);
        let y = Vec::<f32>::try_from(leaky_relu(&x)).unwrap();
        assert_eq!(y, [-0.2, 2.0]);
    }
}
