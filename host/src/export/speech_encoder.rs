//! The speech encoder (SED) as one ONNX graph for batch 1 and any number of frames:
//!
//! ```text
//! features [1, n_mels, frames] → conv1d+BN → conv1d+BN → bi-GRU ×L → attention pooling → L2
//!                                                                    → embedding [1, D]
//! ```
//!
//! BN is folded into each convolution; each GRU layer is one bidirectional ONNX GRU with the
//! gates permuted from PyTorch's (r, z, n) to ONNX's (z, r, h) and `linear_before_reset = 1`,
//! which is PyTorch's GRU formula.
//!
//! **Padding.** A second input, `frame_mask` [1, 1, frames], is 1 on the utterance's frames and
//! 0 on padding after them, so the board can run a few fixed lengths (tract fuses the GRU into
//! `GruSeq` only for a fixed frame count; docs/notes/gru-forms.md) and pad each utterance up to
//! the next one. Padding changes nothing, exactly rather than nearly:
//! - a convolution's output j reads inputs s·j … s·j+k−1, and padding only follows speech, so
//!   output j is real iff input s·j+k−1 is: the mask goes through the same strides with a
//!   one-hot kernel on the last tap;
//! - every GRU layer reads one more input channel, "this step is padding", whose weight opens
//!   only the update gate, and by a margin no activation reaches: z = 1, so h' = h. The forward
//!   direction carries its last real state through the padding, and the backward one starts its
//!   real frames from h = 0, as the trainer's reversal within the length does;
//! - the attention gives padded steps a logit far below every real one: weight 0.
//!
//! On a real frame the extra channel is 0 and adds exactly nothing.

use s2i_shared::bundle::Dim;
use tch::{Kind, Tensor};

use super::layers::{affine_from, fold};
use super::onnx::{Attr, Elem, GraphBuilder};
use super::quantize::ConvPrecision;
use crate::sen::masked_batch_norm::MaskedBatchNorm1d;
use crate::sen::speech_encoder::{GruWeights, SpeechEncoder};

pub mod names {
    pub const FEATURES: &str = "features";
    /// `[1, 1, frames]`: 1 on the utterance's frames, 0 on padding after them.
    pub const FRAME_MASK: &str = "frame_mask";
    pub const EMBEDDING: &str = "embedding";
    /// The symbolic frame count.
    pub const FRAMES: &str = "frames";
}

/// PyTorch (r, z, n) → ONNX (z, r, h) along the first dimension.
fn onnx_gate_order(t: &Tensor) -> Tensor {
    let chunks = t.detach().chunk(3, 0);
    Tensor::cat(&[&chunks[1], &chunks[0], &chunks[2]], 0)
}

/// The weight of the "padding step" channel on the update gate's pre-activation: far beyond
/// any real pre-activation, so σ saturates to exactly 1 (σ(x) rounds to 1.0 in f32 above ~17).
const HOLD_STATE: f64 = 1e4;
/// How far below every real logit the attention puts a padded step (exp underflows to 0).
const MASKED_LOGIT: f64 = -1e4;

/// The input weights' column for the padding channel, per direction [2, 3H, 1]: HOLD_STATE on
/// the update gate's rows (z comes first in ONNX order), 0 on the reset and candidate rows.
/// It stays a separate f32 constant: stored in the int8 rows, it would set their scale.
fn padding_column(hidden: i64) -> Tensor {
    let column = Tensor::zeros([2, 3 * hidden, 1], (Kind::Float, tch::Device::Cpu));
    let _ = column.narrow(1, 0, hidden).fill_(HOLD_STATE);
    column
}

/// One bidirectional GRU layer over `x` [T, 1, I] and `padding` [T, 1, 1] → [T, 1, 2H].
fn gru_layer(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    padding: &str,
    weights: &[GruWeights; 2],
    hidden: i64,
) -> String {
    let per_direction =
        |f: &dyn Fn(&GruWeights) -> Tensor| Tensor::stack(&[f(&weights[0]), f(&weights[1])], 0);
    let w = per_direction(&|d| onnx_gate_order(&d.input));
    let x = g.node(
        "Concat",
        &format!("{hint}.with_padding"),
        &[x, padding],
        &[Attr::Int("axis", 2)],
    );
    let r = per_direction(&|d| onnx_gate_order(&d.hidden));
    let b = per_direction(&|d| {
        Tensor::cat(
            &[
                onnx_gate_order(&d.input_bias),
                onnx_gate_order(&d.hidden_bias),
            ],
            0,
        )
    });
    let (w, r, b) = (
        g.dense_weight(&format!("{hint}.W"), &w),
        g.dense_weight(&format!("{hint}.R"), &r),
        g.weight(&format!("{hint}.B"), &b),
    );
    let column = g.weight(&format!("{hint}.W_padding"), &padding_column(hidden));
    let w = g.node(
        "Concat",
        &format!("{hint}.W_with_padding"),
        &[&w, &column],
        &[Attr::Int("axis", 2)],
    );
    // Y: [T, 2, 1, H] → [T, 1, 2, H] → [T, 1, 2H] (forward ‖ backward, as the trainer concatenates).
    let y = g.node_n(
        "GRU",
        hint,
        &[&x, &w, &r, &b],
        2,
        &[
            Attr::Int("hidden_size", hidden),
            Attr::Str("direction", "bidirectional".into()),
            Attr::Int("linear_before_reset", 1),
        ],
    );
    let y = g.node(
        "Transpose",
        &format!("{hint}.time_major"),
        &[&y[0]],
        &[Attr::Ints("perm", vec![0, 2, 1, 3])],
    );
    g.reshape(&format!("{hint}.out"), &y, &[0, 1, 2 * hidden])
}

fn conv1d_bn(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    conv: &tch::nn::Conv1D,
    bn: &MaskedBatchNorm1d,
    stride: i64,
) -> String {
    let (scale, shift) = affine_from(
        &bn.weight.detach(),
        &bn.bias.detach(),
        &bn.running_mean,
        &bn.running_var,
    );
    let (w, b) = fold(&conv.ws, conv.bs.as_ref(), &scale, &shift);
    let kernel = w.size()[2];
    g.conv_node(
        hint,
        x,
        &w,
        &b,
        &[
            Attr::Ints("kernel_shape", vec![kernel]),
            Attr::Ints("strides", vec![stride]),
            Attr::Ints("pads", vec![0, 0]),
        ],
    )
}

fn linear(g: &mut GraphBuilder, hint: &str, x: &str, layer: &tch::nn::Linear) -> String {
    let w = g.weight(&format!("{hint}.weight"), &layer.ws);
    let b = match &layer.bs {
        Some(b) => g.weight(&format!("{hint}.bias"), b),
        None => {
            let zeros = Tensor::zeros([layer.ws.size()[0]], (Kind::Float, tch::Device::Cpu));
            g.weight(&format!("{hint}.bias"), &zeros)
        }
    };
    g.node("Gemm", hint, &[x, &w, &b], &[Attr::Int("transB", 1)])
}

/// `mask` [1, 1, frames] → "encoder step t is padding" [T, 1, 1] (1.0 or 0.0, exactly).
fn padding_steps(g: &mut GraphBuilder, mask: &str, kernel: i64, stride: i64) -> String {
    let mut last_tap = vec![0f32; kernel as usize];
    last_tap[kernel as usize - 1] = 1.0;
    let tap = g.weight(
        "sed.mask_tap",
        &Tensor::from_slice(&last_tap).view([1, 1, kernel]),
    );
    let mut m = mask.to_string();
    for i in 1..=2 {
        m = g.node(
            "Conv",
            &format!("sed.mask{i}"),
            &[&m, &tap],
            &[
                Attr::Ints("kernel_shape", vec![kernel]),
                Attr::Ints("strides", vec![stride]),
                Attr::Ints("pads", vec![0, 0]),
            ],
        );
    }
    let real = g.node(
        "Transpose",
        "sed.real_steps",
        &[&m],
        &[Attr::Ints("perm", vec![2, 0, 1])],
    );
    let one = g.scalar("sed.one", 1.0);
    g.node("Sub", "sed.padding_steps", &[&one, &real], &[])
}

/// The encoder's inputs for one utterance's features [1, n_mels, n], zero-padded to `frames`
/// (≥ n) with the mask to match; `frames = n` gives the unpadded pair.
pub fn encoder_inputs(features: &Tensor, frames: i64) -> Vec<Tensor> {
    let n = features.size()[2];
    assert!(frames >= n, "cannot pad {n} frames to {frames}");
    let opts = (Kind::Float, features.device());
    let padded = features
        .detach()
        .to_kind(Kind::Float)
        .constant_pad_nd([0, frames - n]);
    let mask = Tensor::cat(
        &[
            Tensor::ones([1, 1, n], opts),
            Tensor::zeros([1, 1, frames - n], opts),
        ],
        2,
    );
    vec![padded, mask]
}

pub fn speech_encoder_graph(sed: &SpeechEncoder, precision: ConvPrecision) -> GraphBuilder {
    let c = &sed.config;
    let d = c.embedding_dim();
    let mut g = GraphBuilder::new("s2i_speech_encoder");
    g.quant.precision = precision;
    let x = g.input(
        names::FEATURES,
        Elem::F32,
        &[
            Dim::Fixed(1),
            Dim::Fixed(c.n_mels as u64),
            Dim::Symbol(names::FRAMES.into()),
        ],
    );
    let mask = g.input(
        names::FRAME_MASK,
        Elem::F32,
        &[
            Dim::Fixed(1),
            Dim::Fixed(1),
            Dim::Symbol(names::FRAMES.into()),
        ],
    );
    let x = conv1d_bn(&mut g, "sed.conv1", &x, &sed.conv1, &sed.bn1, c.conv_stride);
    let x = conv1d_bn(&mut g, "sed.conv2", &x, &sed.conv2, &sed.bn2, c.conv_stride);
    let mut h = g.node(
        "Transpose",
        "sed.time_major",
        &[&x],
        &[Attr::Ints("perm", vec![2, 0, 1])],
    );
    let padding = padding_steps(&mut g, &mask, c.conv_kernel, c.conv_stride);
    for (l, weights) in sed.gru_weights().enumerate() {
        h = gru_layer(
            &mut g,
            &format!("sed.gru{l}"),
            &h,
            &padding,
            weights,
            c.gru_hidden,
        );
    }
    let h = g.reshape("sed.frames", &h, &[-1, d]);
    // Per-channel attention: a softmax over time for each of the D channels.
    let a = linear(&mut g, "sed.attention_hidden", &h, &sed.attention_hidden);
    let a = g.node("Tanh", "sed.attention_tanh", &[&a], &[]);
    let logits = linear(&mut g, "sed.attention_out", &a, &sed.attention_out);
    let padding = g.reshape("sed.padding_rows", &padding, &[-1, 1]);
    let floor = g.scalar("sed.masked_logit", MASKED_LOGIT as f32);
    let penalty = g.node("Mul", "sed.attention_penalty", &[&padding, &floor], &[]);
    let logits = g.node("Add", "sed.attention_masked", &[&logits, &penalty], &[]);
    // Softmax over time, written out: tract 0.23 runs `Softmax` fast only on the last axis, and
    // on axis 0 it took 5.4 of the encoder's 7.3 ms for 3 s of speech (docs/notes/gru-forms.md).
    // The weighted frames are summed before the one division by the softmax's total.
    let time = g.i64s("sed.time_axis", &[0]);
    let peak = g.node(
        "ReduceMax",
        "sed.attention_peak",
        &[&logits],
        &[Attr::Ints("axes", vec![0]), Attr::Int("keepdims", 1)],
    );
    let shifted = g.node("Sub", "sed.attention_shifted", &[&logits, &peak], &[]);
    let exp = g.node("Exp", "sed.attention_exp", &[&shifted], &[]);
    let total = g.node(
        "ReduceSum",
        "sed.attention_total",
        &[&exp, &time],
        &[Attr::Int("keepdims", 1)],
    );
    let weighted = g.node("Mul", "sed.weighted", &[&exp, &h], &[]);
    let summed = g.node(
        "ReduceSum",
        "sed.weighted_sum",
        &[&weighted, &time],
        &[Attr::Int("keepdims", 1)],
    );
    let pooled = g.node("Div", "sed.pooled", &[&summed, &total], &[]);
    // L2 normalisation, with the trainer's floor on the norm.
    let squared = g.node("Mul", "sed.squared", &[&pooled, &pooled], &[]);
    let channel = g.i64s("sed.channel_axis", &[1]);
    let sum = g.node(
        "ReduceSum",
        "sed.sum_squares",
        &[&squared, &channel],
        &[Attr::Int("keepdims", 1)],
    );
    let norm = g.node("Sqrt", "sed.norm", &[&sum], &[]);
    let floor = g.scalar("sed.norm_floor", 1e-12);
    let norm = g.node("Max", "sed.norm_floored", &[&norm, &floor], &[]);
    let e = g.node("Div", "sed.normalised", &[&pooled, &norm], &[]);
    g.output(
        &e,
        names::EMBEDDING,
        Elem::F32,
        &[Dim::Fixed(1), Dim::Fixed(d as u64)],
    );
    g
}
