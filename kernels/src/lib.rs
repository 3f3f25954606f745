//! Kernels that tract's own do not cover well on s2igan-edge's networks, wired into tract plans.
//!
//! The generator's high-resolution layers are convolutions with few channels (16–32) over wide
//! planes (64², 65²). tract lowers them to an im2col gather and a matrix product, and the gather
//! (a fixed cost per input element) costs more than the multiply-adds; its own direct convolution
//! only takes rows of 128 points and more, and is three times slower than im2col at 64
//! (docs/notes/tract-vs-onnxruntime.md). [`direct_conv`] computes them directly instead, with the
//! output plane in SIMD registers, and [`plan::optimise`] swaps it in for every eligible `Conv`
//! before tract's own code generation runs.
//!
//! Planning through [`plan::optimise`] is the only entry point: the board (`s2i-device`) and the
//! exporter's checks (`s2i-host`) both use it, so the tests that compare tract with tch and with
//! onnxruntime cover these kernels.

pub mod direct_conv;
pub mod dot;
pub mod gru;
pub mod int8_dense;
pub mod integer_conv;
pub mod plan;
pub mod self_check;
mod simd;

pub use dot::DotIsa;
pub use plan::{optimise, PlanOptions};
pub use simd::Isa;
