//! The RDG's sizes, loss weights and optimiser settings, with the two presets (design decision 6).
//!
//! Costs are computed here from the layer shapes alone (no network is built), so the trainer, the
//! exporter's manifest and the presets' reasoning all quote the same numbers. MACs count only the
//! convolutions and linear layers (BN, GLU, upsampling and tanh are element-wise and, at inference,
//! BN folds into the preceding convolution); parameters count BN's γ and β (spec §11).

use serde::{Deserialize, Serialize};

/// Side of stage 1's first feature map (spec §5.3: the fc output is reshaped to 16·ngf × 4 × 4).
pub const STAGE1_SIDE: i64 = 4;
/// Stage 1's four ×2 up-blocks take 4² to 64², the first image.
pub const STAGE1_UPSAMPLES: usize = 4;
/// Side of the first stage's image.
pub const BASE_IMAGE_SIZE: i64 = 64;
/// The paper's three branches (64², 128², 256²); the discriminators exist for these scales only.
pub const MAX_STAGES: usize = 3;
/// Every discriminator reduces its input to this side before the heads (spec §6).
pub const D_FEATURE_SIDE: i64 = 4;
/// Hidden width of the relation supervisor's classifier (spec §7).
pub const RS_HIDDEN: i64 = 128;

/// How the generator is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// The paper's densely-stacked stages: the condition joins once per stage, BN + GLU blocks.
    #[default]
    Stacked,
    /// One generator whose every up-block fuses the condition by per-channel affines (DF-GAN);
    /// no normalisation; each stage past the first is one more fused up-block with its own image.
    Fused,
}

/// Which discriminator judges each scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DiscriminatorKind {
    /// StackGAN-v2's: strided convolutions with BN, conditioned on the CA mean μ.
    #[default]
    Stacked,
    /// DF-GAN's: residual down-blocks with a zero-initialised gain, no BN, conditioned on the
    /// speech embedding itself (a fixed input, so a gradient penalty can reach it).
    Residual,
}

/// The adversarial objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AdversarialLoss {
    /// Binary cross-entropy (the paper's).
    #[default]
    Bce,
    /// Hinge: D pushes real logits above 1 and others below −1; G raises its logits.
    Hinge,
}

/// Differentiable augmentation applied alike to every image D sees, in both steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentPolicy {
    #[default]
    None,
    /// DiffAugment's translation (±1/8) and cutout (half the side), without its colour transform,
    /// which would erase the colours a conditional D has to judge.
    TranslationCutout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RdgConfig {
    pub preset: String,
    /// Noise dimension.
    pub z_dim: i64,
    /// Speech-embedding dimension (the SEN's output; the IED projects images to the same size).
    pub embedding_dim: i64,
    /// Conditioning-augmentation output c (and μ, log σ²).
    pub condition_dim: i64,
    /// Factor on the speech embedding before the CA (spec: 1). The SEN's embeddings are unit
    /// vectors, so each of D components is about 1/√D while the CA's noise is about 1: at 1 the
    /// condition starts as almost pure noise. √D makes the components about unit size.
    #[serde(default = "unit_scale")]
    pub embedding_scale: f64,
    /// Generator width: stage 1 starts at 16·ngf channels and ends at ngf; stage k ≥ 2 works at
    /// ngf / 2^(k−2) and hands on half of that.
    pub ngf: i64,
    /// Discriminator width: the down-sampler goes 3 → ndf → 2ndf → 4ndf → 8ndf.
    pub ndf: i64,
    /// 1 = 64², 2 = 64²→128², 3 = 64²→128²→256².
    pub stages: usize,
    /// Residual blocks per refinement stage.
    pub residual_blocks: usize,
    /// Densely-stacked refinement (concat the stage input with the residual output before the
    /// up-block); false = the StackGAN-v2 stage of the "w/o Dense" ablation.
    pub dense: bool,
    /// Train with the relation supervisor (false = the "w/o RS" ablation).
    pub rs: bool,
    #[serde(default)]
    pub architecture: Architecture,
    #[serde(default)]
    pub discriminator: DiscriminatorKind,
    #[serde(default)]
    pub loss: AdversarialLoss,
    #[serde(default)]
    pub augment: AugmentPolicy,
    /// Weight of the matching-aware gradient penalty on real, matching pairs (0 = off).
    #[serde(default)]
    pub ma_gp_weight: f64,
    /// Weight of the paired reconstruction: L1 between each generated image and its caption's own
    /// real image, both averaged down to `pair_side`² (0 = off). Supervises layout and colour
    /// directly; at low resolution it leaves detail to the adversarial loss.
    #[serde(default)]
    pub pair_weight: f64,
    #[serde(default = "default_pair_side")]
    pub pair_side: i64,
    pub kl_weight: f64,
    pub rs_weight: f64,
    pub uncond_weight: f64,
    pub lr_g: f64,
    pub lr_d: f64,
    pub lr_rs: f64,
    pub betas: (f64, f64),
    pub ema_decay: f64,
    pub batch_size: usize,
    pub epochs: u64,
    /// Seeds the initial weights, the data order and every step's noise (spec: 200).
    pub seed: u64,
}

fn unit_scale() -> f64 {
    1.0
}

fn default_pair_side() -> i64 {
    16
}

impl RdgConfig {
    /// The spec's sizes (§5–§8): 21.3 M generator parameters, 9.12 GMAC for all three images.
    pub fn paper() -> Self {
        Self {
            preset: "paper".into(),
            z_dim: 100,
            embedding_dim: 1024,
            condition_dim: 128,
            embedding_scale: 1.0,
            ngf: 64,
            ndf: 64,
            stages: 3,
            residual_blocks: 2,
            dense: true,
            rs: true,
            architecture: Architecture::Stacked,
            discriminator: DiscriminatorKind::Stacked,
            loss: AdversarialLoss::Bce,
            augment: AugmentPolicy::None,
            ma_gp_weight: 0.0,
            pair_weight: 0.0,
            pair_side: default_pair_side(),
            kl_weight: 2.0,
            rs_weight: 1.0,
            uncond_weight: 1.0,
            lr_g: 2e-4,
            lr_d: 2e-4,
            lr_rs: 2e-4,
            betas: (0.5, 0.999),
            ema_decay: 0.999,
            batch_size: 24,
            epochs: 600,
            seed: 200,
        }
    }

    /// Board-sized: two stages (64² → 128²), ngf = ndf = 16, one residual block, condition 64 on
    /// the edge SEN's 256-d embeddings, batch 16, 100 epochs.
    ///
    /// **Why this size.** Training, not inference, sets the budget: a 2-core CPU for about two
    /// hours on 1 600 images. A training step costs per sample about 3× the generator's forward
    /// MACs (forward, then backward in the G step) plus about 12× the discriminators' (real, wrong
    /// and fake through each D forward and backward, then the fake again for the G step).
    ///
    /// * Two stages at ngf 16: stage 1 154 MMAC (with CA and its 64² head), stage 2 202 MMAC
    ///   (with its 128² head), 356 MMAC in all, 3.9 % of the paper's 9.12 G; 2.25 M parameters
    ///   (9 MB f32, about 2.3 MB int8), 98 % of them in stage 1. D64 + D128 at ndf 16: 56 MMAC,
    ///   1.6 M parameters. A step is about 1.7 GMAC per sample. Measured on an idle 2-core x86
    ///   (libtorch, 2 threads, batch 16, stand-in image encoder): 33 ms per sample, 53 s per
    ///   epoch of 1 600, so 100 epochs (10 000 G updates) take about 90 minutes and leave room
    ///   for data loading and the image encoder.
    /// * A third stage is what breaks the budget. Its join, residual and up-convolutions run at
    ///   128²–256², and with few channels the tiled condition dominates the join: at ngf 16
    ///   stage 3 alone is 281 MMAC and D256 207 MMAC, 5.1 GMAC per sample per step (2.9× the
    ///   two-stage model, so about 45 epochs in two hours). Paying for it with ngf 8 (1.5 GMAC)
    ///   draws the 256² image from 4 feature channels.
    /// * ngf 32 at two stages (1.26 GMAC, 4.4 GMAC per sample per step) would allow only about
    ///   50 epochs; on 1 600 images we would rather have the G updates than the width. ngf 12
    ///   (216 MMAC) leaves stage 2 drawing from 6 channels.
    /// * On the board: 356 MMAC is roughly 40–70 ms on a Pi 4's four A72 cores at the 5–10
    ///   GMAC/s that f32 convolutions reach there, with the 64² preview after 154 MMAC. The 240²
    ///   TFT shows the 128² picture scaled up; 256² would be 2.6× the compute for little gain.
    /// * Embedding scale √256 = 16 (the spec has 1): with unit SEN vectors the first edge run's
    ///   condition stayed noise-dominated (KL 0.14 after 48 epochs) and its pictures ignored the
    ///   caption (body colour accuracy 0.084 against a 0.086 shuffled floor); at 16 the KL
    ///   reached 1 within 12 epochs and the colours follow the speech.
    pub fn edge() -> Self {
        Self {
            preset: "edge".into(),
            embedding_dim: 256,
            condition_dim: 64,
            embedding_scale: 16.0,
            ngf: 16,
            ndf: 16,
            stages: 2,
            residual_blocks: 1,
            batch_size: 16,
            epochs: 100,
            ..Self::paper()
        }
    }

    /// Board-sized like [`RdgConfig::edge`], with the recipe that came after the paper: the
    /// condition fused into every generator block (DF-GAN), a residual discriminator on the
    /// speech embedding with hinge loss, a matching-aware gradient penalty and TTUR, DiffAugment
    /// without colour, and the paired low-resolution reconstruction; no relation supervisor.
    /// `docs/notes/generator-recipe.md` compares it with `edge` at equal CPU minutes.
    pub fn fused() -> Self {
        Self {
            preset: "fused".into(),
            architecture: Architecture::Fused,
            discriminator: DiscriminatorKind::Residual,
            loss: AdversarialLoss::Hinge,
            augment: AugmentPolicy::TranslationCutout,
            ma_gp_weight: 2.0,
            pair_weight: 10.0,
            rs: false,
            lr_g: 1e-4,
            lr_d: 4e-4,
            betas: (0.0, 0.9),
            ..Self::edge()
        }
    }

    pub fn preset(name: &str) -> Result<Self, String> {
        match name {
            "paper" => Ok(Self::paper()),
            "edge" => Ok(Self::edge()),
            "fused" => Ok(Self::fused()),
            other => Err(format!(
                "unknown RDG preset `{other}` (expected paper, edge or fused)"
            )),
        }
    }

    /// Checks everything the networks assume; the message names the setting and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_STAGES).contains(&self.stages) {
            return Err(format!(
                "stages must be 1, 2 or 3 (images of 64², 128², 256²), got {}",
                self.stages
            ));
        }
        for (name, v) in [
            ("z_dim", self.z_dim),
            ("embedding_dim", self.embedding_dim),
            ("condition_dim", self.condition_dim),
            ("ngf", self.ngf),
            ("ndf", self.ndf),
        ] {
            if v <= 0 {
                return Err(format!("{name} must be positive, got {v}"));
            }
        }
        // Each refinement stage's up-block halves its width n with a GLU (n → n/2 channels).
        let multiple = 1i64 << (self.stages - 1);
        if self.ngf % multiple != 0 {
            return Err(format!(
                "ngf {} cannot be halved {} time(s) by the refinement stages' GLU up-blocks: with \
                 {} stages it must be a multiple of {multiple}",
                self.ngf,
                self.stages - 1,
                self.stages
            ));
        }
        if !(self.embedding_scale.is_finite() && self.embedding_scale > 0.0) {
            return Err(format!(
                "embedding_scale must be a positive number, got {}",
                self.embedding_scale
            ));
        }
        for (name, w) in [
            ("kl_weight", self.kl_weight),
            ("rs_weight", self.rs_weight),
            ("uncond_weight", self.uncond_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("{name} must be a finite number ≥ 0, got {w}"));
            }
        }
        for (name, lr) in [
            ("lr_g", self.lr_g),
            ("lr_d", self.lr_d),
            ("lr_rs", self.lr_rs),
        ] {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(format!("{name} must be a positive number, got {lr}"));
            }
        }
        let (b1, b2) = self.betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return Err(format!("Adam betas must lie in [0, 1), got ({b1}, {b2})"));
        }
        if !(0.0..=1.0).contains(&self.ema_decay) {
            return Err(format!(
                "ema_decay must lie in [0, 1], got {}",
                self.ema_decay
            ));
        }
        if self.batch_size < 2 {
            return Err(format!(
                "batch_size must be at least 2 (batch-statistics BN in G, D and RS), got {}",
                self.batch_size
            ));
        }
        if self.epochs == 0 {
            return Err("epochs must be positive".into());
        }
        for (name, w) in [
            ("ma_gp_weight", self.ma_gp_weight),
            ("pair_weight", self.pair_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("{name} must be a finite number ≥ 0, got {w}"));
            }
        }
        if !(1..=BASE_IMAGE_SIZE).contains(&self.pair_side) || BASE_IMAGE_SIZE % self.pair_side != 0
        {
            return Err(format!(
                "pair_side must divide the first image's side {BASE_IMAGE_SIZE}, got {}",
                self.pair_side
            ));
        }
        if self.architecture == Architecture::Fused && self.ngf % 2 != 0 {
            return Err(format!(
                "the fused generator halves ngf on its way to 64²: ngf must be even, got {}",
                self.ngf
            ));
        }
        Ok(())
    }

    /// Image side of stage `k` (1-based): 64, 128, 256.
    pub fn image_size(&self, k: usize) -> i64 {
        BASE_IMAGE_SIZE << (k - 1)
    }

    /// Image sides of all stages, smallest first.
    pub fn image_sizes(&self) -> Vec<i64> {
        (1..=self.stages).map(|k| self.image_size(k)).collect()
    }

    /// Stage 1's width at 4×4.
    pub fn stage1_width(&self) -> i64 {
        16 * self.ngf
    }

    /// Width n of refinement stage `k ≥ 2` (its input features and its join/residual blocks).
    pub fn refine_width(&self, k: usize) -> i64 {
        assert!(k >= 2, "stage {k} is not a refinement stage");
        self.ngf >> (k - 2)
    }

    /// Channels of the features stage `k` hands on (and its image head reads).
    pub fn feature_channels(&self, k: usize) -> i64 {
        self.ngf >> (k - 1)
    }

    /// Channels entering refinement stage `k`'s up-block: 2n with the dense skip, n without.
    pub fn refine_up_in(&self, k: usize) -> i64 {
        let n = self.refine_width(k);
        if self.dense {
            2 * n
        } else {
            n
        }
    }

    /// Per stage, smallest first: stage 1 includes the conditioning augmentation, and every stage
    /// includes its own image head, so the list is what each exported stage costs per image and
    /// its sum is the cost of drawing every image (progressive display; also training's forward).
    pub fn generator_macs_per_stage(&self) -> Vec<u64> {
        self.generator_costs().iter().map(|c| c.macs).collect()
    }

    /// Trainable parameters per stage, split as [`RdgConfig::generator_macs_per_stage`].
    pub fn generator_params_per_stage(&self) -> Vec<u64> {
        self.generator_costs().iter().map(|c| c.params).collect()
    }

    pub fn generator_macs(&self) -> u64 {
        self.generator_macs_per_stage().iter().sum()
    }

    /// Trainable parameters of the whole generator (what the VarStore holds, BN buffers aside).
    pub fn generator_params(&self) -> u64 {
        self.generator_params_per_stage().iter().sum()
    }

    fn generator_costs(&self) -> Vec<Cost> {
        match self.architecture {
            Architecture::Stacked => self.stacked_costs(),
            Architecture::Fused => self.fused_costs(),
        }
    }

    /// Widths of the fused generator's stage-1 up-blocks, (in, out) from 4² to 64².
    pub fn fused_stage1_widths(&self) -> [(i64, i64); STAGE1_UPSAMPLES] {
        let n = self.ngf;
        [(8 * n, 8 * n), (8 * n, 4 * n), (4 * n, 2 * n), (2 * n, n)]
    }

    fn fused_costs(&self) -> Vec<Cost> {
        let c = self.condition_dim;
        let mut s1 = Cost::default();
        s1.linear(self.embedding_dim, 4 * c, true); // CA
        s1.linear(
            c + self.z_dim,
            8 * self.ngf * STAGE1_SIDE * STAGE1_SIDE,
            true,
        );
        let mut side = STAGE1_SIDE;
        for (i, o) in self.fused_stage1_widths() {
            side *= 2;
            s1.fused_block(c, i, o, side);
        }
        s1.conv(self.ngf, 3, 3, side, true);
        let mut stages = vec![s1];
        for k in 2..=self.stages {
            let mut st = Cost::default();
            let (i, o) = (self.feature_channels(k - 1), self.feature_channels(k));
            side *= 2;
            st.fused_block(c, i, o, side);
            st.conv(o, 3, 3, side, true);
            stages.push(st);
        }
        stages
    }

    fn stacked_costs(&self) -> Vec<Cost> {
        let c = self.condition_dim;
        let mut stages = Vec::with_capacity(self.stages);

        let mut s1 = Cost::default();
        s1.linear(self.embedding_dim, 4 * c, true); // CA, then GLU → μ ‖ log σ²
        let fc_out = 2 * self.stage1_width() * STAGE1_SIDE * STAGE1_SIDE;
        s1.linear(c + self.z_dim, fc_out, false);
        s1.bn(fc_out);
        let (mut width, mut side) = (self.stage1_width(), STAGE1_SIDE);
        for _ in 0..STAGE1_UPSAMPLES {
            side *= 2;
            s1.up_block(width, width / 2, side);
            width /= 2;
        }
        s1.conv(width, 3, 3, side, false); // ToImage
        stages.push(s1);

        for k in 2..=self.stages {
            let n = self.refine_width(k);
            let mut st = Cost::default();
            st.join_block(c + n, n, side);
            for _ in 0..self.residual_blocks {
                st.res_block(n, side);
            }
            side *= 2;
            st.up_block(self.refine_up_in(k), n / 2, side);
            st.conv(n / 2, 3, 3, side, false);
            stages.push(st);
        }
        stages
    }

    /// Trainable parameters of the discriminator for images of side `size` (64, 128 or 256).
    pub fn discriminator_params(&self, size: i64) -> u64 {
        self.discriminator_cost(size).params
    }

    /// MACs of one pass of that discriminator (features and both heads) per image.
    pub fn discriminator_macs(&self, size: i64) -> u64 {
        self.discriminator_cost(size).macs
    }

    fn discriminator_cost(&self, size: i64) -> Cost {
        let extra = discriminator_extra_levels(size).unwrap_or_else(|e| panic!("{e}"));
        let ndf = self.ndf;
        let mut d = Cost::default();
        let (mut side, mut ch) = (size, 3);
        for (i, out) in [ndf, 2 * ndf, 4 * ndf, 8 * ndf].into_iter().enumerate() {
            side /= 2;
            d.conv(ch, out, 4, side, false);
            if i > 0 {
                d.bn(out);
            }
            ch = out;
        }
        for _ in 0..extra {
            side /= 2;
            d.conv(ch, 2 * ch, 4, side, false);
            d.bn(2 * ch);
            ch *= 2;
        }
        for _ in 0..extra {
            d.conv(ch, ch / 2, 3, side, false);
            d.bn(ch / 2);
            ch /= 2;
        }
        debug_assert_eq!(side, D_FEATURE_SIDE);
        d.conv(self.condition_dim + ch, ch, 3, side, false);
        d.bn(ch);
        // Two 4×4 heads with bias, each one output over the whole 4×4 map.
        d.conv(ch, 1, D_FEATURE_SIDE, 1, true);
        d.conv(ch, 1, D_FEATURE_SIDE, 1, true);
        d
    }

    /// Relation supervisor parameters (spec §11.3: 263 044 for the paper).
    pub fn relation_params(&self) -> u64 {
        let mut rs = Cost::default();
        rs.linear(2 * self.embedding_dim, RS_HIDDEN, true);
        rs.bn(RS_HIDDEN);
        rs.linear(RS_HIDDEN, 4, true);
        rs.params
    }
}

/// A configuration small enough for unit tests on a CPU (`stages` from 1 to 3).
#[cfg(test)]
pub(crate) fn tiny(stages: usize) -> RdgConfig {
    RdgConfig {
        preset: "tiny".into(),
        z_dim: 6,
        embedding_dim: 10,
        condition_dim: 4,
        ngf: 4,
        ndf: 4,
        stages,
        residual_blocks: 1,
        batch_size: 2,
        epochs: 1,
        ..RdgConfig::paper()
    }
}

/// How many extra stride-2 levels a discriminator needs beyond the common 16× down-sampler.
pub(crate) fn discriminator_extra_levels(size: i64) -> Result<u32, String> {
    match size {
        64 => Ok(0),
        128 => Ok(1),
        256 => Ok(2),
        other => Err(format!(
            "discriminators exist for 64², 128² and 256² images, not {other}²"
        )),
    }
}

/// Parameter and MAC tally, layer by layer.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    params: u64,
    macs: u64,
}

impl Cost {
    fn linear(&mut self, i: i64, o: i64, bias: bool) {
        self.params += (i * o + if bias { o } else { 0 }) as u64;
        self.macs += (i * o) as u64;
    }

    fn bn(&mut self, channels: i64) {
        self.params += 2 * channels as u64;
    }

    /// k×k convolution producing an `out_side`² map.
    fn conv(&mut self, i: i64, o: i64, k: i64, out_side: i64, bias: bool) {
        self.params += (i * o * k * k + if bias { o } else { 0 }) as u64;
        self.macs += (out_side * out_side * i * o * k * k) as u64;
    }

    fn up_block(&mut self, i: i64, o: i64, out_side: i64) {
        self.conv(i, 2 * o, 3, out_side, false);
        self.bn(2 * o);
    }

    fn join_block(&mut self, i: i64, o: i64, side: i64) {
        self.up_block(i, o, side);
    }

    /// Per-channel affine of `channels` from a `condition`-sized vector: γ and β, each a
    /// two-layer MLP with biases.
    fn affine(&mut self, condition: i64, channels: i64) {
        for _ in 0..2 {
            self.linear(condition, channels, true);
            self.linear(channels, channels, true);
        }
    }

    /// Up ×2, fuse(i) → conv3×3 → fuse(o) → conv3×3, plus a 1×1 shortcut when i ≠ o; a fuse is
    /// two affines.
    fn fused_block(&mut self, condition: i64, i: i64, o: i64, out_side: i64) {
        self.affine(condition, i);
        self.affine(condition, i);
        self.conv(i, o, 3, out_side, true);
        self.affine(condition, o);
        self.affine(condition, o);
        self.conv(o, o, 3, out_side, true);
        if i != o {
            self.conv(i, o, 1, out_side, true);
        }
    }

    fn res_block(&mut self, c: i64, side: i64) {
        self.conv(c, 2 * c, 3, side, false);
        self.bn(2 * c);
        self.conv(c, c, 3, side, false);
        self.bn(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        RdgConfig::paper().validate().unwrap();
        RdgConfig::edge().validate().unwrap();
        RdgConfig::fused().validate().unwrap();
        assert_eq!(RdgConfig::preset("edge").unwrap(), RdgConfig::edge());
        assert_eq!(RdgConfig::preset("fused").unwrap(), RdgConfig::fused());
        assert!(RdgConfig::preset("huge")
            .unwrap_err()
            .contains("paper, edge or fused"));
    }

    #[test]
    fn validate_names_the_problem() {
        let bad = |f: &dyn Fn(&mut RdgConfig)| {
            let mut c = RdgConfig::paper();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(&|c| c.stages = 0).contains("stages must be 1, 2 or 3"));
        assert!(bad(&|c| c.stages = 4).contains("got 4"));
        assert!(bad(&|c| c.ngf = 6).contains("multiple of 4"));
        assert!(bad(&|c| c.ndf = 0).contains("ndf must be positive"));
        assert!(bad(&|c| c.batch_size = 1).contains("at least 2"));
        assert!(bad(&|c| c.betas = (1.0, 0.999)).contains("betas"));
        assert!(bad(&|c| c.lr_d = 0.0).contains("lr_d"));
        assert!(bad(&|c| c.kl_weight = f64::NAN).contains("kl_weight"));
        // Odd widths are fine when nothing halves them.
        let mut one = RdgConfig::paper();
        one.stages = 1;
        one.ngf = 7;
        one.validate().unwrap();
    }

    /// Spec §11.1, exact.
    #[test]
    fn paper_generator_costs_match_the_spec() {
        let c = RdgConfig::paper();
        assert_eq!(c.generator_params(), 21_285_776);
        // CA + stage 1 + ToImage64; stage 2 + ToImage128; stage 3 + ToImage256.
        assert_eq!(
            c.generator_params_per_stage(),
            [524_800 + 20_074_240 + 1_728, 517_248 + 864, 166_464 + 432]
        );
        let m: Vec<f64> = c
            .generator_macs_per_stage()
            .iter()
            .map(|&m| m as f64 / 1e6)
            .collect();
        let expect = [0.5 + 2423.4 + 7.1, 3019.9 + 14.2, 3623.9 + 28.3];
        for (got, want) in m.iter().zip(expect) {
            assert!((got - want).abs() < 0.2, "{m:?} vs {expect:?}");
        }
        let g = c.generator_macs() as f64 / 1e9;
        assert!((g - 9.12).abs() < 0.005, "{g}");
    }

    /// Spec §11.3: D64 5.72 M / 0.15 GMAC, D128 18.83 M / 0.67, D256 71.27 M / 3.16; RS 263 044.
    #[test]
    fn paper_discriminator_costs_match_the_spec() {
        let c = RdgConfig::paper();
        for (size, params, gmacs) in [(64, 5.72, 0.15), (128, 18.83, 0.67), (256, 71.27, 3.16)] {
            let p = c.discriminator_params(size) as f64 / 1e6;
            let m = c.discriminator_macs(size) as f64 / 1e9;
            assert!((p - params).abs() < 0.005, "D{size}: {p} M");
            assert!((m - gmacs).abs() < 0.005, "D{size}: {m} GMAC");
        }
        assert_eq!(c.relation_params(), 263_044);
    }

    /// The numbers quoted in [`RdgConfig::edge`]'s documentation.
    #[test]
    fn edge_costs_match_its_documentation() {
        let c = RdgConfig::edge();
        let m: Vec<u64> = c
            .generator_macs_per_stage()
            .iter()
            .map(|&m| (m as f64 / 1e6).round() as u64)
            .collect();
        assert_eq!(m, [154, 202]);
        let p = c.generator_params() as f64 / 1e6;
        assert!((p - 2.25).abs() < 0.005, "{p}");
        let d = (c.discriminator_macs(64) + c.discriminator_macs(128)) as f64 / 1e6;
        assert!((d - 56.0).abs() < 0.5, "{d}");
        let ratio = c.generator_macs() as f64 / RdgConfig::paper().generator_macs() as f64;
        assert!(ratio < 0.04, "{ratio}");
    }
}
