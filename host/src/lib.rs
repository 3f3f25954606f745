//! The s2igan-edge trainer: datasets, the speech embedding network (SEN), the generator (RDG),
//! evaluation and export. Everything runs on libtorch through tch, on CUDA when present.

pub mod data;
pub mod doctor;
pub mod eval;
pub mod export;
pub mod rdg;
pub mod report;
pub mod sen;
pub mod train;
