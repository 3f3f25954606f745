//! Loading a model bundle and running it.

pub mod bundle;

pub use bundle::{BundleError, LoadedBundle};
