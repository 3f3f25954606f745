//! The direct convolution checked against its definition on the CPU it runs on: what
//! `s2i check` reports on a board (each instruction-set path is only ever tested on a CPU that
//! has it), and what the unit tests build on.

use crate::direct_conv::{DirectConv, Geometry};
use crate::simd::Isa;

/// The largest error accepted, relative to the output's largest magnitude: the float rounding
/// of a different summation order is about 1e-7.
pub const TOLERANCE: f32 = 1e-5;

/// One path's result over [`layers`].
#[derive(Debug, Clone, PartialEq)]
pub struct PathCheck {
    pub isa: Isa,
    pub layers: usize,
    /// Worst error over the layers, relative to each output's largest magnitude.
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

/// Every path this CPU runs, over [`layers`].
pub fn check_all_paths() -> Result<Vec<PathCheck>, String> {
    Isa::available()
        .into_iter()
        .map(|isa| {
            let layers = layers();
            let mut worst = 0f32;
            for (i, g) in layers.iter().enumerate() {
                worst = worst.max(relative_error(isa, *g, i as u64)?);
            }
            Ok(PathCheck {
                isa,
                layers: layers.len(),
                worst,
            })
        })
        .collect()
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
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut out = vec![0f32; g.c_out * oh * ow];
    for o in 0..g.c_out {
        for y in 0..oh {
            for x in 0..ow {
                let mut sum = bias[o] as f64;
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
                            sum += v as f64 * k as f64;
                        }
                    }
                }
                out[(o * oh + y) * ow + x] = sum as f32;
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
