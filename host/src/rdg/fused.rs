//! The fused generator (DF-GAN, Tao et al. 2022; Fusion-S2iGan for speech): the condition enters
//! **every** up-block through per-channel affines, instead of once at the start of a stage.
//!
//! ```text
//!  [c, z] ─► fc ─► 8n×4² ─► up-block ─► … ─► up-block ─► h1 (n×64²) ─► image 64²
//!                              ▲ c             ▲ c          │
//!                                                  up-block(c) ─► h2 (n/2×128²) ─► image 128²
//! up-block(x, c) = s(↑x) + conv(fuse(conv(fuse(↑x, c)), c))      s = 1×1 when widths differ
//! fuse(x, c)     = lrelu(affine₂(lrelu(affine₁(x, c)), c))      affine = γ(c)·x + β(c)
//! ```
//!
//! No normalisation layer: the affines are the only place the condition shapes the features, so
//! nothing can normalise it away, and a picture does not depend on the batch it was drawn in.
//! Stages keep the stacked generator's interface (stage 1 from `(c, z)`, stage k from
//! `(h, c)`), so a board still draws the 64² preview first.
//!
//! Variable names: `stage1.{fc, up1..up4, to_image}`, `stage{k}.{up, to_image}`; an up-block's
//! `fuse{1,2}.affine{1,2}.{gamma,beta}.{hidden,out}` and `conv{1,2}`, `shortcut`.

use tch::{nn, nn::Module, Tensor};

use super::config::{RdgConfig, STAGE1_SIDE};

/// LeakyReLU with slope 0.2.
pub fn leaky_relu(xs: &Tensor) -> Tensor {
    xs.maximum(&(xs * 0.2))
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        padding: k / 2,
        ..Default::default()
    };
    nn::conv2d(p, i, o, k, cfg)
}

/// A two-layer MLP from the condition to one value per channel.
#[derive(Debug)]
pub struct ChannelMlp {
    pub hidden: nn::Linear,
    pub out: nn::Linear,
}

impl ChannelMlp {
    fn new(p: nn::Path, condition: i64, channels: i64) -> Self {
        Self {
            hidden: nn::linear(&p / "hidden", condition, channels, Default::default()),
            out: nn::linear(&p / "out", channels, channels, Default::default()),
        }
    }

    fn forward(&self, c: &Tensor) -> Tensor {
        c.apply(&self.hidden).relu().apply(&self.out)
    }
}

/// x·(1 + γ(c)) + β(c), per channel. The output layers start at zero, so every affine starts as
/// the identity and the condition's influence grows as it is learned.
#[derive(Debug)]
pub struct ConditionAffine {
    pub gamma: ChannelMlp,
    pub beta: ChannelMlp,
}

impl ConditionAffine {
    fn new(p: nn::Path, condition: i64, channels: i64) -> Self {
        Self {
            gamma: ChannelMlp::new(&p / "gamma", condition, channels),
            beta: ChannelMlp::new(&p / "beta", condition, channels),
        }
    }

    /// `[B, C, H, W]`, `[B, cond]` → `[B, C, H, W]`.
    pub fn forward(&self, x: &Tensor, c: &Tensor) -> Tensor {
        let per_channel = |t: Tensor| t.unsqueeze(-1).unsqueeze(-1);
        let scale = per_channel(self.gamma.forward(c) + 1.0);
        let shift = per_channel(self.beta.forward(c));
        x * scale + shift
    }

    fn zero_outputs(&self) {
        tch::no_grad(|| {
            for mlp in [&self.gamma, &self.beta] {
                let _ = mlp.out.ws.shallow_clone().fill_(0.0);
                if let Some(b) = &mlp.out.bs {
                    let _ = b.shallow_clone().fill_(0.0);
                }
            }
        });
    }
}

/// Two rounds of (affine, LeakyReLU 0.2).
#[derive(Debug)]
pub struct Fuse {
    pub affine1: ConditionAffine,
    pub affine2: ConditionAffine,
}

impl Fuse {
    fn new(p: nn::Path, condition: i64, channels: i64) -> Self {
        Self {
            affine1: ConditionAffine::new(&p / "affine1", condition, channels),
            affine2: ConditionAffine::new(&p / "affine2", condition, channels),
        }
    }

    pub fn forward(&self, x: &Tensor, c: &Tensor) -> Tensor {
        let x = leaky_relu(&self.affine1.forward(x, c));
        leaky_relu(&self.affine2.forward(&x, c))
    }
}

/// Nearest ×2, then the fused residual branch beside a (1×1 when the width changes) shortcut.
#[derive(Debug)]
pub struct FusedUpBlock {
    pub fuse1: Fuse,
    pub conv1: nn::Conv2D,
    pub fuse2: Fuse,
    pub conv2: nn::Conv2D,
    pub shortcut: Option<nn::Conv2D>,
}

impl FusedUpBlock {
    pub fn new(p: nn::Path, condition: i64, in_channels: i64, out_channels: i64) -> Self {
        Self {
            fuse1: Fuse::new(&p / "fuse1", condition, in_channels),
            conv1: conv(&p / "conv1", in_channels, out_channels, 3),
            fuse2: Fuse::new(&p / "fuse2", condition, out_channels),
            conv2: conv(&p / "conv2", out_channels, out_channels, 3),
            shortcut: (in_channels != out_channels)
                .then(|| conv(&p / "shortcut", in_channels, out_channels, 1)),
        }
    }

    pub fn forward(&self, x: &Tensor, c: &Tensor) -> Tensor {
        let (_, _, h, w) = x.size4().expect("FusedUpBlock expects [B, C, H, W]");
        let up = x.upsample_nearest2d([2 * h, 2 * w], None, None);
        let branch = self.fuse1.forward(&up, c).apply(&self.conv1);
        let branch = self.fuse2.forward(&branch, c).apply(&self.conv2);
        let skip = match &self.shortcut {
            Some(s) => up.apply(s),
            None => up,
        };
        skip + branch
    }

    fn affines(&self) -> [&ConditionAffine; 4] {
        [
            &self.fuse1.affine1,
            &self.fuse1.affine2,
            &self.fuse2.affine1,
            &self.fuse2.affine2,
        ]
    }
}

/// LeakyReLU → conv3×3 C→3 (with bias) → tanh.
#[derive(Debug)]
pub struct RgbHead {
    pub conv: nn::Conv2D,
}

impl RgbHead {
    fn new(p: nn::Path, channels: i64) -> Self {
        Self {
            conv: conv(&p / "conv", channels, 3, 3),
        }
    }
}

impl Module for RgbHead {
    fn forward(&self, xs: &Tensor) -> Tensor {
        leaky_relu(xs).apply(&self.conv).tanh()
    }
}

/// `[c, z]` → h1 (ngf × 64²) and the 64² image.
#[derive(Debug)]
pub struct FusedInit {
    pub fc: nn::Linear,
    pub ups: Vec<FusedUpBlock>,
    pub to_image: RgbHead,
    width: i64,
}

impl FusedInit {
    fn new(p: nn::Path, cfg: &RdgConfig) -> Self {
        let widths = cfg.fused_stage1_widths();
        let width = widths[0].0;
        let fc_out = width * STAGE1_SIDE * STAGE1_SIDE;
        Self {
            fc: nn::linear(
                &p / "fc",
                cfg.condition_dim + cfg.z_dim,
                fc_out,
                Default::default(),
            ),
            ups: widths
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| {
                    FusedUpBlock::new(&p / format!("up{}", i + 1), cfg.condition_dim, a, b)
                })
                .collect(),
            to_image: RgbHead::new(&p / "to_image", widths[widths.len() - 1].1),
            width,
        }
    }

    fn forward(&self, c: &Tensor, z: &Tensor) -> (Tensor, Tensor) {
        let x = Tensor::cat(&[c, z], 1).apply(&self.fc);
        let mut h = x.view([-1, self.width, STAGE1_SIDE, STAGE1_SIDE]);
        for up in &self.ups {
            h = up.forward(&h, c);
        }
        let image = self.to_image.forward(&h);
        (h, image)
    }
}

/// One more fused up-block and its image: (h, c) → (h at twice the side, image).
#[derive(Debug)]
pub struct FusedRefine {
    pub up: FusedUpBlock,
    pub to_image: RgbHead,
}

impl FusedRefine {
    fn new(p: nn::Path, cfg: &RdgConfig, k: usize) -> Self {
        let (i, o) = (cfg.feature_channels(k - 1), cfg.feature_channels(k));
        Self {
            up: FusedUpBlock::new(&p / "up", cfg.condition_dim, i, o),
            to_image: RgbHead::new(&p / "to_image", o),
        }
    }

    fn forward(&self, h: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
        let h = self.up.forward(h, c);
        let image = self.to_image.forward(&h);
        (h, image)
    }
}

/// Every stage of the fused generator (the conditioning augmentation lives in
/// [`super::Generator`], shared with the stacked one).
#[derive(Debug)]
pub struct FusedStages {
    pub stage1: FusedInit,
    pub refine: Vec<FusedRefine>,
}

impl FusedStages {
    pub fn new(p: &nn::Path, cfg: &RdgConfig) -> Self {
        Self {
            stage1: FusedInit::new(p / "stage1", cfg),
            refine: (2..=cfg.stages)
                .map(|k| FusedRefine::new(p / format!("stage{k}"), cfg, k))
                .collect(),
        }
    }

    pub fn stage1(&self, c: &Tensor, z: &Tensor) -> (Tensor, Tensor) {
        self.stage1.forward(c, z)
    }

    pub fn refine(&self, k: usize, h: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
        self.refine[k - 2].forward(h, c)
    }

    /// Sets every affine to the identity (to call after the orthogonal initialisation).
    pub fn reset_affines(&self) {
        let blocks = self
            .stage1
            .ups
            .iter()
            .chain(self.refine.iter().map(|r| &r.up));
        for block in blocks {
            for affine in block.affines() {
                affine.zero_outputs();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdg::config::{tiny, Architecture};
    use tch::{Device, Kind};

    fn fused_tiny(stages: usize) -> RdgConfig {
        RdgConfig {
            architecture: Architecture::Fused,
            ..tiny(stages)
        }
    }

    #[test]
    fn shapes_and_parameter_count_match_the_config() {
        for stages in 1..=3 {
            tch::manual_seed(0);
            let cfg = fused_tiny(stages);
            let vs = nn::VarStore::new(Device::Cpu);
            let g = crate::rdg::Generator::new(vs.root() / "g", &cfg);
            let e = Tensor::randn([2, cfg.embedding_dim], (Kind::Float, Device::Cpu));
            let z = Tensor::randn([2, cfg.z_dim], (Kind::Float, Device::Cpu));
            let out = g.forward_t(&e, &z, true, true);
            for (img, s) in out.images.iter().zip(cfg.image_sizes()) {
                assert_eq!(img.size(), [2, 3, s, s]);
            }
            let params: u64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as u64)
                .sum();
            assert_eq!(params, cfg.generator_params(), "stages {stages}");
        }
    }

    /// Zeroed output layers make every affine the identity, so the condition reaches the image
    /// only through the fc at first; a non-zero γ output must then change the picture.
    #[test]
    fn affines_start_as_identity_and_carry_the_condition() {
        tch::manual_seed(1);
        let cfg = fused_tiny(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let stages = FusedStages::new(&vs.root(), &cfg);
        stages.reset_affines();
        let width = cfg.fused_stage1_widths()[0].0;
        let x = Tensor::randn([2, width, 3, 3], (Kind::Float, Device::Cpu));
        let c = Tensor::randn([2, cfg.condition_dim], (Kind::Float, Device::Cpu));
        let affine = &stages.stage1.ups[0].fuse1.affine1;
        assert!(affine.forward(&x, &c).allclose(&x, 1e-6, 1e-6, false));

        let z = Tensor::randn([2, cfg.z_dim], (Kind::Float, Device::Cpu));
        let (_, before) = stages.stage1(&c, &z);
        let c2 = Tensor::randn([2, cfg.condition_dim], (Kind::Float, Device::Cpu));
        tch::no_grad(|| {
            let _ = affine.gamma.out.ws.shallow_clone().fill_(0.5);
        });
        let (_, with_c) = stages.stage1(&c, &z);
        let (_, with_c2) = stages.stage1(&c2, &z);
        let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(diff(&before, &with_c) > 1e-4);
        // The same fc input with another affine condition: only the affines tell them apart.
        assert!(diff(&with_c, &with_c2) > 1e-4);
    }

    #[test]
    fn fused_costs_count_the_convolutions() {
        let cfg = RdgConfig::fused();
        let macs = cfg.generator_macs_per_stage();
        assert_eq!(macs.len(), 2);
        // Stage 1 at ngf 16: four up-blocks of about 28 MMAC each, plus the head and the fc.
        assert!((100e6..130e6).contains(&(macs[0] as f64)), "{macs:?}");
        assert!(macs[1] > 0);
    }
}
