//! Kernels that tract's own do not cover well on s2igan-edge's networks, wired into tract plans.
//!
//! - [`direct_conv`]: the generator's high-resolution layers are f32 convolutions with few
//!   channels (16–32) over wide planes (64², 65²). tract lowers them to an im2col gather and a
//!   matrix product, and the gather costs more than the multiply-adds
//!   (docs/notes/tract-vs-onnxruntime.md); this computes them directly, the output plane in
//!   SIMD registers.
//! - [`gru`]: the speech encoder's GRUs, both products in registers (docs/notes/gru-and-int8-kernels.md).
//! - [`integer_conv`]: the int8 files' `ConvInteger`, directly on 8-bit dot products, with the
//!   export's quantisation before it and dequantisation after it folded in.
//! - [`int8_dense`]: dense layers whose weight the int8 files store as int8, read as int8.
//! - [`interleave`]: the up-blocks' `DepthToSpace` in one copy instead of tract's two.
//!
//! [`plan::optimise`] swaps them in for every eligible node around tract's own decluttering and
//! before its code generation. It is the only entry point: the board (`s2i-device`) and the
//! exporter's checks (`s2i-host`) both use it, so the tests that compare tract with tch and with
//! onnxruntime cover these kernels. [`self_check`] tests every path a CPU has against the
//! definitions (`s2i check`).

pub mod direct_conv;
pub mod dot;
pub mod gru;
pub mod int8_dense;
pub mod integer_conv;
pub mod interleave;
pub mod plan;
pub mod self_check;
mod simd;

pub use dot::DotIsa;
pub use plan::{optimise, PlanOptions};
pub use simd::Isa;
