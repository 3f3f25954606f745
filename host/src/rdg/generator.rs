//! DG, the densely-stacked generator (spec §5.3).
//!
//! ```text
//!  embedding ─► CA ─► c ─┬──────────────────┬──────────────────┐
//!          z ─► [c, z] ─► stage 1 ─► h1 ─► refine 2 ─► h2 ─► refine 3 ─► h3
//!                            │              │                 │
//!                         image 64²      image 128²        image 256²
//! ```
//!
//! Stage 1: fc → BN1d → GLU → 16·ngf×4×4 → four up-blocks → h1 (ngf×64×64).
//! Refinement stage k (width n): [tile(c), h] → join → residual blocks → r → [r, h] → up-block →
//! n/2 channels at twice the side. The `[r, h]` concatenation is the paper's "dense" connection
//! (spec §5.3); without it (`dense = false`) the up-block sees r alone, as in StackGAN-v2.
//!
//! The stages are exposed one by one ([`Generator::condition`], [`Generator::stage1`],
//! [`Generator::refine`]) so the exporter can write one graph per stage (design decision 5).
//!
//! Variable names: `ca.fc`, `stage1.{fc, bn, up1..up4, to_image}`,
//! `stage{k}.{join, res{i}, up, to_image}` under the path given to [`Generator::new`].

use tch::{nn, nn::Module, nn::ModuleT, Tensor};

use super::blocks::{batch_norm1d, glu, tile, JoinBlock, ResBlock, ToImage, UpBlock};
use super::conditioning::ConditioningAugmentation;
use super::config::{Architecture, RdgConfig, STAGE1_SIDE, STAGE1_UPSAMPLES};
use super::fused::FusedStages;

/// Everything one generator pass produces.
#[derive(Debug)]
pub struct GeneratorOutput {
    /// One image per stage, smallest first, `[B, 3, S, S]` in [-1, 1].
    pub images: Vec<Tensor>,
    /// CA mean (what the discriminators are conditioned on) and log-variance (for the KL term).
    pub mu: Tensor,
    pub logvar: Tensor,
}

/// `INIT_STAGE_G`: [c, z] → h1 (ngf × 64 × 64).
#[derive(Debug)]
pub struct InitStage {
    pub fc: nn::Linear,
    pub bn: nn::BatchNorm,
    pub ups: Vec<UpBlock>,
    pub to_image: ToImage,
    width: i64,
}

impl InitStage {
    fn new(p: nn::Path, cfg: &RdgConfig) -> Self {
        let width = cfg.stage1_width();
        let fc_out = 2 * width * STAGE1_SIDE * STAGE1_SIDE;
        let no_bias = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        let mut ups = Vec::with_capacity(STAGE1_UPSAMPLES);
        let mut ch = width;
        for i in 1..=STAGE1_UPSAMPLES {
            ups.push(UpBlock::new(&p / format!("up{i}"), ch, ch / 2));
            ch /= 2;
        }
        Self {
            fc: nn::linear(&p / "fc", cfg.condition_dim + cfg.z_dim, fc_out, no_bias),
            bn: batch_norm1d(&p / "bn", fc_out),
            ups,
            to_image: ToImage::new(&p / "to_image", ch),
            width,
        }
    }

    fn forward_t(&self, c: &Tensor, z: &Tensor, train: bool) -> (Tensor, Tensor) {
        let x = Tensor::cat(&[c, z], 1);
        let x = glu(&x.apply(&self.fc).apply_t(&self.bn, train));
        // Channel-major, as PyTorch's view(-1, 16·ngf, 4, 4).
        let mut h = x.view([-1, self.width, STAGE1_SIDE, STAGE1_SIDE]);
        for up in &self.ups {
            h = up.forward_t(&h, train);
        }
        let image = self.to_image.forward(&h);
        (h, image)
    }
}

/// `NEXT_STAGE_G` of width n: (h: n×S×S, c) → (n/2 × 2S × 2S, image).
#[derive(Debug)]
pub struct RefineStage {
    pub join: JoinBlock,
    pub res: Vec<ResBlock>,
    pub up: UpBlock,
    pub to_image: ToImage,
    pub dense: bool,
}

impl RefineStage {
    fn new(p: nn::Path, cfg: &RdgConfig, k: usize) -> Self {
        let n = cfg.refine_width(k);
        Self {
            join: JoinBlock::new(&p / "join", cfg.condition_dim + n, n),
            res: (1..=cfg.residual_blocks)
                .map(|i| ResBlock::new(&p / format!("res{i}"), n))
                .collect(),
            up: UpBlock::new(&p / "up", cfg.refine_up_in(k), n / 2),
            to_image: ToImage::new(&p / "to_image", n / 2),
            dense: cfg.dense,
        }
    }

    fn forward_t(&self, h: &Tensor, c: &Tensor, train: bool) -> (Tensor, Tensor) {
        let side = h.size()[2];
        let mut r = self
            .join
            .forward_t(&Tensor::cat(&[&tile(c, side), h], 1), train);
        for block in &self.res {
            r = block.forward_t(&r, train);
        }
        // The dense skip: the up-block sees the refined and the raw features side by side.
        let u = if self.dense {
            Tensor::cat(&[&r, h], 1)
        } else {
            r
        };
        let h = self.up.forward_t(&u, train);
        let image = self.to_image.forward(&h);
        (h, image)
    }
}

/// The stages of one of the two architectures.
#[derive(Debug)]
pub enum Stages {
    Stacked {
        stage1: InitStage,
        /// Stages 2..=stages, in order.
        refine: Vec<RefineStage>,
    },
    Fused(FusedStages),
}

#[derive(Debug)]
pub struct Generator {
    pub config: RdgConfig,
    pub ca: ConditioningAugmentation,
    pub stages: Stages,
}

impl Generator {
    /// Builds the networks with tch's default initialisation; apply [`super::init::init_weights`]
    /// for the spec's. Panics if `cfg` does not [validate](RdgConfig::validate).
    pub fn new(p: nn::Path, cfg: &RdgConfig) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("invalid RDG config: {e}");
        }
        let stages = match cfg.architecture {
            Architecture::Stacked => Stages::Stacked {
                stage1: InitStage::new(&p / "stage1", cfg),
                refine: (2..=cfg.stages)
                    .map(|k| RefineStage::new(&p / format!("stage{k}"), cfg, k))
                    .collect(),
            },
            Architecture::Fused => Stages::Fused(FusedStages::new(&p, cfg)),
        };
        Self {
            config: cfg.clone(),
            ca: ConditioningAugmentation::new(&p / "ca", cfg.embedding_dim, cfg.condition_dim),
            stages,
        }
    }

    /// The stacked generator's stages, for code that reads their layers (the exporter).
    pub fn stacked(&self) -> Option<(&InitStage, &[RefineStage])> {
        match &self.stages {
            Stages::Stacked { stage1, refine } => Some((stage1, refine)),
            Stages::Fused(_) => None,
        }
    }

    /// What [`super::init::init_weights`] cannot know: the fused affines start as identities.
    pub fn finish_init(&self) {
        if let Stages::Fused(f) = &self.stages {
            f.reset_affines();
        }
    }

    pub fn stages(&self) -> usize {
        self.config.stages
    }

    /// Conditioning augmentation: `[B, E]` → `(c, μ, log σ²)`; `sample = false` gives c = μ.
    pub fn condition(&self, embedding: &Tensor, sample: bool) -> (Tensor, Tensor, Tensor) {
        if self.config.embedding_scale == 1.0 {
            self.ca.forward(embedding, sample)
        } else {
            self.ca
                .forward(&(embedding * self.config.embedding_scale), sample)
        }
    }

    /// Stage 1: `c` `[B, cond]`, `z` `[B, z_dim]` → `(h1 [B, ngf, 64, 64], image [B, 3, 64, 64])`.
    pub fn stage1(&self, c: &Tensor, z: &Tensor, train: bool) -> (Tensor, Tensor) {
        match &self.stages {
            Stages::Stacked { stage1, .. } => stage1.forward_t(c, z, train),
            Stages::Fused(f) => f.stage1(c, z),
        }
    }

    /// Refinement stage `k` (2 ≤ k ≤ stages): the previous stage's features and the same `c` →
    /// `(h_k, image_k)` at twice the side.
    pub fn refine(&self, k: usize, h: &Tensor, c: &Tensor, train: bool) -> (Tensor, Tensor) {
        assert!(
            (2..=self.stages()).contains(&k),
            "refinement stage {k} does not exist (this generator has stages 2..={})",
            self.stages()
        );
        match &self.stages {
            Stages::Stacked { refine, .. } => refine[k - 2].forward_t(h, c, train),
            Stages::Fused(f) => f.refine(k, h, c),
        }
    }

    /// The whole generator: `embedding` `[B, E]`, `z` `[B, z_dim]`.
    pub fn forward_t(
        &self,
        embedding: &Tensor,
        z: &Tensor,
        train: bool,
        sample_condition: bool,
    ) -> GeneratorOutput {
        let (c, mu, logvar) = self.condition(embedding, sample_condition);
        let (mut h, image) = self.stage1(&c, z, train);
        let mut images = vec![image];
        for k in 2..=self.stages() {
            let (next, image) = self.refine(k, &h, &c, train);
            images.push(image);
            h = next;
        }
        GeneratorOutput { images, mu, logvar }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdg::config::tiny;
    use tch::{Device, Kind};

    fn inputs(cfg: &RdgConfig) -> (Tensor, Tensor) {
        let opts = (Kind::Float, Device::Cpu);
        (
            Tensor::randn([2, cfg.embedding_dim], opts),
            Tensor::randn([2, cfg.z_dim], opts),
        )
    }

    fn trainable(vs: &nn::VarStore) -> u64 {
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel() as u64)
            .sum()
    }

    #[test]
    fn embedding_scale_multiplies_what_the_ca_sees() {
        let mut cfg = tiny(1);
        cfg.embedding_scale = 4.0;
        let vs = nn::VarStore::new(Device::Cpu);
        let g = Generator::new(vs.root() / "g", &cfg);
        let (e, _) = inputs(&cfg);
        let (_, mu, logvar) = g.condition(&e, false);
        let (_, mu_ref, logvar_ref) = g.ca.forward(&(&e * 4.0), false);
        assert!(mu.allclose(&mu_ref, 1e-6, 1e-6, false));
        assert!(logvar.allclose(&logvar_ref, 1e-6, 1e-6, false));
        cfg.embedding_scale = 0.0;
        assert!(cfg.validate().unwrap_err().contains("embedding_scale"));
    }

    #[test]
    fn image_shapes_for_one_two_three_stages() {
        for stages in 1..=3 {
            tch::manual_seed(0);
            let cfg = tiny(stages);
            let vs = nn::VarStore::new(Device::Cpu);
            let g = Generator::new(vs.root() / "g", &cfg);
            let (e, z) = inputs(&cfg);
            let out = g.forward_t(&e, &z, true, true);
            let sides: Vec<i64> = out.images.iter().map(|i| i.size()[2]).collect();
            assert_eq!(sides, cfg.image_sizes());
            for (img, s) in out.images.iter().zip(cfg.image_sizes()) {
                assert_eq!(img.size(), [2, 3, s, s]);
            }
            assert_eq!(out.mu.size(), [2, 4]);
            assert_eq!(out.logvar.size(), [2, 4]);
            assert_eq!(trainable(&vs), cfg.generator_params(), "stages {stages}");
        }
    }

    #[test]
    fn variable_names_are_stable() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _g = Generator::new(vs.root() / "g", &tiny(3));
        let names = vs.variables();
        for n in [
            "g.ca.fc.weight",
            "g.ca.fc.bias",
            "g.stage1.fc.weight",
            "g.stage1.bn.running_var",
            "g.stage1.up4.conv.weight",
            "g.stage1.to_image.conv.weight",
            "g.stage2.join.conv.weight",
            "g.stage2.res1.bn2.bias",
            "g.stage3.up.bn.weight",
            "g.stage3.to_image.conv.weight",
        ] {
            assert!(names.contains_key(n), "missing {n}");
        }
        assert!(!names.contains_key("g.stage1.fc.bias"));
    }

    #[test]
    fn per_stage_pieces_compose_to_forward() {
        tch::manual_seed(3);
        let cfg = tiny(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let g = Generator::new(vs.root(), &cfg);
        let (e, z) = inputs(&cfg);
        // Eval mode and c = μ: everything deterministic.
        let out = g.forward_t(&e, &z, false, false);
        let (c, mu, _) = g.condition(&e, false);
        assert!(c.equal(&mu) && mu.equal(&out.mu));
        let (h1, i1) = g.stage1(&c, &z, false);
        assert_eq!(h1.size(), [2, cfg.feature_channels(1), 64, 64]);
        let (h2, i2) = g.refine(2, &h1, &c, false);
        assert_eq!(h2.size(), [2, cfg.feature_channels(2), 128, 128]);
        let (h3, i3) = g.refine(3, &h2, &c, false);
        assert_eq!(h3.size(), [2, cfg.feature_channels(3), 256, 256]);
        for (a, b) in [i1, i2, i3].iter().zip(&out.images) {
            assert!(a.equal(b));
        }
    }

    /// With the dense skip the up-block reads [r, h] (2n channels), without it r (n). Zeroing the
    /// h half of the dense up-conv must give exactly the plain generator, and any non-zero h half
    /// must change the images: the skip is there, carries h, and sits after r.
    #[test]
    fn dense_concatenation_follows_the_flag() {
        let plain_cfg = RdgConfig {
            dense: false,
            ..tiny(2)
        };
        let dense_cfg = tiny(2);
        let n = dense_cfg.refine_width(2);

        tch::manual_seed(5);
        let plain_vs = nn::VarStore::new(Device::Cpu);
        let plain = Generator::new(plain_vs.root(), &plain_cfg);
        let dense_vs = nn::VarStore::new(Device::Cpu);
        let dense = Generator::new(dense_vs.root(), &dense_cfg);
        assert_eq!(
            plain.stacked().unwrap().1[0].up.conv.ws.size(),
            [n, n, 3, 3]
        );
        assert_eq!(
            dense.stacked().unwrap().1[0].up.conv.ws.size(),
            [n, 2 * n, 3, 3]
        );

        // Same weights everywhere, the dense up-conv = [plain's, 0].
        let plain_vars = plain_vs.variables();
        let up = "stage2.up.conv.weight";
        tch::no_grad(|| {
            for (name, mut t) in dense_vs.variables() {
                if name == up {
                    let w = Tensor::cat(&[&plain_vars[up], &plain_vars[up].zeros_like()], 1);
                    t.copy_(&w);
                } else {
                    t.copy_(&plain_vars[&name]);
                }
            }
        });
        let (e, z) = inputs(&dense_cfg);
        let a = plain.forward_t(&e, &z, true, false);
        let b = dense.forward_t(&e, &z, true, false);
        let diff = |x: &Tensor, y: &Tensor| (x - y).abs().max().double_value(&[]);
        assert!(diff(&a.images[1], &b.images[1]) < 1e-5);

        tch::no_grad(|| {
            let w = dense_vs.variables()[up].shallow_clone();
            let _ = w.narrow(1, n, n).fill_(0.1);
        });
        let b = dense.forward_t(&e, &z, true, false);
        assert!(a.images[0].equal(&b.images[0]));
        assert!(diff(&a.images[1], &b.images[1]) > 1e-3);
    }

    /// The paper's generator built for real: 21 285 776 trainable parameters (spec §11.1).
    #[test]
    fn paper_generator_parameter_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _g = Generator::new(vs.root() / "g", &RdgConfig::paper());
        assert_eq!(trainable(&vs), 21_285_776);
        assert_eq!(RdgConfig::paper().generator_params(), 21_285_776);
    }
}
