//! Our kernels (the direct convolution, the GRU's recurrent product) checked against their
//! definitions on the CPU it runs on: what
//! `s2i check` reports on a board (each instruction-set path is only ever tested on a CPU that
//! has it), and what the unit tests build on.

use crate::direct_conv::{DirectConv, Geometry};
use crate::dot::DotIsa;
use crate::gru::{GruWeights, RecurrentGru};
use crate::int8_dense::Int8Dense;
use crate::integer_conv::{self, IntegerConv};
use crate::simd::Isa;

/// The largest error accepted, relative to the output's largest magnitude: the float rounding
/// of a different summation order is about 1e-7.
pub const TOLERANCE: f32 = 1e-5;

/// One path's result over [`layers`].
#[derive(Debug, Clone, PartialEq)]
pub struct PathCheck {
    pub isa: Isa,
    /// Convolution layers checked.
    pub layers: usize,
    /// GRU sizes checked.
    pub grus: usize,
    /// int8-weight dense layer sizes checked.
    pub dense: usize,
    /// Worst error over the layers and GRUs, relative to each output's largest magnitude.
    pub worst: f32,
}

impl PathCheck {
    pub fn passed(&self) -> bool {
        self.worst <= TOLERANCE
    }
}

/// The generator's layer shapes, on smaller planes (the code path depends on the kernel,
/// padding and channel counts, not on the plane size once it holds a point block), so the
/// check takes milliseconds even under an emulator.
pub fn layers() -> Vec<Geometry> {
    vec![
        geometry(16, 32, 20, 3, 1), // stage 2: join, first residual conv
        geometry(16, 16, 20, 3, 1), // stage 2: second residual conv
        geometry(32, 64, 19, 2, 1), // stage 2: up-sampling phases (odd output width)
        geometry(32, 13, 12, 2, 1), // output channels not a whole block
        geometry(16, 27, 22, 1, 0), // stage 1: image head taps
        geometry(8, 3, 30, 3, 1),   // stage 2: image head
    ]
}

/// One int8 path's result over [`integer_layers`]: integer arithmetic, so exact or wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegerPathCheck {
    pub isa: DotIsa,
    pub layers: usize,
    /// The layers whose output differs from the definition.
    pub wrong: usize,
}

impl IntegerPathCheck {
    pub fn passed(&self) -> bool {
        self.wrong == 0
    }
}

/// The int8 generator's convolution shapes on small planes, and one whose channels fill no
/// whole quad or block.
pub fn integer_layers() -> Vec<Geometry> {
    vec![
        geometry(32, 64, 20, 2, 1),  // stage 2: up-sampling phases
        geometry(32, 128, 11, 2, 1), // stage 1: later up-blocks
        geometry(13, 9, 12, 3, 1),
    ]
}

/// Every int8 path this CPU runs, over [`integer_layers`].
pub fn check_integer_paths() -> Result<Vec<IntegerPathCheck>, String> {
    DotIsa::available()
        .into_iter()
        .map(|isa| {
            let layers = integer_layers();
            let mut wrong = 0;
            for (i, g) in layers.iter().enumerate() {
                let input = int8_values(g.c_in * g.h * g.w, i as u64);
                let kernel = int8_values(g.c_out * g.c_in * g.kh * g.kw, i as u64 + 1);
                let op = IntegerConv::new(*g, isa, &kernel).map_err(|e| format!("{e:#}"))?;
                let mut got = vec![i32::MIN; g.c_out * g.out_h() * g.out_w()];
                op.compute(&input, &mut got).map_err(|e| format!("{e:#}"))?;
                if got != integer_conv::reference(g, &input, &kernel) {
                    wrong += 1;
                }
            }
            Ok(IntegerPathCheck {
                isa,
                layers: layers.len(),
                wrong,
            })
        })
        .collect()
}

/// Deterministic int8 values over the range the export writes (±127).
pub fn int8_values(n: usize, seed: u64) -> Vec<i8> {
    values(n, seed)
        .iter()
        .map(|v| (v * 127.0).round() as i8)
        .collect()
}

/// GRU hidden sizes checked: the speech encoder's, and one that fills no whole chunk of rows.
pub const GRU_SIZES: [usize; 2] = [128, 37];

/// int8-weight dense layers checked, `(outputs, inputs)`: stage 1's projection, and one that
/// fills no whole chunk of rows.
pub const DENSE_SIZES: [(usize, usize); 2] = [(8192, 164), (37, 5)];

/// `isa`'s int8-weight dense layer on deterministic data against the definition in f64,
/// relative to the largest output (infinite for a NaN).
pub fn dense_relative_error(isa: Isa, n: usize, k: usize, seed: u64) -> Result<f32, String> {
    let q = int8_values(n * k, seed);
    let scales: Vec<f32> = values(n, seed + 1)
        .iter()
        .map(|v| (v.abs() + 0.01) / 127.0)
        .collect();
    let x = values(k, seed + 2);
    let op = Int8Dense::new(isa, &q, &scales, k).map_err(|e| format!("{e:#}"))?;
    let mut y = vec![f32::NAN; n];
    op.compute(&x, &mut y).map_err(|e| format!("{e:#}"))?;
    let want: Vec<f64> = (0..n)
        .map(|i| {
            (0..k)
                .map(|j| q[i * k + j] as f64 * scales[i] as f64 * x[j] as f64)
                .sum()
        })
        .collect();
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    Ok(y.iter()
        .zip(&want)
        .map(|(a, b)| ((*a as f64 - b).abs() / scale) as f32)
        .fold(
            0f32,
            |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) },
        ))
}

/// Every path this CPU runs, over [`layers`], [`GRU_SIZES`] and [`DENSE_SIZES`].
pub fn check_all_paths() -> Result<Vec<PathCheck>, String> {
    Isa::available()
        .into_iter()
        .map(|isa| {
            let layers = layers();
            let mut worst = 0f32;
            for (i, g) in layers.iter().enumerate() {
                worst = worst.max(relative_error(isa, *g, i as u64)?);
            }
            for (i, hidden) in GRU_SIZES.into_iter().enumerate() {
                for backward in [false, true] {
                    let input = hidden + 1; // the first layer's width with the frame mask
                    worst = worst.max(gru_relative_error(
                        isa, hidden, input, 9, backward, i as u64,
                    )?);
                }
            }
            for (i, &(n, k)) in DENSE_SIZES.iter().enumerate() {
                worst = worst.max(dense_relative_error(isa, n, k, i as u64)?);
            }
            Ok(PathCheck {
                isa,
                layers: layers.len(),
                grus: GRU_SIZES.len(),
                dense: DENSE_SIZES.len(),
                worst,
            })
        })
        .collect()
}

/// `isa`'s GRU over `steps` steps of deterministic data against [`gru_reference`], relative to
/// the largest state value (infinite for a NaN).
pub fn gru_relative_error(
    isa: Isa,
    hidden: usize,
    input: usize,
    steps: usize,
    backward: bool,
    seed: u64,
) -> Result<f32, String> {
    // PyTorch's initialisation range, so the gates are neither saturated nor linear.
    let scale = 1.0 / (hidden as f32).sqrt();
    let scaled =
        |n: usize, seed: u64| -> Vec<f32> { values(n, seed).iter().map(|v| v * scale).collect() };
    let (w, r) = (
        scaled(3 * hidden * input, seed),
        scaled(3 * hidden * hidden, seed + 1),
    );
    let (wb, rb) = (scaled(3 * hidden, seed + 2), scaled(3 * hidden, seed + 3));
    let x = values(steps * input, seed + 4);
    let h0 = values(hidden, seed + 5);
    let weights = GruWeights {
        w: &w,
        wb: &wb,
        r: &r,
        rb: &rb,
    };
    let op = RecurrentGru::new(hidden, input, isa, weights, backward, true, true)
        .map_err(|e| format!("{e:#}"))?;
    let mut h = h0.clone();
    let mut got = vec![f32::NAN; steps * hidden];
    op.run(&x, &mut h, &mut got).map_err(|e| format!("{e:#}"))?;
    let want = gru_reference(&x, weights, &h0, backward);
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    Ok(want
        .iter()
        .zip(&got)
        .map(|(a, b)| ((a - *b as f64).abs() / scale) as f32)
        .fold(
            0f32,
            |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) },
        ))
}

/// ONNX's GRU from its definition in f64 (`linear_before_reset = 1`, gates z, r, h): `x` is
/// `[steps, input]`; returns every step's state, `[steps, hidden]` in time order.
pub fn gru_reference(x: &[f32], weights: GruWeights, h0: &[f32], backward: bool) -> Vec<f64> {
    let GruWeights { w, wb, r, rb } = weights;
    let n = h0.len();
    let input = w.len() / (3 * n);
    let steps = x.len() / input;
    let xw: Vec<f64> = (0..steps * 3 * n)
        .map(|i| {
            let (t, g) = (i / (3 * n), i % (3 * n));
            wb[g] as f64
                + (0..input)
                    .map(|k| w[g * input + k] as f64 * x[t * input + k] as f64)
                    .sum::<f64>()
        })
        .collect();
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mut h: Vec<f64> = h0.iter().map(|&v| v as f64).collect();
    let mut y = vec![0f64; steps * n];
    for step in 0..steps {
        let t = if backward { steps - 1 - step } else { step };
        let rh: Vec<f64> = (0..3 * n)
            .map(|i| rb[i] as f64 + (0..n).map(|j| r[i * n + j] as f64 * h[j]).sum::<f64>())
            .collect();
        let x = &xw[t * 3 * n..][..3 * n];
        h = (0..n)
            .map(|j| {
                let z = sigmoid(x[j] + rh[j]);
                let reset = sigmoid(x[n + j] + rh[n + j]);
                let candidate = (x[2 * n + j] + reset * rh[2 * n + j]).tanh();
                (1.0 - z) * candidate + z * h[j]
            })
            .collect();
        y[t * n..][..n].copy_from_slice(&h);
    }
    y
}

/// `isa`'s output for `g` on deterministic data against [`reference`]: the worst error relative
/// to the output's largest magnitude (infinite for a NaN).
pub fn relative_error(isa: Isa, g: Geometry, seed: u64) -> Result<f32, String> {
    let input = values(g.c_in * g.h * g.w, seed);
    let kernel = values(g.c_out * g.c_in * g.kh * g.kw, seed + 1);
    let bias = values(g.c_out, seed + 2);
    let want = reference(&g, &input, &kernel, &bias);
    let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let op = DirectConv::new(g, isa, &kernel, &bias).map_err(|e| format!("{e:#}"))?;
    let mut got = vec![f32::NAN; want.len()];
    op.compute(&input, &mut got).map_err(|e| format!("{e:#}"))?;
    Ok(want
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(
            0f32,
            |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) },
        ))
}

/// The definition, one output at a time in f64: what every path must reproduce.
pub fn reference(g: &Geometry, input: &[f32], kernel: &[f32], bias: &[f32]) -> Vec<f32> {
    let plane = g.out_h() * g.out_w();
    convolution(g, input, kernel)
        .iter()
        .enumerate()
        .map(|(i, sum)| (bias[i / plane] as f64 + sum) as f32)
        .collect()
}

/// The convolution without bias, one output at a time in f64 (exact for int8 values: every sum
/// of their products fits f64's mantissa), `[c_out, out_h, out_w]`.
pub fn convolution<T: Copy + Into<f64>>(g: &Geometry, input: &[T], kernel: &[T]) -> Vec<f64> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut out = vec![0f64; g.c_out * oh * ow];
    for o in 0..g.c_out {
        for y in 0..oh {
            for x in 0..ow {
                let mut sum = 0f64;
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
                            sum += v.into() * k.into();
                        }
                    }
                }
                out[(o * oh + y) * ow + x] = sum;
            }
        }
    }
    out
}

/// Deterministic values in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub fn geometry(c_in: usize, c_out: usize, hw: usize, k: usize, pad: usize) -> Geometry {
    Geometry {
        c_in,
        c_out,
        h: hw,
        w: hw,
        kh: k,
        kw: k,
        pad_top: pad,
        pad_bottom: pad,
        pad_left: pad,
        pad_right: pad,
    }
}
