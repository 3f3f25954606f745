//! Loading a dataset with a warm feature cache against a cold one.
//!
//! `cargo bench -p s2i-host --bench data_cache` writes a small official-layout set (default 120
//! images × 5 captions of about 2.5 s at 16 kHz; `S2I_BENCH_IMAGES`, `S2I_BENCH_CAPTIONS` change
//! it), then times `Dataset::load` with the cache removed (cold: every wav goes through the front
//! end) and with it in place (warm: a stat and a header read per wav). It prints both and their
//! ratio, and exits non-zero when warm is not at least 10× faster.

use std::time::{Duration, Instant};

use s2i_host::data::fixture::{write_official, OfficialSpec};
use s2i_host::data::{Dataset, LoadOptions};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means another bench was asked for.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"data_cache".contains(a.as_str()))
    {
        return;
    }
    let images = env_u32("S2I_BENCH_IMAGES", 120);
    let captions = env_u32("S2I_BENCH_CAPTIONS", 5);
    let dir = tempfile::tempdir().expect("temporary folder");
    let per_class = 4;
    let classes = images.div_ceil(per_class);
    let spec = OfficialSpec {
        train_classes: classes - classes / 5,
        train_per_class: per_class,
        test_classes: classes / 5,
        test_per_class: per_class,
        captions,
        caption_seconds: 2.5,
        ..OfficialSpec::default()
    };
    write_official(dir.path(), &spec).expect("fixture");
    let opts = LoadOptions::default();
    let cache = dir.path().join(".s2i-cache");

    let time_load = || {
        let t = Instant::now();
        let ds = Dataset::load(dir.path(), &opts).expect("load");
        (t.elapsed(), ds)
    };
    let mut cold = Vec::new();
    let mut wavs = 0;
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&cache);
        let (t, ds) = time_load();
        assert_eq!(ds.report().cache.hits, 0);
        wavs = ds.report().cache.computed;
        cold.push(t);
    }
    let mut warm = Vec::new();
    for _ in 0..7 {
        let (t, ds) = time_load();
        assert_eq!(ds.report().cache.computed, 0);
        warm.push(t);
    }
    let (cold, warm) = (median(cold), median(warm));
    let ratio = cold.as_secs_f64() / warm.as_secs_f64();
    println!(
        "data_cache: {} images, {wavs} wavs on {} threads: cold load {:.1} ms ({:.0} wavs/s), warm load {:.2} ms, warm is {ratio:.1}x faster",
        spec.train_classes * per_class + spec.test_classes * per_class,
        rayon::current_num_threads(),
        cold.as_secs_f64() * 1e3,
        wavs as f64 / cold.as_secs_f64(),
        warm.as_secs_f64() * 1e3,
    );
    if ratio < 10.0 {
        eprintln!("data_cache: FAIL: a warm cache should make loading at least 10x faster");
        std::process::exit(1);
    }
}
