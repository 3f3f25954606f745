//! The fused generator's stages as ONNX, with the stacked generator's interface (so the board,
//! the manifest and the int8 calibration treat both alike).
//!
//! Each up-block's first fuse and its shortcut act per pixel and per channel, so they commute
//! with nearest up-sampling: both run at the low resolution, and "up-sample, then conv3×3" is
//! the four phase convolutions of [`layers::upsample_conv`]. The condition's affines are small
//! dense layers on the `[1, C]` condition, broadcast over the picture.

use tch::{nn, Tensor};

use super::generator::{fixed, names};
use super::layers::{self, upsample_conv, upsample_nearest};
use super::onnx::{Attr, Elem, GraphBuilder};
use crate::rdg::fused::{ChannelMlp, ConditionAffine, Fuse, FusedStages, FusedUpBlock};
use crate::rdg::generator::Generator;

fn bias(conv: &nn::Conv2D) -> Tensor {
    conv.bs
        .as_ref()
        .expect("fused convolutions have a bias")
        .detach()
}

/// `mlp(c) + offset`, `[1, C]`, reshaped to `[1, C, 1, 1]` for broadcasting.
fn channel_values(
    g: &mut GraphBuilder,
    hint: &str,
    c: &str,
    mlp: &ChannelMlp,
    offset: f64,
) -> String {
    let gemm = |g: &mut GraphBuilder, name: &str, x: &str, lin: &nn::Linear, add: f64| {
        let w = g.weight(&format!("{name}.weight"), &lin.ws.detach());
        let b = lin.bs.as_ref().expect("MLP layers have a bias").detach() + add;
        let b = g.weight(&format!("{name}.bias"), &b);
        g.node("Gemm", name, &[x, &w, &b], &[Attr::Int("transB", 1)])
    };
    let h = gemm(g, &format!("{hint}.hidden"), c, &mlp.hidden, 0.0);
    let h = g.node("Relu", &format!("{hint}.relu"), &[&h], &[]);
    let v = gemm(g, &format!("{hint}.out"), &h, &mlp.out, offset);
    let channels = mlp.out.ws.size()[0];
    g.reshape(hint, &v, &[1, channels, 1, 1])
}

/// x·(1 + γ(c)) + β(c).
fn affine(g: &mut GraphBuilder, hint: &str, x: &str, c: &str, a: &ConditionAffine) -> String {
    let scale = channel_values(g, &format!("{hint}.gamma"), c, &a.gamma, 1.0);
    let shift = channel_values(g, &format!("{hint}.beta"), c, &a.beta, 0.0);
    let y = g.node("Mul", &format!("{hint}.scaled"), &[x, &scale], &[]);
    g.node("Add", hint, &[&y, &shift], &[])
}

fn leaky_relu(g: &mut GraphBuilder, hint: &str, x: &str) -> String {
    g.node("LeakyRelu", hint, &[x], &[Attr::Float("alpha", 0.2)])
}

fn fuse(g: &mut GraphBuilder, hint: &str, x: &str, c: &str, f: &Fuse) -> String {
    let y = affine(g, &format!("{hint}.affine1"), x, c, &f.affine1);
    let y = leaky_relu(g, &format!("{hint}.lrelu1"), &y);
    let y = affine(g, &format!("{hint}.affine2"), &y, c, &f.affine2);
    leaky_relu(g, &format!("{hint}.lrelu2"), &y)
}

/// One fused up-block: `[1, in, S, S]` → `[1, out, 2S, 2S]`.
pub fn up_block(g: &mut GraphBuilder, hint: &str, x: &str, c: &str, b: &FusedUpBlock) -> String {
    let f = fuse(g, &format!("{hint}.fuse1"), x, c, &b.fuse1);
    let y = upsample_conv(
        g,
        &format!("{hint}.conv1"),
        &f,
        &b.conv1.ws.detach(),
        &bias(&b.conv1),
    );
    let y = fuse(g, &format!("{hint}.fuse2"), &y, c, &b.fuse2);
    let y = layers::conv(
        g,
        &format!("{hint}.conv2"),
        &y,
        &b.conv2.ws.detach(),
        &bias(&b.conv2),
        [1, 1, 1, 1],
    );
    let skip = match &b.shortcut {
        Some(s) => layers::conv(
            g,
            &format!("{hint}.shortcut"),
            x,
            &s.ws.detach(),
            &bias(s),
            [0, 0, 0, 0],
        ),
        None => x.to_string(),
    };
    let skip = upsample_nearest(g, &format!("{hint}.skip_up"), &skip);
    g.node("Add", hint, &[&skip, &y], &[])
}

fn rgb_head(g: &mut GraphBuilder, hint: &str, x: &str, conv: &nn::Conv2D) -> String {
    let y = leaky_relu(g, &format!("{hint}.lrelu"), x);
    layers::image_head(g, hint, &y, &conv.ws, conv.bs.as_ref())
}

fn stages(gen: &Generator) -> &FusedStages {
    match &gen.stages {
        crate::rdg::generator::Stages::Fused(f) => f,
        crate::rdg::generator::Stages::Stacked { .. } => {
            unreachable!("called for a fused generator only")
        }
    }
}

/// Stage 1 after the condition `c` (`[1, cond]`) and noise `z`: fc → 4² → up-blocks → 64²;
/// writes the image and features outputs.
pub fn stage1_body(g: &mut GraphBuilder, gen: &Generator, c: &str, z: &str) {
    let cfg = &gen.config;
    let s1 = &stages(gen).stage1;
    let x = g.node("Concat", "stage1.input", &[c, z], &[Attr::Int("axis", 1)]);
    let w = g.dense_weight("stage1.fc.weight", &s1.fc.ws.detach());
    let b = g.weight(
        "stage1.fc.bias",
        &s1.fc.bs.as_ref().expect("fc has a bias").detach(),
    );
    let x = g.node(
        "Gemm",
        "stage1.fc",
        &[&x, &w, &b],
        &[Attr::Int("transB", 1)],
    );
    let width = cfg.fused_stage1_widths()[0].0;
    let side0 = crate::rdg::config::STAGE1_SIDE;
    let mut h = g.reshape("stage1.grid", &x, &[1, width, side0, side0]);
    for (i, up) in s1.ups.iter().enumerate() {
        h = up_block(g, &format!("stage1.up{}", i + 1), &h, c, up);
    }
    let image = rgb_head(g, "stage1.to_image", &h, &s1.to_image.conv);
    let side = cfg.image_size(1);
    g.output(&image, names::IMAGE, Elem::F32, &fixed(&[1, 3, side, side]));
    g.output(
        &h,
        names::FEATURES,
        Elem::F32,
        &fixed(&[1, cfg.feature_channels(1), side, side]),
    );
}

/// Refinement stage `k` from `previous_features` and `condition`.
pub fn refine_body(g: &mut GraphBuilder, gen: &Generator, k: usize, h: &str, c: &str) {
    let cfg = &gen.config;
    let stage = &stages(gen).refine[k - 2];
    let next = up_block(g, &format!("stage{k}.up"), h, c, &stage.up);
    let image = rgb_head(
        g,
        &format!("stage{k}.to_image"),
        &next,
        &stage.to_image.conv,
    );
    let out = cfg.image_size(k);
    g.output(&image, names::IMAGE, Elem::F32, &fixed(&[1, 3, out, out]));
    g.output(
        &next,
        names::FEATURES,
        Elem::F32,
        &fixed(&[1, cfg.feature_channels(k), out, out]),
    );
}
