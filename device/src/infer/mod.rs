//! Loading a model bundle and running it.

pub mod bundle;
pub mod contract;
pub mod pipeline;

pub use bundle::{BundleError, LoadedBundle};
pub use contract::{Hyper, FRAME_MASK_INPUT};
pub use pipeline::{DryRun, InferError, KernelUse, Pipeline, StageImage, PADDED_LENGTH_STEP};
