//! Loading a model bundle and running it.

pub mod bundle;
pub mod pipeline;

pub use bundle::{BundleError, LoadedBundle};
pub use pipeline::{
    InferError, KernelUse, Pipeline, StageImage, FRAME_MASK_INPUT, PADDED_LENGTH_STEP,
};
