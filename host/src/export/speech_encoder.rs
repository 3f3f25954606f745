//! The speech encoder (SED) as one ONNX graph for batch 1 and any number of frames:
//!
//! ```text
//! features [1, n_mels, frames] → conv1d+BN → conv1d+BN → bi-GRU ×L → attention pooling → L2
//!                                                                    → embedding [1, D]
//! ```
//!
//! BN is folded into each convolution; each GRU layer is one bidirectional ONNX GRU with the
//! gates permuted from PyTorch's (r, z, n) to ONNX's (z, r, h) and `linear_before_reset = 1`,
//! which is PyTorch's GRU formula. With one utterance there is no padding, so the backward
//! direction over the whole sequence is exactly the trainer's reversal within the length.

use s2i_shared::bundle::Dim;
use tch::{Kind, Tensor};

use super::layers::{affine_from, fold};
use super::onnx::{Attr, Elem, GraphBuilder};
use super::quantize::ConvPrecision;
use crate::sen::masked_batch_norm::MaskedBatchNorm1d;
use crate::sen::speech_encoder::{GruWeights, SpeechEncoder};

pub mod names {
    pub const FEATURES: &str = "features";
    pub const EMBEDDING: &str = "embedding";
    /// The symbolic frame count.
    pub const FRAMES: &str = "frames";
}

/// PyTorch (r, z, n) → ONNX (z, r, h) along the first dimension.
fn onnx_gate_order(t: &Tensor) -> Tensor {
    let chunks = t.detach().chunk(3, 0);
    Tensor::cat(&[&chunks[1], &chunks[0], &chunks[2]], 0)
}

fn gru_layer(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    weights: &[GruWeights; 2],
    hidden: i64,
) -> String {
    let per_direction =
        |f: &dyn Fn(&GruWeights) -> Tensor| Tensor::stack(&[f(&weights[0]), f(&weights[1])], 0);
    let w = per_direction(&|d| onnx_gate_order(&d.input));
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
    // Y: [T, 2, 1, H] → [T, 1, 2, H] → [T, 1, 2H] (forward ‖ backward, as the trainer concatenates).
    let y = g.node_n(
        "GRU",
        hint,
        &[x, &w, &r, &b],
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
    let x = conv1d_bn(&mut g, "sed.conv1", &x, &sed.conv1, &sed.bn1, c.conv_stride);
    let x = conv1d_bn(&mut g, "sed.conv2", &x, &sed.conv2, &sed.bn2, c.conv_stride);
    let mut h = g.node(
        "Transpose",
        "sed.time_major",
        &[&x],
        &[Attr::Ints("perm", vec![2, 0, 1])],
    );
    for (l, weights) in sed.gru_weights().enumerate() {
        h = gru_layer(&mut g, &format!("sed.gru{l}"), &h, weights, c.gru_hidden);
    }
    let h = g.reshape("sed.frames", &h, &[-1, d]);
    // Per-channel attention: a softmax over time for each of the D channels.
    let a = linear(&mut g, "sed.attention_hidden", &h, &sed.attention_hidden);
    let a = g.node("Tanh", "sed.attention_tanh", &[&a], &[]);
    let logits = linear(&mut g, "sed.attention_out", &a, &sed.attention_out);
    // Softmax over time, written out: tract 0.23 runs `Softmax` fast only on the last axis, and
    // on axis 0 it took 5.4 of the encoder's 7.3 ms for 3 s of speech (docs/notes/gru-forms.md).
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
    let weights = g.node("Div", "sed.attention", &[&exp, &total], &[]);
    let weighted = g.node("Mul", "sed.weighted", &[&weights, &h], &[]);
    let pooled = g.node(
        "ReduceSum",
        "sed.pooled",
        &[&weighted, &time],
        &[Attr::Int("keepdims", 1)],
    );
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
