//! The generator written as one ONNX graph per stage (design decision 5), so the board can show
//! 64², then 128², then 256² as each is ready, or stop early on a slow board.
//!
//! ```text
//!  stage 1:  embedding [1,E], noise [1,Z] (, epsilon [1,C]) → image [1,3,64,64], features, condition
//!  stage k:  previous_features [1,n,S,S], condition [1,C]   → image [1,3,2S,2S], features
//! ```
//!
//! The condition is the CA mean μ (deterministic: one wav and one seed give one picture), or,
//! with [`ConditionMode::Sample`], μ + σ·ε with ε a further input.

use s2i_shared::bundle::Dim;
use tch::{Kind, Tensor};

use super::layers::{self, bn_affine, fold};
use super::onnx::{Attr, Elem, GraphBuilder};
use super::quantize::ConvPrecision;
use crate::rdg::config::STAGE1_SIDE;
use crate::rdg::generator::Generator;

/// Stage-graph tensor names (the bundle's interface with the board).
pub mod names {
    pub const EMBEDDING: &str = "embedding";
    pub const NOISE: &str = "noise";
    pub const EPSILON: &str = "epsilon";
    pub const IMAGE: &str = "image";
    pub const FEATURES: &str = "features";
    /// A refinement stage's input: the previous stage's `features`.
    pub const PREVIOUS_FEATURES: &str = "previous_features";
    pub const CONDITION: &str = "condition";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConditionMode {
    /// c = μ: the same wav and seed always give the same picture.
    Mean,
    /// c = μ + σ·ε, with ε an input: more variety, as the paper samples at test time.
    Sample,
}

/// Fixed dimensions for a manifest or value info.
pub fn fixed(dims: &[i64]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Fixed(d as u64)).collect()
}

/// The CA's rows that make μ (and log σ²): GLU(fc(e)) = a ⊙ σ(b) with a, b the first and second
/// halves of fc's 4·C outputs, and μ ‖ log σ² = GLU's output; so μ needs rows [0, C) and
/// [2C, 3C), log σ² rows [C, 2C) and [3C, 4C). `scale` (the embedding scale) is folded in.
fn ca_half(g: &mut GraphBuilder, gen: &Generator, x: &str, which: i64, hint: &str) -> String {
    let c = gen.config.condition_dim;
    let fc = &gen.ca.fc;
    let scale = gen.config.embedding_scale;
    let rows = |start: i64| {
        (
            fc.ws.detach().narrow(0, start, c) * scale,
            fc.bs
                .as_ref()
                .expect("the CA's linear layer has a bias")
                .detach()
                .narrow(0, start, c),
        )
    };
    let gemm = |g: &mut GraphBuilder, name: &str, (w, b): (Tensor, Tensor)| {
        let wn = g.weight(&format!("{name}.weight"), &w);
        let bn = g.weight(&format!("{name}.bias"), &b);
        g.node("Gemm", name, &[x, &wn, &bn], &[Attr::Int("transB", 1)])
    };
    let value = gemm(g, &format!("{hint}.value"), rows(which * c));
    let gate = gemm(g, &format!("{hint}.gate_in"), rows(2 * c + which * c));
    let gate = g.node("Sigmoid", &format!("{hint}.gate"), &[&gate], &[]);
    g.node("Mul", hint, &[&value, &gate], &[])
}

/// Stage 1: conditioning augmentation, then fc → BN1d → GLU → 4×4 → up-blocks → 64².
pub fn stage1_graph(
    gen: &Generator,
    mode: ConditionMode,
    precision: ConvPrecision,
) -> GraphBuilder {
    let cfg = &gen.config;
    let mut g = GraphBuilder::new("s2i_generator_stage1");
    g.quant.precision = precision;
    let e = g.input(names::EMBEDDING, Elem::F32, &fixed(&[1, cfg.embedding_dim]));
    let z = g.input(names::NOISE, Elem::F32, &fixed(&[1, cfg.z_dim]));
    let mu = ca_half(&mut g, gen, &e, 0, "ca.mu");
    let c = match mode {
        ConditionMode::Mean => mu,
        ConditionMode::Sample => {
            let eps = g.input(names::EPSILON, Elem::F32, &fixed(&[1, cfg.condition_dim]));
            let logvar = ca_half(&mut g, gen, &e, 1, "ca.logvar");
            let half = g.scalar("ca.half", 0.5);
            let half_logvar = g.node("Mul", "ca.half_logvar", &[&logvar, &half], &[]);
            let std = g.node("Exp", "ca.std", &[&half_logvar], &[]);
            let noise = g.node("Mul", "ca.noise", &[&std, &eps], &[]);
            g.node("Add", "ca.c", &[&mu, &noise], &[])
        }
    };
    let Some((s1, _)) = gen.stacked() else {
        super::fused::stage1_body(&mut g, gen, &c, &z);
        g.output(
            &c,
            names::CONDITION,
            Elem::F32,
            &fixed(&[1, cfg.condition_dim]),
        );
        return g;
    };
    let x = g.node("Concat", "stage1.input", &[&c, &z], &[Attr::Int("axis", 1)]);
    let (scale, shift) = bn_affine(&s1.bn);
    let (w, b) = fold(&s1.fc.ws, s1.fc.bs.as_ref(), &scale, &shift);
    let wn = g.dense_weight("stage1.fc.weight", &w);
    let bn = g.weight("stage1.fc.bias", &b);
    let x = g.node(
        "Gemm",
        "stage1.fc",
        &[&x, &wn, &bn],
        &[Attr::Int("transB", 1)],
    );
    let width = cfg.stage1_width();
    let x = layers::glu(&mut g, "stage1.glu", &x, width * STAGE1_SIDE * STAGE1_SIDE);
    let mut h = g.reshape("stage1.grid", &x, &[1, width, STAGE1_SIDE, STAGE1_SIDE]);
    for (i, up) in s1.ups.iter().enumerate() {
        h = layers::up_block(&mut g, &format!("stage1.up{}", i + 1), &h, up);
    }
    let image = layers::to_image(&mut g, "stage1.to_image", &h, &s1.to_image);
    let side = cfg.image_size(1);
    g.output(&image, names::IMAGE, Elem::F32, &fixed(&[1, 3, side, side]));
    g.output(
        &h,
        names::FEATURES,
        Elem::F32,
        &fixed(&[1, cfg.feature_channels(1), side, side]),
    );
    g.output(
        &c,
        names::CONDITION,
        Elem::F32,
        &fixed(&[1, cfg.condition_dim]),
    );
    g
}

/// Refinement stage `k` (2 ≤ k ≤ stages).
pub fn refine_graph(gen: &Generator, k: usize, precision: ConvPrecision) -> GraphBuilder {
    let cfg = &gen.config;
    let mut g = GraphBuilder::new(&format!("s2i_generator_stage{k}"));
    g.quant.precision = precision;
    let side = cfg.image_size(k - 1);
    let n = cfg.feature_channels(k - 1);
    let h = g.input(
        names::PREVIOUS_FEATURES,
        Elem::F32,
        &fixed(&[1, n, side, side]),
    );
    let c = g.input(names::CONDITION, Elem::F32, &fixed(&[1, cfg.condition_dim]));
    let Some((_, refine)) = gen.stacked() else {
        super::fused::refine_body(&mut g, gen, k, &h, &c);
        return g;
    };
    let stage = &refine[k - 2];
    let p = format!("stage{k}");
    let mut r = layers::conditioned_join_block(
        &mut g,
        &format!("{p}.join"),
        &c,
        cfg.condition_dim,
        &h,
        side,
        &stage.join,
    );
    for (i, block) in stage.res.iter().enumerate() {
        r = layers::res_block(&mut g, &format!("{p}.res{}", i + 1), &r, block);
    }
    let u = if stage.dense {
        g.node(
            "Concat",
            &format!("{p}.dense"),
            &[&r, &h],
            &[Attr::Int("axis", 1)],
        )
    } else {
        r
    };
    let next = layers::up_block(&mut g, &format!("{p}.up"), &u, &stage.up);
    let image = layers::to_image(&mut g, &format!("{p}.to_image"), &next, &stage.to_image);
    let out = cfg.image_size(k);
    g.output(&image, names::IMAGE, Elem::F32, &fixed(&[1, 3, out, out]));
    g.output(
        &next,
        names::FEATURES,
        Elem::F32,
        &fixed(&[1, cfg.feature_channels(k), out, out]),
    );
    g
}

/// The tch reference for one stage in inference mode, with the exported graph's inputs:
/// stage 1 `[embedding, noise(, epsilon)]` → `[image, features, condition]`, stage k
/// `[previous_features, condition]` → `[image, features]`.
pub fn reference_stage(gen: &Generator, k: usize, inputs: &[Tensor]) -> Vec<Tensor> {
    tch::no_grad(|| {
        if k == 1 {
            let (_, mu, logvar) = gen.condition(&inputs[0], false);
            let c = match inputs.get(2) {
                Some(eps) => &mu + (&logvar * 0.5).exp() * eps,
                None => mu,
            };
            let (h, image) = gen.stage1(&c, &inputs[1], false);
            vec![image, h, c]
        } else {
            let (h, image) = gen.refine(k, &inputs[0], &inputs[1], false);
            vec![image, h]
        }
    })
}

/// Random inputs of a stage's interface (for the export check).
pub fn random_inputs(gen: &Generator, k: usize, mode: ConditionMode) -> Vec<Tensor> {
    let cfg = &gen.config;
    let opts = (Kind::Float, gen.ca.fc.ws.device());
    if k == 1 {
        // Unit-norm embeddings, as the SED hands over.
        let e = Tensor::randn([1, cfg.embedding_dim], opts);
        let e = &e / e.norm();
        let mut v = vec![e, Tensor::randn([1, cfg.z_dim], opts)];
        if mode == ConditionMode::Sample {
            v.push(Tensor::randn([1, cfg.condition_dim], opts));
        }
        v
    } else {
        let side = cfg.image_size(k - 1);
        vec![
            Tensor::randn([1, cfg.feature_channels(k - 1), side, side], opts),
            Tensor::randn([1, cfg.condition_dim], opts),
        ]
    }
}
