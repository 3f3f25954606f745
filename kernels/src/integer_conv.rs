//! A direct 2-D convolution of int8 by int8 into i32: the int8 bundle's `ConvInteger`, which
//! tract lowers to an int8 im2col and an integer matrix product. At the generator's 64² and 33²
//! planes the im2col costs more than the product (stage 2's up-sampling: 0.55 ms against
//! 0.34 ms), so this computes it directly, as `direct_conv` does for f32.
//!
//! The input is copied once into zero-bordered planes of unsigned bytes (`x + 128`) with four
//! channels interleaved per point, which is what `vpdpbusd` multiplies; the offset is undone
//! exactly by starting each channel's sum at `-128 · Σ w`. Integer arithmetic: the result is
//! the same, bit for bit, as tract's and onnxruntime's.

use tract_core::internal::*;
use tract_core::ops::cnn::Conv;

use crate::direct_conv::Geometry;
use crate::dot::{self, DotIsa, DotPlaneArgs};

/// The op that replaces an eligible integer `Conv` (`ConvInteger` with no zero points).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntegerConv {
    pub geometry: Geometry,
    pub isa: DotIsa,
    /// `[channel block][quad][tap][channel_block]`, four weight bytes per `i32`, zero past the
    /// last channel and the last input channel.
    weights: Arc<Tensor>,
    /// Per output channel (padded to whole blocks): `-128 · Σ w`.
    start: Arc<Tensor>,
}

/// Buffers reused from one call to the next on a thread (as in `direct_conv`).
#[derive(Default)]
struct Scratch {
    padded: Vec<u8>,
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

/// `input` `[c_in, h, w]` into `padded` as `[quad][padded point][4]` bytes of `x + 128`, the
/// border and the channels past `c_in` at 128 (a zero input), plus the slack the last block's
/// widest tap reads past the end.
fn fill_padded(g: &Geometry, input: &[i8], padded: &mut Vec<u8>) {
    let wp = g.padded_w();
    let plane = g.plane();
    padded.clear();
    padded.resize((g.quads() * plane + g.kw - 1) * 4, 128);
    for (c, channel) in input.chunks_exact(g.h * g.w).enumerate() {
        let (q, lane) = (c / 4, c % 4);
        for (y, row) in channel.chunks_exact(g.w).enumerate() {
            let first = q * plane + (y + g.pad_top) * wp + g.pad_left;
            for (x, &v) in row.iter().enumerate() {
                padded[(first + x) * 4 + lane] = (v as u8) ^ 0x80;
            }
        }
    }
}

impl IntegerConv {
    /// `kernel` is `[c_out, c_in, kh, kw]` (OIHW) in row-major order.
    pub fn new(geometry: Geometry, isa: DotIsa, kernel: &[i8]) -> TractResult<Self> {
        let g = geometry;
        let n_taps = g.kh * g.kw;
        ensure!(
            kernel.len() == g.c_out * g.c_in * n_taps,
            "integer convolution: {} kernel values for a {}×{}×{}×{} kernel",
            kernel.len(),
            g.c_out,
            g.c_in,
            g.kh,
            g.kw
        );
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
                    start[o] -= 128 * w as i32;
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
            weights: Arc::new(tensor1(&words)),
            start: Arc::new(tensor1(&start)),
        })
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
        let weights = self.weights.try_as_plain_ram()?.as_slice::<i32>()?;
        let start = self.start.try_as_plain_ram()?.as_slice::<i32>()?;
        let (wp, points) = (g.padded_w(), g.points());
        let co_block = self.isa.channel_block();
        let block_weights = g.quads() * g.kh * g.kw * co_block;
        let taps = g.taps();
        let (oh, ow) = (g.out_h(), g.out_w());
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { padded, planes } = scratch;
            fill_padded(&g, input, padded);
            planes.resize(co_block * points, 0);
            for (b, (weights, start)) in weights
                .chunks_exact(block_weights)
                .zip(start.chunks_exact(co_block))
                .enumerate()
            {
                let args = DotPlaneArgs {
                    input: padded,
                    quads: g.quads(),
                    plane: g.plane(),
                    taps: &taps,
                    weights,
                    start,
                    out: planes,
                    points,
                };
                // SAFETY: the op is only built for an `isa` of `DotIsa::available()` (see
                // `plan::substitute_integer_convs`) and a geometry that fits its point block;
                // the buffers are sized as `DotPlaneArgs` requires.
                unsafe { dot::run(self.isa, args) };
                for j in 0..co_block.min(g.c_out - b * co_block) {
                    let c = b * co_block + j;
                    for y in 0..oh {
                        output[(c * oh + y) * ow..][..ow]
                            .copy_from_slice(&planes[j * points + y * wp..][..ow]);
                    }
                }
            }
        });
        Ok(())
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
        let all = |t: &Tensor, value: f64| -> TractResult<bool> {
            let t = t.cast_to::<f64>()?;
            Ok(t.try_as_plain_ram()?
                .as_slice::<f64>()?
                .iter()
                .all(|&v| v == value))
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
                Some(t) if all(&t, value)? => {}
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
}

impl Op for IntegerConv {
    fn name(&self) -> StaticName {
        "IntegerConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        Ok(vec![format!(
            "int8 {}→{} {}×{} over {}×{} (pads {},{},{},{}) with [{}]",
            g.c_in,
            g.c_out,
            g.kh,
            g.kw,
            g.h,
            g.w,
            g.pad_top,
            g.pad_left,
            g.pad_bottom,
            g.pad_right,
            self.isa.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for IntegerConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let g = self.geometry;
        ensure!(
            x.datum_type() == i8::datum_type() && x.shape() == [1, g.c_in, g.h, g.w],
            "IntegerConv planned for i8 [1, {}, {}, {}], got {:?} {:?}",
            g.c_in,
            g.h,
            g.w,
            x.datum_type(),
            x.shape()
        );
        // SAFETY: `compute` writes every output value.
        let mut y = unsafe { Tensor::uninitialized::<i32>(&[1, g.c_out, g.out_h(), g.out_w()])? };
        self.compute(
            x.try_as_plain_ram()?.as_slice::<i8>()?,
            y.try_as_plain_ram_mut()?.as_slice_mut::<i32>()?,
        )?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for IntegerConv {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.geometry;
        Ok(tvec!(i32::fact([1, g.c_out, g.out_h(), g.out_w()])))
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
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut out = vec![0i32; g.c_out * oh * ow];
    for o in 0..g.c_out {
        for y in 0..oh {
            for x in 0..ow {
                let mut sum = 0i32;
                for i in 0..g.c_in {
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let (iy, ix) = (y + ky, x + kx);
                            if iy < g.pad_top
                                || ix < g.pad_left
                                || iy - g.pad_top >= g.h
                                || ix - g.pad_left >= g.w
                            {
                                continue;
                            }
                            let v = input[(i * g.h + iy - g.pad_top) * g.w + ix - g.pad_left];
                            let k = kernel[((o * g.c_in + i) * g.kh + ky) * g.kw + kx];
                            sum += v as i32 * k as i32;
                        }
                    }
                }
                out[(o * oh + y) * ow + x] = sum;
            }
        }
    }
    out
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
