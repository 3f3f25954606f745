//! A direct 2-D convolution for f32, stride 1, one group: tract's `Conv` on the generator's
//! few-channel, wide-plane layers, without the im2col gather.
//!
//! The input is copied once into a zero-padded plane per channel. Each output channel is then
//! computed over the flattened padded rows (`output rows × padded width` points), so that every
//! kernel tap is a fixed offset and every load a contiguous vector; the `kw - 1` columns per row
//! that fall outside the output are computed and dropped (2/66 of the work at 64²).

use tract_core::internal::*;
use tract_core::ops::cnn::Conv;
use tract_core::ops::nn::DataFormat;

use crate::simd::{self, Isa, PlaneArgs};

/// The shape of one eligible convolution (batch 1, NCHW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub c_in: usize,
    pub c_out: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    pub pad_top: usize,
    pub pad_bottom: usize,
    pub pad_left: usize,
    pub pad_right: usize,
}

/// `c_in→c_out kh×kw over h×w (pads top,left,bottom,right)`, as the ops' info shows it.
impl std::fmt::Display for Geometry {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let g = self;
        write!(
            f,
            "{}→{} {}×{} over {}×{} (pads {},{},{},{})",
            g.c_in, g.c_out, g.kh, g.kw, g.h, g.w, g.pad_top, g.pad_left, g.pad_bottom, g.pad_right
        )
    }
}

impl Geometry {
    pub(crate) fn padded_h(&self) -> usize {
        self.h + self.pad_top + self.pad_bottom
    }
    pub(crate) fn padded_w(&self) -> usize {
        self.w + self.pad_left + self.pad_right
    }
    pub fn out_h(&self) -> usize {
        self.padded_h() + 1 - self.kh
    }
    pub fn out_w(&self) -> usize {
        self.padded_w() + 1 - self.kw
    }
    pub(crate) fn plane(&self) -> usize {
        self.padded_h() * self.padded_w()
    }
    /// Points computed per output channel: output rows of the padded width.
    pub(crate) fn points(&self) -> usize {
        self.out_h() * self.padded_w()
    }
    pub(crate) fn taps(&self) -> Vec<usize> {
        let wp = self.padded_w();
        (0..self.kh)
            .flat_map(|ky| (0..self.kw).map(move |kx| ky * wp + kx))
            .collect()
    }
    pub fn multiply_adds(&self) -> usize {
        self.c_out * self.c_in * self.kh * self.kw * self.out_h() * self.out_w()
    }
    /// Whether `isa`'s kernel can run it: a kernel that fits the padded input and at least one
    /// whole point block per plane.
    pub(crate) fn runs_on(&self, isa: Isa) -> bool {
        self.fits(isa.blocking(self.c_out).1)
    }

    /// That a kernel of `len` values is `[c_out, c_in, kh, kw]`, naming the `op` if not.
    pub(crate) fn ensure_kernel(&self, len: usize, op: &str) -> TractResult<()> {
        let g = self;
        ensure!(
            len == g.c_out * g.c_in * g.kh * g.kw,
            "{op}: {len} kernel values for a {}×{}×{}×{} kernel",
            g.c_out,
            g.c_in,
            g.kh,
            g.kw
        );
        Ok(())
    }

    /// A kernel that fits the padded input, and at least `point_block` points per plane.
    pub(crate) fn fits(&self, point_block: usize) -> bool {
        self.kh >= 1
            && self.kw >= 1
            && self.kh <= self.padded_h()
            && self.kw <= self.padded_w()
            && self.points() >= point_block
    }

    /// The geometry of `conv` on an input of `shape` if it is one the direct kernels cover
    /// (one group, NCHW over two spatial axes, stride and dilation 1, batch 1); the datum types
    /// are the caller's to check.
    pub(crate) fn of_conv(conv: &Conv, shape: &[usize]) -> Option<Geometry> {
        let spec = &conv.pool_spec;
        if conv.group != 1
            || spec.data_format != DataFormat::NCHW
            || spec.rank() != 2
            || spec.strides().iter().any(|&s| s != 1)
            || spec.dilations().iter().any(|&d| d != 1)
            || shape.len() != 4
            || shape[0] != 1
            || conv.input_channels() != shape[1]
        {
            return None;
        }
        let (h, w) = (shape[2], shape[3]);
        let pads = spec.computed_padding(&[h, w]);
        Some(Geometry {
            c_in: shape[1],
            c_out: conv.output_channels(),
            h,
            w,
            kh: spec.kernel_shape[0],
            kw: spec.kernel_shape[1],
            pad_top: pads[0].pad_before,
            pad_bottom: pads[0].pad_after,
            pad_left: pads[1].pad_before,
            pad_right: pads[1].pad_after,
        })
    }
}

/// Buffers reused from one convolution to the next on a thread: the padded input and one
/// channel block's row-padded output planes (0.4 MB at the generator's 64² layers, which cost
/// a tenth of the convolution to allocate and clear each time).
#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    planes: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// `input` `[c_in, h, w]` into `padded` as zero-bordered planes, plus the `kw - 1` zeros the
/// last point block's widest tap reads past the end; each value is written once.
fn fill_padded(g: &Geometry, input: &[f32], padded: &mut Vec<f32>) {
    let wp = g.padded_w();
    padded.clear();
    padded.reserve(g.c_in * g.plane() + g.kw - 1);
    for plane in input.chunks_exact(g.h * g.w) {
        padded.resize(padded.len() + g.pad_top * wp, 0.0);
        for row in plane.chunks_exact(g.w) {
            padded.resize(padded.len() + g.pad_left, 0.0);
            padded.extend_from_slice(row);
            padded.resize(padded.len() + g.pad_right, 0.0);
        }
        padded.resize(padded.len() + g.pad_bottom * wp, 0.0);
    }
    padded.resize(padded.len() + g.kw - 1, 0.0);
}

fn floats(t: &Tensor) -> TractResult<&[f32]> {
    t.try_as_plain_ram()?.as_slice::<f32>()
}

/// The op that replaces an eligible `Conv`: weights packed at plan time for one instruction set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirectConv {
    pub geometry: Geometry,
    pub isa: Isa,
    /// `[channel block][c_in][tap][channel_block]`, zero past the last output channel.
    weights: Arc<Tensor>,
    /// One per output channel, zero-padded to whole channel blocks.
    bias: Arc<Tensor>,
}

impl DirectConv {
    /// `kernel` is `[c_out, c_in, kh, kw]` (OIHW, as ONNX stores it) in row-major order, and
    /// `bias` has one value per output channel.
    pub fn new(geometry: Geometry, isa: Isa, kernel: &[f32], bias: &[f32]) -> TractResult<Self> {
        let g = geometry;
        let n_taps = g.kh * g.kw;
        g.ensure_kernel(kernel.len(), "direct convolution")?;
        ensure!(
            bias.len() == g.c_out,
            "direct convolution: {} bias values for {} output channels",
            bias.len(),
            g.c_out
        );
        ensure!(
            g.runs_on(isa),
            "direct convolution: {g:?} does not fit the {} kernel",
            isa.name()
        );
        let co_block = isa.blocking(g.c_out).0;
        let blocks = g.c_out.div_ceil(co_block);
        let mut packed = vec![0f32; blocks * g.c_in * n_taps * co_block];
        for o in 0..g.c_out {
            let (b, j) = (o / co_block, o % co_block);
            for i in 0..g.c_in {
                for t in 0..n_taps {
                    packed[((b * g.c_in + i) * n_taps + t) * co_block + j] =
                        kernel[(o * g.c_in + i) * n_taps + t];
                }
            }
        }
        let mut padded_bias = vec![0f32; blocks * co_block];
        padded_bias[..g.c_out].copy_from_slice(bias);
        Ok(DirectConv {
            geometry,
            isa,
            weights: Arc::new(tensor1(&packed)),
            bias: Arc::new(tensor1(&padded_bias)),
        })
    }

    /// The convolution of one `[c_in, h, w]` input (row-major) into `[c_out, out_h, out_w]`.
    pub fn compute(&self, input: &[f32], output: &mut [f32]) -> TractResult<()> {
        let g = self.geometry;
        ensure!(
            input.len() == g.c_in * g.h * g.w,
            "direct convolution: {} input values, expected {}×{}×{}",
            input.len(),
            g.c_in,
            g.h,
            g.w
        );
        ensure!(output.len() == g.c_out * g.out_h() * g.out_w());
        let bias = floats(&self.bias)?;
        let weights = floats(&self.weights)?;
        let (wp, points) = (g.padded_w(), g.points());
        let co_block = self.isa.blocking(g.c_out).0;
        let block_weights = g.c_in * g.kh * g.kw * co_block;
        let taps = g.taps();
        let (oh, ow) = (g.out_h(), g.out_w());
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { padded, planes } = scratch;
            fill_padded(&g, input, padded);
            // One channel block at a time, so its planes are still in the cache when they are
            // copied out. Every point is written by the kernel: no clearing needed.
            planes.resize(co_block * points, 0.0);
            for (b, (weights, bias)) in weights
                .chunks_exact(block_weights)
                .zip(bias.chunks_exact(co_block))
                .enumerate()
            {
                let args = PlaneArgs {
                    input: padded,
                    channels: g.c_in,
                    plane: g.plane(),
                    taps: &taps,
                    weights,
                    start: bias,
                    out: planes,
                    points,
                };
                // SAFETY: the op is only built for an `isa` of `Isa::available()` (see
                // `plan::substitute_direct_convs`) and a geometry that `runs_on` it; the
                // buffers are sized as `PlaneArgs` requires.
                unsafe { simd::run(self.isa, args) };
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

    /// The direct convolution for `node` if it is a `Conv` this kernel covers: f32, one group,
    /// NCHW over two spatial axes, stride and dilation 1, batch 1, a constant kernel and bias,
    /// and a plane of at least one point block.
    pub fn for_node(model: &TypedModel, node: &TypedNode, isa: Isa) -> TractResult<Option<Self>> {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        if conv.q_params.is_some() || node.inputs.len() != 3 {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let Some(shape) = x.shape.as_concrete() else {
            return Ok(None);
        };
        let (Some(kernel), Some(bias)) = (
            model.outlet_fact(node.inputs[1])?.konst.clone(),
            model.outlet_fact(node.inputs[2])?.konst.clone(),
        ) else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type()
            || kernel.datum_type() != f32::datum_type()
            || bias.datum_type() != f32::datum_type()
        {
            return Ok(None);
        }
        let Some(geometry) = Geometry::of_conv(conv, shape) else {
            return Ok(None);
        };
        let c_out = geometry.c_out;
        if !geometry.runs_on(isa) {
            return Ok(None);
        }
        // [1 group, c_out, c_in·kh·kw]: OIHW order whatever the kernel format.
        let kernel = conv.kernel_fmt.kernel_as_group_o_ihw(&kernel, 1)?;
        let bias: Vec<f32> = match bias.len() {
            1 => vec![floats(&bias)?[0]; c_out],
            n if n == c_out => floats(&bias)?.to_vec(),
            _ => return Ok(None),
        };
        Ok(Some(DirectConv::new(
            geometry,
            isa,
            floats(&kernel)?,
            &bias,
        )?))
    }
}

impl Op for DirectConv {
    fn name(&self) -> StaticName {
        "DirectConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        Ok(vec![format!("{g} with [{}]", self.isa.name())])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for DirectConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let g = self.geometry;
        ensure!(
            x.datum_type() == f32::datum_type() && x.shape() == [1, g.c_in, g.h, g.w],
            "DirectConv planned for f32 [1, {}, {}, {}], got {:?} {:?}",
            g.c_in,
            g.h,
            g.w,
            x.datum_type(),
            x.shape()
        );
        // SAFETY: `compute` writes every output value.
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[1, g.c_out, g.out_h(), g.out_w()])? };
        self.compute(
            floats(&x)?,
            y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        )?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for DirectConv {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.geometry;
        Ok(tvec!(f32::fact([1, g.c_out, g.out_h(), g.out_w()])))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            self.geometry.multiply_adds().to_dim()
        )))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::self_check::{geometry, relative_error, TOLERANCE};
    use proptest::prelude::*;

    /// Every path this CPU runs on `g`, or the first failure.
    fn check(g: Geometry, seed: u64) -> Result<(), String> {
        for isa in Isa::available() {
            if !g.runs_on(isa) {
                continue;
            }
            let worst = relative_error(isa, g, seed)?;
            if worst > TOLERANCE {
                return Err(format!("{}: {g:?}: relative error {worst:e}", isa.name()));
            }
        }
        Ok(())
    }

    #[test]
    fn the_generators_layers_match_the_definition() {
        assert!(
            !Isa::available().is_empty() || cfg!(not(target_arch = "x86_64")),
            "an x86-64 CI machine without AVX2 would leave these kernels untested"
        );
        for (i, g) in [
            geometry(16, 32, 64, 3, 1),  // stage 2: join, first residual conv
            geometry(16, 16, 64, 3, 1),  // stage 2: second residual conv
            geometry(32, 64, 64, 2, 1),  // stage 2: upsampling phases (65² out)
            geometry(32, 128, 32, 2, 1), // stage 1: last upsampling phases
            geometry(16, 27, 66, 1, 0),  // stage 1: image head taps
            geometry(8, 3, 128, 3, 1),   // stage 2: image head
        ]
        .into_iter()
        .enumerate()
        {
            check(g, i as u64).unwrap();
        }
        // What `s2i check` reports on a board.
        for path in crate::self_check::check_all_paths().unwrap() {
            assert!(path.passed(), "{path:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn any_geometry_matches_the_definition(
            c_in in 1usize..12, c_out in 1usize..19, h in 1usize..20, w in 1usize..40,
            kh in 1usize..4, kw in 1usize..4,
            pads in (0usize..3, 0usize..3, 0usize..3, 0usize..3), seed in 0u64..1000,
        ) {
            let g = Geometry {
                c_in, c_out, h, w, kh, kw,
                pad_top: pads.0, pad_bottom: pads.1, pad_left: pads.2, pad_right: pads.3,
            };
            prop_assume!(kh <= h + pads.0 + pads.1 && kw <= w + pads.2 + pads.3);
            prop_assert_eq!(check(g, seed), Ok(()));
        }
    }

    #[test]
    fn bad_sizes_are_refused_with_the_reason() {
        let Some(isa) = Isa::detect() else { return };
        let g = geometry(4, 4, 32, 3, 1);
        let e = DirectConv::new(g, isa, &[0.0; 10], &[0.0; 4]).unwrap_err();
        assert!(e.to_string().contains("10 kernel values"), "{e}");
        let e = DirectConv::new(g, isa, &[0.0; 144], &[0.0; 3]).unwrap_err();
        assert!(e.to_string().contains("3 bias values"), "{e}");
        let tiny = geometry(4, 4, 2, 3, 0);
        let e = DirectConv::new(tiny, isa, &[0.0; 144], &[0.0; 4]).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        let op = DirectConv::new(g, isa, &[0.0; 144], &[0.0; 4]).unwrap();
        let e = op.compute(&[0.0; 7], &mut [0.0; 4096]).unwrap_err();
        assert!(e.to_string().contains("7 input values"), "{e}");
    }
}
