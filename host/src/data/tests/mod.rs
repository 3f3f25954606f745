//! Dataset tests: every fixture is written by the test itself into a temporary folder.

mod bad_input;
mod batching;
mod cache;
mod collection;
mod official;
mod python;
mod synth_e2e;

use std::path::Path;

use super::fixture::{write_official, OfficialFixture, OfficialSpec};
use super::{Dataset, ImageOptions, LoadOptions, SplitOptions};

/// Small images so batches stay cheap; the paper's sizes are exercised in `official`.
fn small_options() -> LoadOptions {
    LoadOptions {
        image: ImageOptions {
            load_size: 38,
            crop_size: 32,
            pyramid: vec![8, 16, 32],
        },
        split: SplitOptions {
            val_fraction: 0.0,
            ..SplitOptions::default()
        },
        ..LoadOptions::default()
    }
}

fn official_fixture(dir: &Path, spec: &OfficialSpec) -> OfficialFixture {
    write_official(dir, spec).expect("fixture written")
}

fn load(dir: &Path, opts: &LoadOptions) -> Dataset {
    match Dataset::load(dir, opts) {
        Ok(ds) => ds,
        Err(e) => panic!("load failed: {e}"),
    }
}

fn load_err(dir: &Path, opts: &LoadOptions) -> String {
    match Dataset::load(dir, opts) {
        Ok(_) => panic!("{} loaded but should not have", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}
