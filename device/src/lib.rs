//! The s2igan-edge firmware: a person speaks, the board draws. Bundles are verified and run with
//! tract; nothing here depends on libtorch or Python.

pub mod app;
pub mod audio;
pub mod bench;
pub mod clock;
pub mod display;
pub mod infer;
pub mod input;
pub mod picture_file;
