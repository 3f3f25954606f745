//! The model bundle: the one contract between the trainer and the board.
//!
//! A bundle is a folder `models/<name>/` holding ONNX files and `manifest.json`. The manifest
//! records the front end the model was trained with (its configuration and table hash), every
//! file with its SHA-256, tensor names and shapes, precision, the preset and hyper-parameters,
//! where the weights came from, and the evaluation figures measured at export. The board checks
//! all of it before running anything.

mod manifest;

pub use manifest::{
    sha256_file, DType, Dim, FrontendStamp, Manifest, ManifestError, ModelFile, Precision,
    Provenance, Role, TensorSpec, FORMAT_VERSION, MANIFEST_FILE, MAX_MANIFEST_BYTES,
    MAX_MODEL_BYTES,
};
