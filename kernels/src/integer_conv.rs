//! A direct 2-D convolution of int8 by int8 into i32: the int8 bundle's `ConvInteger`, which
//! tract lowers to an int8 im2col and an integer matrix product. At the generator's 64² and 33²
//! planes the im2col costs more than the product (stage 2's up-sampling: 0.55 ms against
//! 0.34 ms), so this computes it directly, as `direct_conv` does for f32.
//!
//! The input is copied once into zero-bordered planes of bytes with four channels interleaved
//! per point, which is what `vpdpbusd` (x86, unsigned input: `x + 128`) and `sdot` (Arm,
//! signed) multiply; x86's offset is undone exactly by starting each channel's sum at
//! `-128 · Σ w`. Integer arithmetic: the result is
//! the same, bit for bit, as tract's and onnxruntime's.
//!
//! The export writes each int8 convolution as `Mul(1/s) → Round → Clip → Cast(int8) →
//! ConvInteger → Cast(f32) → Mul(scale) → Add(bias)` (`s2i-host`'s `export::quantize`). tract
//! runs those element-wise steps as separate passes over the whole tensor, which at 64²
//! cost more than the convolution. When they are there, [`plan`](crate::plan) folds them into
//! this op: it quantises while it fills its padded input and dequantises while it copies its
//! output, with the same f32 operations in the same order, so the result is unchanged.

use tract_core::internal::*;
use tract_core::ops::array::Slice;
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::cast::Cast;
use tract_core::ops::cnn::Conv;
use tract_core::ops::element_wise::ElementWiseOp;

use crate::direct_conv::Geometry;
use crate::dot::{self, DotIsa, DotPlaneArgs};

/// The graph's quantisation of an input: `(1 / scale, lo, hi)`.
pub type Quantisation = (f32, f32, f32);

/// One dequantised output as found in the graph: `(first channel, scales, biases)`.
pub type PartSpec = (usize, Vec<f32>, Vec<f32>);

/// What the op reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// int8 values, as `ConvInteger` takes them.
    Int8,
    /// f32 values, quantised here as the graph did: `x · inv_scale`, rounded half to even,
    /// clamped to `[lo, hi]` (integers), as int8. Holds `[inv_scale, lo, hi]`.
    Quantised(Arc<Tensor>),
}

/// One f32 output of the dequantised form: channels `first .. first + len` as
/// `f32(acc) · scale + bias`, per channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DequantisedPart {
    pub first: usize,
    pub len: usize,
    scale: Arc<Tensor>,
    bias: Arc<Tensor>,
}

/// What the op writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Output {
    /// The i32 sums, as `ConvInteger` gives them.
    Int32,
    /// f32 outputs, one per part (the graph may have split the channels, as the GLU does).
    Dequantised(Vec<DequantisedPart>),
}

/// The op that replaces an eligible integer `Conv` (`ConvInteger` with no zero points), with
/// the quantisation around it when the graph has it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntegerConv {
    pub geometry: Geometry,
    pub isa: DotIsa,
    pub input: Input,
    pub output: Output,
    /// `[channel block][quad][tap][channel_block]`, four weight bytes per `i32`, zero past the
    /// last channel and the last input channel.
    weights: Arc<Tensor>,
    /// Per output channel (padded to whole blocks): `-offset · Σ w`.
    start: Arc<Tensor>,
}

/// Buffers reused from one call to the next on a thread (as in `direct_conv`).
#[derive(Default)]
struct Scratch {
    /// The padded input, one word of four channel bytes per point.
    padded: Vec<u32>,
    planes: Vec<i32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Geometry {
    fn quads(&self) -> usize {
        self.c_in.div_ceil(4)
    }
}

/// `input` `[c_in, h, w]` into `padded` as `[quad][padded point]` words of four channel bytes
/// `byte(x)` (the int8 value plus 128, in the low 8 bits), the border and the channels past
/// `c_in` at 128 (a zero input), plus the slack the last block's widest tap reads past the end.
/// Written point by point, four channels at a time, so that it vectorises.
#[inline(always)]
fn fill_padded<T: Copy>(
    g: &Geometry,
    input: &[T],
    padded: &mut Vec<u32>,
    offset: u8,
    byte: impl Fn(T) -> u32,
) {
    let (wp, plane, hw) = (g.padded_w(), g.plane(), g.h * g.w);
    padded.clear();
    let zero = u32::from_le_bytes([offset; 4]);
    padded.resize(g.quads() * plane + g.kw - 1, zero);
    for q in 0..g.quads() {
        let channel = |lane: usize| input.get((4 * q + lane) * hw..(4 * q + lane + 1) * hw);
        let lanes = [channel(0), channel(1), channel(2), channel(3)];
        for y in 0..g.h {
            let first = q * plane + (y + g.pad_top) * wp + g.pad_left;
            let out = &mut padded[first..first + g.w];
            let row = |lane: usize| lanes[lane].map(|c| &c[y * g.w..(y + 1) * g.w]);
            if let [Some(r0), Some(r1), Some(r2), Some(r3)] = [row(0), row(1), row(2), row(3)] {
                // Zipped, not indexed: no bounds checks, so the loop vectorises.
                let lanes = out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3);
                for ((((o, &a), &b), &c), &d) in lanes {
                    *o = byte(a) | byte(b) << 8 | byte(c) << 16 | byte(d) << 24;
                }
            } else {
                for (x, o) in out.iter_mut().enumerate() {
                    *o = (0..4).fold(0, |word, lane| {
                        word | row(lane).map_or(offset as u32, |r| byte(r[x])) << (8 * lane)
                    });
                }
            }
        }
    }
}

/// `v` rounded to the nearest integer, ties to even, for `|v| < 2²²`: adding and removing
/// 1.5 · 2²³ leaves no fraction bits, and IEEE rounding to nearest breaks ties to even. The
/// same as `f32::round_ties_even` there, and it vectorises without SSE4.1.
#[inline(always)]
fn round_half_even(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (v + SHIFT) - SHIFT
}

impl IntegerConv {
    /// `kernel` is `[c_out, c_in, kh, kw]` (OIHW) in row-major order; the op reads int8 and
    /// writes i32 ([`IntegerConv::fused`] changes that).
    pub fn new(geometry: Geometry, isa: DotIsa, kernel: &[i8]) -> TractResult<Self> {
        let g = geometry;
        let n_taps = g.kh * g.kw;
        g.ensure_kernel(kernel.len(), "integer convolution")?;
        ensure!(
            g.fits(isa.point_block()),
            "integer convolution: {g:?} does not fit the {} kernel",
            isa.name()
        );
        let co_block = isa.channel_block();
        let blocks = g.c_out.div_ceil(co_block);
        let quads = g.quads();
        let mut bytes = vec![0i8; blocks * quads * n_taps * co_block * 4];
        let mut start = vec![0i32; blocks * co_block];
        for o in 0..g.c_out {
            let (b, j) = (o / co_block, o % co_block);
            for i in 0..g.c_in {
                for t in 0..n_taps {
                    let w = kernel[(o * g.c_in + i) * n_taps + t];
                    let word = ((b * quads + i / 4) * n_taps + t) * co_block + j;
                    bytes[word * 4 + i % 4] = w;
                    start[o] -= isa.input_offset() as i32 * w as i32;
                }
            }
        }
        let words: Vec<i32> = bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]))
            .collect();
        Ok(IntegerConv {
            geometry,
            isa,
            input: Input::Int8,
            output: Output::Int32,
            weights: Arc::new(tensor1(&words)),
            start: Arc::new(tensor1(&start)),
        })
    }

    /// The op reading f32 and quantising it (`Some((inv_scale, lo, hi))`, `lo` and `hi`
    /// integers within ±127), and writing f32 `parts` (`(first channel, scales, biases)`).
    pub fn fused(
        mut self,
        quantise: Option<Quantisation>,
        parts: Option<Vec<PartSpec>>,
    ) -> TractResult<Self> {
        if let Some((inv_scale, lo, hi)) = quantise {
            ensure!(
                lo.fract() == 0.0 && hi.fract() == 0.0 && -128.0 <= lo && lo <= hi && hi <= 127.0,
                "integer convolution: clamp [{lo}, {hi}] is not an int8 range"
            );
            self.input = Input::Quantised(Arc::new(tensor1(&[inv_scale, lo, hi])));
        }
        if let Some(parts) = parts {
            let mut out = Vec::with_capacity(parts.len());
            for (first, scale, bias) in parts {
                ensure!(
                    scale.len() == bias.len() && first + scale.len() <= self.geometry.c_out,
                    "integer convolution: output part {first}+{} past {} channels",
                    scale.len(),
                    self.geometry.c_out
                );
                out.push(DequantisedPart {
                    first,
                    len: scale.len(),
                    scale: Arc::new(tensor1(&scale)),
                    bias: Arc::new(tensor1(&bias)),
                });
            }
            self.output = Output::Dequantised(out);
        }
        Ok(self)
    }

    /// Runs the channel blocks over `padded` and hands each output channel's plane (output rows
    /// of the padded width) to `write`.
    fn convolve(
        &self,
        padded: &[u32],
        planes: &mut Vec<i32>,
        mut write: impl FnMut(usize, &[i32]),
    ) -> TractResult<()> {
        let g = self.geometry;
        let weights = self.weights.try_as_plain_ram()?.as_slice::<i32>()?;
        let start = self.start.try_as_plain_ram()?.as_slice::<i32>()?;
        let points = g.points();
        let co_block = self.isa.channel_block();
        let block_weights = g.quads() * g.kh * g.kw * co_block;
        let taps = g.taps();
        planes.resize(co_block * points, 0);
        for (b, (weights, start)) in weights
            .chunks_exact(block_weights)
            .zip(start.chunks_exact(co_block))
            .enumerate()
        {
            let args = DotPlaneArgs {
                input: padded,
                channels: g.quads(),
                plane: g.plane(),
                taps: &taps,
                weights,
                start,
                out: planes,
                points,
            };
            // SAFETY: the op is only built for an `isa` of `DotIsa::available()` (see
            // `plan::substitute_integer_convs`) and a geometry that fits its point block; the
            // buffers are sized as `DotPlaneArgs` requires.
            unsafe { dot::run(self.isa, args) };
            for j in 0..co_block.min(g.c_out - b * co_block) {
                write(b * co_block + j, &planes[j * points..][..points]);
            }
        }
        Ok(())
    }

    /// The convolution of one `[c_in, h, w]` int8 input (row-major) into `[c_out, out_h, out_w]`.
    pub fn compute(&self, input: &[i8], output: &mut [i32]) -> TractResult<()> {
        let g = self.geometry;
        ensure!(
            input.len() == g.c_in * g.h * g.w,
            "integer convolution: {} input values, expected {}×{}×{}",
            input.len(),
            g.c_in,
            g.h,
            g.w
        );
        ensure!(output.len() == g.c_out * g.out_h() * g.out_w());
        let (wp, oh, ow) = (g.padded_w(), g.out_h(), g.out_w());
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { padded, planes } = scratch;
            wide::int8(self.isa, &g, input, padded);
            self.convolve(padded, planes, |c, plane| {
                for y in 0..oh {
                    output[(c * oh + y) * ow..][..ow].copy_from_slice(&plane[y * wp..][..ow]);
                }
            })
        })
    }

    /// The integer convolution for `node` if it is a `Conv` with an i32 output this kernel
    /// covers: int8 input and constant int8 kernel, zero bias, zero points 0 and scales 1 (as
    /// `ConvInteger` without zero points becomes), and the direct kernels' geometry.
    pub fn for_node(
        model: &TypedModel,
        node: &TypedNode,
        isa: DotIsa,
    ) -> TractResult<Option<Self>> {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        if conv.q_params != Some(i32::datum_type()) || node.inputs.len() != 9 {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let Some(shape) = x.shape.as_concrete() else {
            return Ok(None);
        };
        let Some(kernel) = model.outlet_fact(node.inputs[1])?.konst.clone() else {
            return Ok(None);
        };
        if x.datum_type != i8::datum_type() || kernel.datum_type() != i8::datum_type() {
            return Ok(None);
        }
        // Bias, then (zero point, scale) for the kernel, the input and the output.
        let constant = |slot: usize| {
            model
                .outlet_fact(node.inputs[slot])
                .map(|f| f.konst.clone())
        };
        for (slot, value) in [
            (2, 0.0),
            (3, 0.0),
            (4, 1.0),
            (5, 0.0),
            (6, 1.0),
            (7, 0.0),
            (8, 1.0),
        ] {
            match constant(slot)? {
                Some(t) if all_equal(&t, value)? => {}
                _ => return Ok(None),
            }
        }
        let Some(geometry) = Geometry::of_conv(conv, shape) else {
            return Ok(None);
        };
        if !geometry.fits(isa.point_block()) {
            return Ok(None);
        }
        let kernel = conv.kernel_fmt.kernel_as_group_o_ihw(&kernel, 1)?;
        Ok(Some(IntegerConv::new(
            geometry,
            isa,
            kernel.try_as_plain_ram()?.as_slice::<i8>()?,
        )?))
    }

    fn output_shapes(&self) -> Vec<[usize; 4]> {
        let g = &self.geometry;
        match &self.output {
            Output::Int32 => vec![[1, g.c_out, g.out_h(), g.out_w()]],
            Output::Dequantised(parts) => parts
                .iter()
                .map(|p| [1, p.len, g.out_h(), g.out_w()])
                .collect(),
        }
    }
}

/// An int8 value as the kernel's byte (plus the path's offset: flipping the sign bit adds
/// 128).
#[inline(always)]
fn int8_byte(v: i8, offset: u8) -> u32 {
    (v as u8 ^ offset) as u32
}

/// The graph's quantisation of one f32 value, as the kernel's byte (`[inv_scale, lo, hi]`).
/// Clamping before rounding gives the graph's result (the bounds are integers) and keeps the
/// rounding trick in its range.
#[inline(always)]
fn quantised_byte(v: f32, [inv_scale, lo, hi]: [f32; 3], offset: u8) -> u32 {
    let clamped = round_half_even((v * inv_scale).max(lo).min(hi));
    // SAFETY: `max` and `min` turn NaN and infinities into the bounds, so `clamped` is a
    // finite integer within ±128.
    let q: i32 = unsafe { clamped.to_int_unchecked() };
    (q as u32 ^ offset as u32) & 0xff
}

/// The graph's Cast, Mul and Add on one output row, one rounding each (no fusing).
#[inline(always)]
fn dequantise_row(out: &mut [f32], acc: &[i32], scale: f32, bias: f32) {
    for (o, &v) in out.iter_mut().zip(acc) {
        *o = v as f32 * scale + bias;
    }
}

/// The element-wise loops around the kernel, compiled for each path's vector width (they
/// run on the same CPU as the kernel, so its features are there).
mod wide {
    use super::*;

    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_macros))]
    macro_rules! wide_loops {
        ($features:literal, $quantise:ident, $int8:ident, $dequantise:ident) => {
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $quantise(
                g: &Geometry,
                x: &[f32],
                padded: &mut Vec<u32>,
                q: [f32; 3],
                offset: u8,
            ) {
                fill_padded(g, x, padded, offset, |v| quantised_byte(v, q, offset))
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $int8(g: &Geometry, x: &[i8], padded: &mut Vec<u32>, offset: u8) {
                fill_padded(g, x, padded, offset, |v| int8_byte(v, offset))
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $dequantise(out: &mut [f32], acc: &[i32], scale: f32, bias: f32) {
                dequantise_row(out, acc, scale, bias)
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    wide_loops!(
        "avx512f,avx512bw",
        quantise_avx512,
        int8_avx512,
        dequantise_avx512
    );
    #[cfg(target_arch = "x86_64")]
    wide_loops!("avx2,fma", quantise_avx2, int8_avx2, dequantise_avx2);

    pub(super) fn quantise(
        isa: DotIsa,
        g: &Geometry,
        x: &[f32],
        padded: &mut Vec<u32>,
        q: [f32; 3],
    ) {
        let offset = isa.input_offset();
        // SAFETY: `isa` is one of `DotIsa::available()`, whose features include these.
        match isa {
            #[cfg(target_arch = "x86_64")]
            DotIsa::Avx512Vnni => unsafe { quantise_avx512(g, x, padded, q, offset) },
            #[cfg(target_arch = "x86_64")]
            DotIsa::AvxVnni => unsafe { quantise_avx2(g, x, padded, q, offset) },
            #[allow(unreachable_patterns)]
            _ => fill_padded(g, x, padded, offset, |v| quantised_byte(v, q, offset)),
        }
    }

    pub(super) fn int8(isa: DotIsa, g: &Geometry, x: &[i8], padded: &mut Vec<u32>) {
        let offset = isa.input_offset();
        // SAFETY: as above.
        match isa {
            #[cfg(target_arch = "x86_64")]
            DotIsa::Avx512Vnni => unsafe { int8_avx512(g, x, padded, offset) },
            #[cfg(target_arch = "x86_64")]
            DotIsa::AvxVnni => unsafe { int8_avx2(g, x, padded, offset) },
            #[allow(unreachable_patterns)]
            _ => fill_padded(g, x, padded, offset, |v| int8_byte(v, offset)),
        }
    }

    pub(super) fn dequantise(isa: DotIsa, out: &mut [f32], acc: &[i32], scale: f32, bias: f32) {
        // SAFETY: as above.
        match isa {
            #[cfg(target_arch = "x86_64")]
            DotIsa::Avx512Vnni => unsafe { dequantise_avx512(out, acc, scale, bias) },
            #[cfg(target_arch = "x86_64")]
            DotIsa::AvxVnni => unsafe { dequantise_avx2(out, acc, scale, bias) },
            #[allow(unreachable_patterns)]
            _ => dequantise_row(out, acc, scale, bias),
        }
    }
}

/// Whether every value of `t` is `value`.
fn all_equal(t: &Tensor, value: f64) -> TractResult<bool> {
    let t = t.cast_to::<f64>()?;
    Ok(t.try_as_plain_ram()?
        .as_slice::<f64>()?
        .iter()
        .all(|&v| v == value))
}

/// The single value of a constant input of `node` that holds one (any shape of one element),
/// with the other input's outlet: how the export's scalar `Mul`, `Max` and `Min` look.
fn scalar_operand(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(f32, OutletId)>> {
    if node.inputs.len() != 2 {
        return Ok(None);
    }
    for (k, other) in [(0, 1), (1, 0)] {
        let fact = model.outlet_fact(node.inputs[k])?;
        if let Some(c) = &fact.konst {
            if c.len() == 1 && c.datum_type() == f32::datum_type() {
                return Ok(Some((c.cast_to_scalar::<f32>()?, node.inputs[other])));
            }
        }
    }
    Ok(None)
}

/// A per-channel constant operand (`[1, c, 1, 1]`, or one value for all) of `node`, as `c`
/// values, with the other input's outlet.
fn channel_operand(
    model: &TypedModel,
    node: &TypedNode,
    channels: usize,
) -> TractResult<Option<(Vec<f32>, OutletId)>> {
    if node.inputs.len() != 2 {
        return Ok(None);
    }
    for (k, other) in [(0, 1), (1, 0)] {
        let fact = model.outlet_fact(node.inputs[k])?;
        let Some(c) = &fact.konst else { continue };
        if c.datum_type() != f32::datum_type() {
            continue;
        }
        let values = c.try_as_plain_ram()?.as_slice::<f32>()?;
        let per_channel = c.rank() == 4 && c.shape() == [1, channels, 1, 1];
        if per_channel {
            return Ok(Some((values.to_vec(), node.inputs[other])));
        }
        if c.len() == 1 {
            return Ok(Some((vec![values[0]; channels], node.inputs[other])));
        }
    }
    Ok(None)
}

fn is_bin(node: &TypedNode, name: &str) -> bool {
    node.op_as::<TypedBinOp>()
        .is_some_and(|op| op.1.is_none() && op.0.name() == name)
}

fn single_successor(model: &TypedModel, node: &TypedNode) -> Option<usize> {
    match node.outputs[0].successors.as_slice() {
        [only] => Some(only.node).filter(|&n| model.node(n).outputs.len() == 1),
        _ => None,
    }
}

/// The export's quantisation in front of `conv` (`x → Mul(1/s) → Round → Max(lo) → Min(hi) →
/// Cast(int8) → conv`): the f32 input and `(1/s, lo, hi)`.
pub(crate) fn quantisation_before(
    model: &TypedModel,
    conv: &TypedNode,
) -> TractResult<Option<(OutletId, Quantisation)>> {
    let cast = model.node(conv.inputs[0].node);
    if cast
        .op_as::<Cast>()
        .is_none_or(|c| c.to != i8::datum_type())
    {
        return Ok(None);
    }
    let min = model.node(cast.inputs[0].node);
    let Some((hi, below_min)) = scalar_operand(model, min)?.filter(|_| is_bin(min, "Min")) else {
        return Ok(None);
    };
    let max = model.node(below_min.node);
    let Some((lo, below_max)) = scalar_operand(model, max)?.filter(|_| is_bin(max, "Max")) else {
        return Ok(None);
    };
    let round = model.node(below_max.node);
    let is_round = round
        .op_as::<ElementWiseOp>()
        .is_some_and(|op| op.1.is_none() && op.0.name() == "RoundHalfToEven");
    if !is_round {
        return Ok(None);
    }
    let mul = model.node(round.inputs[0].node);
    let Some((inv_scale, x)) = scalar_operand(model, mul)?.filter(|_| is_bin(mul, "Mul")) else {
        return Ok(None);
    };
    if model.outlet_fact(x)?.datum_type != f32::datum_type() {
        return Ok(None);
    }
    Ok(Some((x, (inv_scale, lo, hi))))
}

/// One dequantised output found after a conv: its first channel, scales, biases, and the node
/// whose output it replaces.
pub(crate) type FoundPart = (usize, Vec<f32>, Vec<f32>, OutletId);

/// The export's dequantisation after `conv`, on every path out of it (`[Slice(channels)] →
/// Cast(f32) → Mul(scale) → Add(bias)`), or `None` if any path is something else.
pub(crate) fn dequantisation_after(
    model: &TypedModel,
    conv: &TypedNode,
    c_out: usize,
) -> TractResult<Option<Vec<FoundPart>>> {
    let mut parts = Vec::new();
    for succ in &conv.outputs[0].successors {
        let mut node = model.node(succ.node);
        let (mut first, mut len) = (0, c_out);
        if let Some(slice) = node.op_as::<Slice>() {
            let (Ok(start), Ok(end)) = (slice.start.to_usize(), slice.end.to_usize()) else {
                return Ok(None);
            };
            if slice.axis != 1 || end > c_out || start >= end {
                return Ok(None);
            }
            (first, len) = (start, end - start);
            let Some(next) = single_successor(model, node) else {
                return Ok(None);
            };
            node = model.node(next);
        }
        if node
            .op_as::<Cast>()
            .is_none_or(|c| c.to != f32::datum_type())
        {
            return Ok(None);
        }
        let Some(mul) = single_successor(model, node).map(|n| model.node(n)) else {
            return Ok(None);
        };
        let Some((scale, _)) = channel_operand(model, mul, len)?.filter(|_| is_bin(mul, "Mul"))
        else {
            return Ok(None);
        };
        let Some(add) = single_successor(model, mul).map(|n| model.node(n)) else {
            return Ok(None);
        };
        let Some((bias, _)) = channel_operand(model, add, len)?.filter(|_| is_bin(add, "Add"))
        else {
            return Ok(None);
        };
        parts.push((first, scale, bias, OutletId::new(add.id, 0)));
    }
    Ok(Some(parts).filter(|p: &Vec<FoundPart>| !p.is_empty()))
}

impl Op for IntegerConv {
    fn name(&self) -> StaticName {
        "IntegerConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        Ok(vec![format!(
            "int8 {g} with [{}]{}{}",
            self.isa.name(),
            match self.input {
                Input::Int8 => "",
                Input::Quantised(_) => ", quantising its f32 input",
            },
            match &self.output {
                Output::Int32 => String::new(),
                Output::Dequantised(parts) => format!(", {} f32 output(s)", parts.len()),
            }
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Accurate
    }

    op_as_typed_op!();
}

impl EvalOp for IntegerConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let g = self.geometry;
        let dt = match self.input {
            Input::Int8 => i8::datum_type(),
            Input::Quantised(_) => f32::datum_type(),
        };
        ensure!(
            x.datum_type() == dt && x.shape() == [1, g.c_in, g.h, g.w],
            "IntegerConv planned for {dt:?} [1, {}, {}, {}], got {:?} {:?}",
            g.c_in,
            g.h,
            g.w,
            x.datum_type(),
            x.shape()
        );
        let (wp, oh, ow) = (g.padded_w(), g.out_h(), g.out_w());
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { padded, planes } = scratch;
            match &self.input {
                Input::Int8 => {
                    let x = x.try_as_plain_ram()?.as_slice::<i8>()?;
                    wide::int8(self.isa, &g, x, padded);
                }
                Input::Quantised(q) => {
                    let q = q.try_as_plain_ram()?.as_slice::<f32>()?;
                    let (inv_scale, lo, hi) = (q[0], q[1], q[2]);
                    let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
                    // Clamping before rounding gives the graph's result (the bounds are
                    // integers) and keeps the rounding trick in its range.
                    wide::quantise(self.isa, &g, x, padded, [inv_scale, lo, hi]);
                }
            }
            match &self.output {
                Output::Int32 => {
                    // SAFETY: every value is written below.
                    let mut y = unsafe { Tensor::uninitialized::<i32>(&[1, g.c_out, oh, ow])? };
                    {
                        let mut ram = y.try_as_plain_ram_mut()?;
                        let out = ram.as_slice_mut::<i32>()?;
                        self.convolve(padded, planes, |c, plane| {
                            for yy in 0..oh {
                                out[(c * oh + yy) * ow..][..ow]
                                    .copy_from_slice(&plane[yy * wp..][..ow]);
                            }
                        })?;
                    }
                    Ok(tvec!(y.into_tvalue()))
                }
                Output::Dequantised(parts) => {
                    let mut outs = parts
                        .iter()
                        // SAFETY: each part's channels are all written below.
                        .map(|p| unsafe { Tensor::uninitialized::<f32>(&[1, p.len, oh, ow]) })
                        .collect::<TractResult<Vec<_>>>()?;
                    let mut rams = outs
                        .iter_mut()
                        .map(|t| t.try_as_plain_ram_mut())
                        .collect::<TractResult<Vec<_>>>()?;
                    let mut views = Vec::with_capacity(parts.len());
                    for (p, ram) in parts.iter().zip(rams.iter_mut()) {
                        views.push((
                            p,
                            p.scale.try_as_plain_ram()?.as_slice::<f32>()?,
                            p.bias.try_as_plain_ram()?.as_slice::<f32>()?,
                            ram.as_slice_mut::<f32>()?,
                        ));
                    }
                    let dequantise = |c: usize, plane: &[i32]| {
                        for (p, scale, bias, out) in views.iter_mut() {
                            if c < p.first || c >= p.first + p.len {
                                continue;
                            }
                            let k = c - p.first;
                            let (s, b) = (scale[k], bias[k]);
                            for yy in 0..oh {
                                let row = &mut out[(k * oh + yy) * ow..][..ow];
                                wide::dequantise(self.isa, row, &plane[yy * wp..][..ow], s, b);
                            }
                        }
                    };
                    self.convolve(padded, planes, dequantise)?;
                    drop(views);
                    drop(rams);
                    Ok(outs.into_iter().map(|t| t.into_tvalue()).collect())
                }
            }
        })
    }
}

impl TypedOp for IntegerConv {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(self
            .output_shapes()
            .into_iter()
            .map(|shape| match self.output {
                Output::Int32 => i32::fact(shape),
                Output::Dequantised(_) => f32::fact(shape),
            })
            .collect())
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(i32::datum_type()),
            self.geometry.multiply_adds().to_dim()
        )))
    }

    as_op!();
}

/// The definition, one output at a time: what every path must reproduce exactly.
pub fn reference(g: &Geometry, input: &[i8], kernel: &[i8]) -> Vec<i32> {
    crate::self_check::convolution(g, input, kernel)
        .into_iter()
        .map(|sum| sum as i32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::self_check::{check_integer_paths, geometry, int8_values as bytes};
    use proptest::prelude::*;

    fn check(g: Geometry, isa: DotIsa, seed: u64) -> Result<(), String> {
        let input = bytes(g.c_in * g.h * g.w, seed);
        let kernel = bytes(g.c_out * g.c_in * g.kh * g.kw, seed + 1);
        let op = IntegerConv::new(g, isa, &kernel).map_err(|e| format!("{e:#}"))?;
        let mut got = vec![i32::MIN; g.c_out * g.out_h() * g.out_w()];
        op.compute(&input, &mut got).map_err(|e| format!("{e:#}"))?;
        if got != reference(&g, &input, &kernel) {
            return Err(format!("{} differs on {g:?}", isa.name()));
        }
        Ok(())
    }

    #[test]
    fn the_generators_int8_layers_match_the_definition_exactly() {
        for path in check_integer_paths().unwrap() {
            assert!(path.passed(), "{path:?}");
        }
        for isa in DotIsa::available() {
            check(geometry(8, 16, 9, 1, 0), isa, 5).unwrap();
            // The extremes: every product −127·127 or 127·127 in the same sum.
            let g = geometry(64, 8, 8, 3, 1);
            let op = IntegerConv::new(g, isa, &vec![-127; 8 * 64 * 9]).unwrap();
            for value in [127i8, -127] {
                let input = vec![value; 64 * 64];
                let mut got = vec![0; 8 * 64];
                op.compute(&input, &mut got).unwrap();
                assert_eq!(got, reference(&g, &input, &vec![-127; 8 * 64 * 9]));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_geometry_matches_the_definition_exactly(
            c_in in 1usize..20, c_out in 1usize..20, h in 4usize..14, w in 4usize..14,
            k in 1usize..4, pads in (0usize..2, 0usize..2, 0usize..2, 0usize..2), seed in 0u64..1000,
        ) {
            let g = Geometry {
                c_in, c_out, h, w, kh: k, kw: k,
                pad_top: pads.0, pad_bottom: pads.1, pad_left: pads.2, pad_right: pads.3,
            };
            for isa in DotIsa::available() {
                if g.fits(isa.point_block()) {
                    prop_assert_eq!(check(g, isa, seed), Ok(()));
                }
            }
        }
    }
}
