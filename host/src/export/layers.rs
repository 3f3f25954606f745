//! Network pieces written as ONNX: batch norm folded into the preceding convolution or linear
//! layer, GLU, the refinement stage's join without its tiled condition, and the up-block's
//! "nearest ×2 then 3×3 conv" rewritten as four 2×2 convolutions on the low-resolution input,
//! interleaved by DepthToSpace (4/9 of the multiply-adds, no up-sampled tensor in memory).

use tch::{nn, Kind, Tensor};

use super::onnx::{Attr, GraphBuilder};
use super::quantize::{runs_faster_in_int8, ConvPrecision};
use crate::rdg::blocks::{JoinBlock, ResBlock, ToImage, UpBlock};

/// BN's ε, as every BN in the project is built (PyTorch's default).
pub const BN_EPS: f64 = 1e-5;

/// The per-channel affine map an inference-mode BN applies: y = x·scale + shift.
pub fn bn_affine(bn: &nn::BatchNorm) -> (Tensor, Tensor) {
    let gamma = bn.ws.as_ref().expect("affine BN").detach();
    let beta = bn.bs.as_ref().expect("affine BN").detach();
    affine_from(&gamma, &beta, &bn.running_mean, &bn.running_var)
}

pub fn affine_from(gamma: &Tensor, beta: &Tensor, mean: &Tensor, var: &Tensor) -> (Tensor, Tensor) {
    let scale = gamma.to_kind(Kind::Double) / (var.to_kind(Kind::Double) + BN_EPS).sqrt();
    let shift = beta.to_kind(Kind::Double) - mean.to_kind(Kind::Double) * &scale;
    (scale, shift)
}

/// Folds `y = BN(W x + b)` into `y = W' x + b'`; `weight`'s first dimension is the output
/// channel (conv or linear). Done in f64 so folding adds no error of its own.
pub fn fold(
    weight: &Tensor,
    bias: Option<&Tensor>,
    scale: &Tensor,
    shift: &Tensor,
) -> (Tensor, Tensor) {
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, weight.dim() - 1));
    let w = weight.detach().to_kind(Kind::Double) * scale.view(shape.as_slice());
    let b = match bias {
        Some(b) => b.detach().to_kind(Kind::Double) * scale + shift,
        None => shift.shallow_clone(),
    };
    (w.to_kind(Kind::Float), b.to_kind(Kind::Float))
}

/// The four 2×2 kernels that equal "nearest ×2, then `weight` (3×3, padding 1)", one per
/// output phase (row parity a, column parity b) in DepthToSpace DCR order (0,0), (0,1),
/// (1,0), (1,1), each with its ONNX `pads` [top, left, bottom, right].
///
/// Output row 2i+a reads up-sampled rows 2i+a−1 … 2i+a+1, i.e. input rows {i−1, i, i} (a = 0)
/// or {i, i, i+1} (a = 1): kernel rows that land on the same input row add up.
pub fn upsample_conv_phases(weight: &Tensor) -> Vec<(Tensor, [i64; 4])> {
    let w = weight.detach().to_kind(Kind::Double);
    let merge = |w: &Tensor, dim: i64, parity: i64| {
        let k = |i| w.narrow(dim, i, 1);
        if parity == 0 {
            Tensor::cat(&[k(0), k(1) + k(2)], dim)
        } else {
            Tensor::cat(&[k(0) + k(1), k(2)], dim)
        }
    };
    let mut phases = Vec::with_capacity(4);
    for a in 0..2 {
        for b in 0..2 {
            let k = merge(&merge(&w, 2, a), 3, b).to_kind(Kind::Float);
            phases.push((k, [1 - a, 1 - b, a, b]));
        }
    }
    phases
}

/// Conv (2-D, stride 1) with bias, in the graph's precision (f32, or int8 in int8 graphs).
pub fn conv(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    w: &Tensor,
    b: &Tensor,
    pads: [i64; 4],
) -> String {
    g.conv_node(hint, x, w, b, &conv_attrs(w, pads))
}

/// Conv (2-D, stride 1) with bias, always f32 (the image heads: small, and the last word on
/// the picture's precision).
pub fn conv_f32(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    w: &Tensor,
    b: &Tensor,
    pads: [i64; 4],
) -> String {
    g.float_conv(hint, x, w, b, &conv_attrs(w, pads))
}

fn conv_attrs(w: &Tensor, pads: [i64; 4]) -> [Attr; 3] {
    [
        Attr::Ints("kernel_shape", w.size()[2..].to_vec()),
        Attr::Ints("pads", pads.to_vec()),
        Attr::Ints("strides", vec![1, 1]),
    ]
}

/// GLU over the channels of an NCHW (or NC) value with `2·half` channels.
pub fn glu(g: &mut GraphBuilder, hint: &str, x: &str, half: i64) -> String {
    let split = g.i64s(&format!("{hint}.split"), &[half, half]);
    let parts = g.node_n(
        "Split",
        &format!("{hint}.half"),
        &[x, &split],
        2,
        &[Attr::Int("axis", 1)],
    );
    let gate = g.node("Sigmoid", &format!("{hint}.gate"), &[&parts[1]], &[]);
    g.node("Mul", hint, &[&parts[0], &gate], &[])
}

/// Conv3×3 (no bias) → BN, folded.
pub fn conv3x3_bn(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    conv_: &nn::Conv2D,
    bn: &nn::BatchNorm,
) -> String {
    let (scale, shift) = bn_affine(bn);
    let (w, b) = fold(&conv_.ws, conv_.bs.as_ref(), &scale, &shift);
    conv(g, hint, x, &w, &b, [1, 1, 1, 1])
}

/// [`UpBlock`]: nearest ×2 → conv3×3 → BN → GLU, as four phase convolutions, GLU, DepthToSpace.
///
/// The file stores the folded 3×3 kernel (9 taps, not the phases' 16; as its GLU value and gate
/// halves) and the graph merges its rows and columns into the four 2×2 kernels
/// ([`upsample_conv_phases`]) from constants only, which tract and onnxruntime fold once at load:
/// a smaller file for the same run time.
///
/// The four kernels run as one convolution with 4·C outputs ([`gate_and_interleave`]): one
/// im2col instead of four and a taller matrix product (stage 2 of the edge preset: 4.7 → 3.5 ms
/// under tract), for (2·side + 1)/side² more outputs than needed, which measured even at 4².
pub fn up_block(g: &mut GraphBuilder, hint: &str, x: &str, block: &UpBlock) -> String {
    let (scale, shift) = bn_affine(&block.bn);
    let (w, b) = fold(&block.conv.ws, block.conv.bs.as_ref(), &scale, &shift);
    let half = block.out_channels;
    if let ConvPrecision::Int8(scales) = &g.quant.precision {
        // The int8 form runs the four phases as one product with 4·C rows.
        if runs_faster_in_int8(4 * w.size()[0]) {
            let s_x = scales[x];
            let all = up_phases_int8(g, hint, x, s_x, &w, &b);
            return gate_and_interleave(g, hint, &all, half);
        }
    }
    if matches!(g.quant.precision, ConvPrecision::Observe) {
        g.quant.observed.push(x.to_string());
    }
    let mut kernels = Vec::with_capacity(8);
    let mut biases = Vec::with_capacity(8);
    for (part, start) in [("value", 0), ("gate", half)] {
        let w3 = g.weight(
            &format!("{hint}.weight3x3.{part}"),
            &w.narrow(0, start, half),
        );
        let bias = g.weight(&format!("{hint}.bias.{part}"), &b.narrow(0, start, half));
        let rows = merge_taps(g, &format!("{hint}.{part}.rows"), &w3, 2);
        for (a, row_kernel) in rows.iter().enumerate().rev() {
            let cols = merge_taps(g, &format!("{hint}.{part}.cols{a}"), row_kernel, 3);
            kernels.extend(cols.into_iter().rev());
        }
        biases.extend(std::iter::repeat_n(bias, 4));
    }
    let refs: Vec<&str> = kernels.iter().map(String::as_str).collect();
    let along_outputs = [Attr::Int("axis", 0)];
    let stacked = g.node("Concat", &format!("{hint}.kernels"), &refs, &along_outputs);
    let refs: Vec<&str> = biases.iter().map(String::as_str).collect();
    let biases = g.node("Concat", &format!("{hint}.biases"), &refs, &along_outputs);
    let all = g.node(
        "Conv",
        &format!("{hint}.phases_conv"),
        &[x, &stacked, &biases],
        &phase_conv_attrs(),
    );
    gate_and_interleave(g, hint, &all, half)
}

/// The int8 up-sampling convolution: the four phase kernels side by side as one `ConvInteger`
/// with 4·C outputs over the input padded by one on every side, so the int8 im2col (the int8
/// path's main cost in tract) runs once, not four times. Outputs in [`gate_and_interleave`]'s
/// order, as in the f32 graph.
fn up_phases_int8(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    s_x: f32,
    w: &Tensor,
    b: &Tensor,
) -> String {
    let half = w.size()[0] / 2;
    let phases = upsample_conv_phases(w);
    let mut kernels = Vec::with_capacity(8);
    let mut biases = Vec::with_capacity(8);
    for start in [0, half] {
        // Phase (a, b) sits at index 2a + b; the output wants (1 − a, 1 − b) order.
        for (k, _) in phases.iter().rev() {
            kernels.push(k.narrow(0, start, half));
            biases.push(b.narrow(0, start, half));
        }
    }
    g.conv_integer_node(
        &format!("{hint}.phases_int8"),
        x,
        s_x,
        &Tensor::cat(&kernels, 0),
        &Tensor::cat(&biases, 0),
        &phase_conv_attrs(),
    )
}

/// "Nearest ×2, then conv3×3 with bias" without the up-sampled tensor: the four phase kernels
/// ([`upsample_conv_phases`]) as one convolution with 4·C outputs (int8 in int8 graphs), then
/// DepthToSpace and the crop [`gate_and_interleave`] explains.
pub fn upsample_conv(g: &mut GraphBuilder, hint: &str, x: &str, w: &Tensor, b: &Tensor) -> String {
    let phases = upsample_conv_phases(w);
    // Phase (a, b) sits at index 2a + b; DepthToSpace wants (1 − a, 1 − b) order.
    let kernels: Vec<Tensor> = phases
        .iter()
        .rev()
        .map(|(k, _)| k.shallow_clone())
        .collect();
    let bias = b.detach().to_kind(Kind::Float).repeat([4]);
    let all = g.conv_node(
        &format!("{hint}.phases"),
        x,
        &Tensor::cat(&kernels, 0),
        &bias,
        &phase_conv_attrs(),
    );
    let interleaved = g.node(
        "DepthToSpace",
        &format!("{hint}.interleave"),
        &[&all],
        &[Attr::Int("blocksize", 2), Attr::Str("mode", "DCR".into())],
    );
    g.slice(hint, &interleaved, &[1, 1], &[-1, -1], &[2, 3])
}

/// Nearest ×2 of `x` (`channels` wide) as four copies interleaved by DepthToSpace.
pub fn upsample_nearest(g: &mut GraphBuilder, hint: &str, x: &str) -> String {
    let copies = g.node(
        "Concat",
        &format!("{hint}.copies"),
        &[x, x, x, x],
        &[Attr::Int("axis", 1)],
    );
    g.node(
        "DepthToSpace",
        hint,
        &[&copies],
        &[Attr::Int("blocksize", 2), Attr::Str("mode", "DCR".into())],
    )
}

/// The four 2×2 phase kernels side by side: one convolution over the input padded by one on
/// every side gives an (H+1)×(W+1) output per phase.
fn phase_conv_attrs() -> [Attr; 3] {
    [
        Attr::Ints("kernel_shape", vec![2, 2]),
        Attr::Ints("pads", vec![1, 1, 1, 1]),
        Attr::Ints("strides", vec![1, 1]),
    ]
}

/// GLU, then the 2× interleave, of the fused phase convolution `all`: `[1, 8·half, H+1, W+1]`
/// with channels ordered (GLU value | gate, a′ = 1 − a, b′ = 1 − b, channel).
///
/// The GLU is per pixel, so it runs on the phases before they are interleaved and the
/// interleave moves half the data. Phase (a, b)'s H×W result is the window of its output
/// starting at row a, column b. DepthToSpace puts low-resolution row i of slot a′ at row
/// 2i + a′; with a′ = 1 − a, phase a's row y + a lands at 2y + a + 1, so every phase's window is
/// the one crop [1, 2H + 1) × [1, 2W + 1) of the interleaved picture: one copy instead of
/// four window slices and their concatenation.
fn gate_and_interleave(g: &mut GraphBuilder, hint: &str, all: &str, half: i64) -> String {
    let gated = glu(g, &format!("{hint}.glu"), all, 4 * half);
    let interleaved = g.node(
        "DepthToSpace",
        &format!("{hint}.interleave"),
        &[&gated],
        &[Attr::Int("blocksize", 2), Attr::Str("mode", "DCR".into())],
    );
    g.slice(hint, &interleaved, &[1, 1], &[-1, -1], &[2, 3])
}

/// In the graph: the two 2-tap merges of a 3-tap kernel along `axis`, parity 0 = [k0, k1 + k2]
/// and parity 1 = [k0 + k1, k2] (see [`upsample_conv_phases`]).
fn merge_taps(g: &mut GraphBuilder, hint: &str, kernel: &str, axis: i64) -> [String; 2] {
    let tap = |g: &mut GraphBuilder, i: i64| {
        g.slice(&format!("{hint}.tap{i}"), kernel, &[i], &[i + 1], &[axis])
    };
    let (k0, k1, k2) = (tap(g, 0), tap(g, 1), tap(g, 2));
    let k12 = g.node("Add", &format!("{hint}.tap12"), &[&k1, &k2], &[]);
    let k01 = g.node("Add", &format!("{hint}.tap01"), &[&k0, &k1], &[]);
    let concat = [Attr::Int("axis", axis)];
    [
        g.node("Concat", &format!("{hint}.even"), &[&k0, &k12], &concat),
        g.node("Concat", &format!("{hint}.odd"), &[&k01, &k2], &concat),
    ]
}

/// [`JoinBlock`] on `[tile(c), h]`, the refinement stage's input, without the tiled tensor.
///
/// The condition is the same at every pixel, so its share of the 3×3 convolution is, at pixel
/// (y, x), Σ over the taps that land inside the picture of W_c[o, :, ky, kx]·c: a `[2n, 3, 3]`
/// tap table v = W_c·c (one small matrix product). Which taps land inside depends only on
/// whether a row (column) is the first, the last or one between, so the share takes at most
/// 3 × 3 values per channel, mixed from v by two tiny products, then repeated over the picture
/// by `Expand` and `Concat`. (Spreading v by 0/1 masks as two products with 3-long sums ran
/// at 0.2 ms under tract, a fifth of the int8 stage; the copies cost a few hundredths.) The
/// convolution proper then runs on the n feature channels only: for the edge preset 16 of 80
/// input channels, so the stage's largest convolution costs a fifth of its multiply-adds.
pub fn conditioned_join_block(
    g: &mut GraphBuilder,
    hint: &str,
    c: &str,
    condition_dim: i64,
    h: &str,
    side: i64,
    block: &JoinBlock,
) -> String {
    let (scale, shift) = bn_affine(&block.bn);
    let (w, b) = fold(&block.conv.ws, block.conv.bs.as_ref(), &scale, &shift);
    let size = w.size();
    let (out, cond) = (size[0], condition_dim);
    let w_c = w.narrow(1, 0, cond);
    let w_h = w.narrow(1, cond, size[1] - cond);
    let from_features = conv(g, &format!("{hint}.conv"), h, &w_h, &b, [1, 1, 1, 1]);

    // [C, 2n·3·3], so that c · table = v in (o, ky, kx) order.
    let table = w_c.permute([1, 0, 2, 3]).reshape([cond, out * 9]);
    let table = g.weight(&format!("{hint}.condition_taps"), &table);
    let taps = g.node("MatMul", &format!("{hint}.taps"), &[c, &table], &[]);
    let taps = g.reshape(&format!("{hint}.taps_rows"), &taps, &[out * 3, 3]);

    let runs = edge_runs(side);
    let kinds = runs.len() as i64;
    // Q[kx, j]: 1 where tap kx lands inside for the columns of run j; R is its transpose.
    let column_mask: Vec<f32> = (0..3)
        .flat_map(|t| {
            runs.iter()
                .map(move |(inside, _)| f32::from(u8::from(inside[t])))
        })
        .collect();
    let row_mask: Vec<f32> = runs
        .iter()
        .flat_map(|(inside, _)| inside.iter().map(|&i| f32::from(u8::from(i))))
        .collect();
    let q = g.f32s(&format!("{hint}.column_kinds"), &[3, kinds], &column_mask);
    let r = g.f32s(&format!("{hint}.row_kinds"), &[kinds, 3], &row_mask);
    let by_column = g.node("MatMul", &format!("{hint}.mix_columns"), &[&taps, &q], &[]);
    let by_column = g.reshape(&format!("{hint}.per_channel"), &by_column, &[out, 3, kinds]);
    // [2n, row kind, column kind]
    let kinds_table = g.node(
        "MatMul",
        &format!("{hint}.mix_rows"),
        &[&r, &by_column],
        &[],
    );

    let columns = repeat_runs(
        g,
        &format!("{hint}.spread_columns"),
        &kinds_table,
        2,
        &runs,
        |n| vec![out, kinds, n],
    );
    let spread = repeat_runs(g, &format!("{hint}.spread_rows"), &columns, 1, &runs, |n| {
        vec![out, n, side]
    });
    let from_condition = g.reshape(
        &format!("{hint}.from_condition"),
        &spread,
        &[1, out, side, side],
    );
    let y = g.node(
        "Add",
        &format!("{hint}.sum"),
        &[&from_features, &from_condition],
        &[],
    );
    glu(g, hint, &y, out / 2)
}

/// The positions 0..side grouped into runs that see the same 3 taps inside the picture (tap t
/// at position p reads p + t − 1): for side ≥ 2 the first, those between, the last.
fn edge_runs(side: i64) -> Vec<([bool; 3], i64)> {
    let mut runs: Vec<([bool; 3], i64)> = Vec::new();
    for p in 0..side {
        let inside = [0, 1, 2].map(|t| (0..side).contains(&(p + t - 1)));
        match runs.last_mut() {
            Some((last, n)) if *last == inside => *n += 1,
            _ => runs.push((inside, 1)),
        }
    }
    runs
}

/// Index j of `x` along `axis` repeated `runs[j].1` times, the pieces concatenated: `shape(n)`
/// is a piece's shape when it is repeated n times.
fn repeat_runs(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    axis: i64,
    runs: &[([bool; 3], i64)],
    shape: impl Fn(i64) -> Vec<i64>,
) -> String {
    let pieces: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(j, &(_, n))| {
            let j = j as i64;
            let piece = g.slice(&format!("{hint}.kind{j}"), x, &[j], &[j + 1], &[axis]);
            if n == 1 {
                return piece;
            }
            let dims = g.i64s(&format!("{hint}.kind{j}.shape"), &shape(n));
            g.node(
                "Expand",
                &format!("{hint}.kind{j}.repeat"),
                &[&piece, &dims],
                &[],
            )
        })
        .collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    g.node("Concat", hint, &pieces, &[Attr::Int("axis", axis)])
}

/// [`ResBlock`]: x + BN(conv(GLU(BN(conv(x))))).
pub fn res_block(g: &mut GraphBuilder, hint: &str, x: &str, block: &ResBlock) -> String {
    let y = conv3x3_bn(g, &format!("{hint}.conv1"), x, &block.conv1, &block.bn1);
    let y = glu(g, &format!("{hint}.glu"), &y, block.conv1.ws.size()[0] / 2);
    let y = conv3x3_bn(g, &format!("{hint}.conv2"), &y, &block.conv2, &block.bn2);
    g.node("Add", hint, &[x, &y], &[])
}

/// Inputs at least this wide run the image head as taps ([`to_image`]); measured under tract on
/// the edge preset: 16 channels at 64² ran faster as taps, 8 at 128² slower (its short
/// reduction starves the matrix kernel, and tract has a direct convolution for it).
const TAPS_MIN_INPUT_CHANNELS: i64 = 16;

/// [`ToImage`]: conv3×3 → tanh, with the 3×3 convolution as one 1×1 convolution and a sum of
/// nine shifted windows.
///
/// A 3-output convolution is a 3-row matrix product after an im2col nine times the size of its
/// input: tract runs it at a fraction of its matrix speed. Here the nine taps' 3 outputs each
/// stack into one 1×1 convolution with 27 outputs over the input padded by one (no im2col, a
/// 27-row product); tap (ky, kx) then contributes its 3 channels' window starting at (ky, kx).
/// Narrower inputs keep the plain convolution, which tract runs as a direct convolution.
pub fn to_image(g: &mut GraphBuilder, hint: &str, x: &str, head: &ToImage) -> String {
    image_head(g, hint, x, &head.conv.ws, None)
}

/// conv3×3 (with an optional bias) → tanh, as [`to_image`] writes it.
pub fn image_head(
    g: &mut GraphBuilder,
    hint: &str,
    x: &str,
    w: &Tensor,
    bias: Option<&Tensor>,
) -> String {
    let w = &w.detach();
    let (out, inputs) = (w.size()[0], w.size()[1]);
    let zeros = Tensor::zeros([out], (Kind::Float, tch::Device::Cpu));
    let bias = bias.map_or(zeros, |b| b.detach().to_device(tch::Device::Cpu));
    if inputs < TAPS_MIN_INPUT_CHANNELS {
        let y = conv_f32(g, &format!("{hint}.conv"), x, w, &bias, [1, 1, 1, 1]);
        return g.node("Tanh", hint, &[&y], &[]);
    }
    // [o, c, ky, kx] → [(ky, kx, o), c, 1, 1]; the bias joins the centre tap's outputs.
    let taps = w.permute([2, 3, 0, 1]).reshape([9 * out, inputs, 1, 1]);
    let tap_bias = Tensor::zeros([9, out], (Kind::Float, tch::Device::Cpu));
    tap_bias.get(4).copy_(&bias);
    let y = conv_f32(
        g,
        &format!("{hint}.taps"),
        x,
        &taps,
        &tap_bias.view([9 * out]),
        [1, 1, 1, 1],
    );
    // Padded by one on each side, a window starting at k ends 2 − k short of the end.
    let end = |k: i64| if k == 2 { i64::MAX } else { k - 2 };
    let mut windows = Vec::with_capacity(9);
    for tap in 0..9i64 {
        let (ky, kx) = (tap / 3, tap % 3);
        windows.push(g.slice(
            &format!("{hint}.tap{tap}"),
            &y,
            &[tap * out, ky, kx],
            &[(tap + 1) * out, end(ky), end(kx)],
            &[1, 2, 3],
        ));
    }
    let refs: Vec<&str> = windows.iter().map(String::as_str).collect();
    let sum = g.node("Sum", &format!("{hint}.sum"), &refs, &[]);
    g.node("Tanh", hint, &[&sum], &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn randn(shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn edge_runs_group_the_positions_by_the_taps_inside() {
        let (first, between, last, alone) = (
            [false, true, true],
            [true, true, true],
            [true, true, false],
            [false, true, false],
        );
        assert_eq!(edge_runs(1), vec![(alone, 1)]);
        assert_eq!(edge_runs(2), vec![(first, 1), (last, 1)]);
        assert_eq!(edge_runs(3), vec![(first, 1), (between, 1), (last, 1)]);
        assert_eq!(edge_runs(64), vec![(first, 1), (between, 62), (last, 1)]);
    }

    #[test]
    fn folding_equals_conv_then_batch_norm() {
        tch::manual_seed(3);
        let x = randn(&[2, 4, 5, 5]);
        let w = randn(&[6, 4, 3, 3]);
        let b = randn(&[6]);
        let (gamma, beta, mean) = (randn(&[6]), randn(&[6]), randn(&[6]));
        let var = randn(&[6]).abs() + 0.1;
        let reference = x
            .conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1)
            .batch_norm(
                Some(&gamma),
                Some(&beta),
                Some(&mean),
                Some(&var),
                false,
                0.1,
                BN_EPS,
                false,
            );
        let (scale, shift) = affine_from(&gamma, &beta, &mean, &var);
        let (wf, bf) = fold(&w, Some(&b), &scale, &shift);
        let folded = x.conv2d(&wf, Some(&bf), [1, 1], [1, 1], [1, 1], 1);
        let err = (&folded - &reference).abs().max().double_value(&[]);
        assert!(err < 1e-4, "{err}");
    }

    #[test]
    fn four_phase_convolutions_equal_upsample_then_conv() {
        tch::manual_seed(4);
        let x = randn(&[1, 3, 5, 7]);
        let w = randn(&[4, 3, 3, 3]);
        let reference = x
            .upsample_nearest2d([10, 14], None, None)
            .conv2d::<&Tensor>(&w, None, [1, 1], [1, 1], [1, 1], 1);
        let phases: Vec<Tensor> = upsample_conv_phases(&w)
            .into_iter()
            .map(|(k, [t, l, b, r])| {
                x.constant_pad_nd([l, r, t, b]).conv2d::<&Tensor>(
                    &k,
                    None,
                    [1, 1],
                    [0, 0],
                    [1, 1],
                    1,
                )
            })
            .collect();
        // DCR interleave: out[c, 2i+a, 2j+b] = phase(a, b)[c, i, j].
        let stacked = Tensor::stack(&phases, 0).view([2, 2, 1, 4, 5, 7]);
        let interleaved = stacked.permute([2, 3, 4, 0, 5, 1]).reshape([1, 4, 10, 14]);
        let err = (&interleaved - &reference).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{err}");
        // 4 × 2×2 = 16 taps per low-resolution pixel instead of 4 × 9 = 36.
        assert_eq!(phases.len() * 4, 16);
    }
}
