//! Spoken-caption datasets: the official S2IGAN layout, a collection manifest, and the synthetic
//! set, all read through one loader and the shared front end.
//!
//! ```no_run
//! use s2i_host::data::{batch_rng, BatchPlan, Dataset, Draw, LoadOptions, Split};
//! let ds = Dataset::load("data/birds".as_ref(), &LoadOptions::default())?;
//! let (seed, epoch) = (200, 0);
//! for (step, idx) in ds.epoch_batches(Split::Train, BatchPlan::train(128), seed, epoch)?.iter().enumerate() {
//!     let batch = ds.sen_batch(idx, Draw::train(), &mut batch_rng(seed, epoch, step as u64))?;
//!     // batch.speech [B, 40, T], batch.lengths [B], batch.images [B, 3, 256, 256], batch.class_ids [B]
//! }
//! # Ok::<(), s2i_host::data::DataError>(())
//! ```

pub mod collection;
pub mod dataset;
pub mod error;
pub mod feature_cache;
pub mod fixture;
pub mod image_pipeline;
pub mod inspect;
pub mod official;
pub mod synth;

#[cfg(test)]
mod tests;

pub use dataset::{
    batch_rng, BatchPlan, Caption, ClassInfo, Dataset, Draw, GanBatch, Item, Layout, LoadOptions,
    LoadReport, SenBatch, Split, SplitBy, SplitOptions,
};
pub use error::{BadItem, DataError};
pub use feature_cache::{CacheStats, FeatureCache};
pub use image_pipeline::{Augment, BBox, CropRect, ImageOptions};
pub use inspect::InspectArgs;
