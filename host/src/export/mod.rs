//! Export: trained SEN and RDG checkpoints → a model bundle the board verifies and runs with
//! tract (design decisions 3–6). The ONNX is written by our own writer ([`onnx`]), one graph
//! for the speech encoder and one per generator stage, each checked against tch by running the
//! written file under tract.

pub mod bundle;
pub mod check;
pub mod fused;
pub mod generator;
pub mod int8;
pub mod layers;
pub mod onnx;
pub mod quantize;
pub mod recalibrate;
pub mod speech_encoder;

#[cfg(test)]
mod tests;

pub use bundle::{export, verify, ExportArgs};
