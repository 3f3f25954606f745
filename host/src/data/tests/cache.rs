use super::*;
use crate::data::feature_cache::{read_features, FeatureCache};
use crate::data::fixture::{write_tone_wav, OfficialSpec};
use s2i_shared::frontend::{Frontend, FrontendConfig};

fn no_temp_files(dir: &Path) {
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp-"),
            "temporary file left behind: {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn warm_loads_reuse_features_and_changes_invalidate_them() {
    let dir = tempfile::tempdir().unwrap();
    let fx = official_fixture(dir.path(), &OfficialSpec::default());
    let opts = small_options();
    let cold = load(dir.path(), &opts);
    let n = 13 * 2;
    assert_eq!(
        (cold.report().cache.hits, cold.report().cache.computed),
        (0, n)
    );
    assert!(cold
        .report()
        .cache_dir
        .starts_with(dir.path().join(".s2i-cache")));
    no_temp_files(&dir.path().join(".s2i-cache"));

    let warm = load(dir.path(), &opts);
    assert_eq!(
        (warm.report().cache.hits, warm.report().cache.computed),
        (n, 0)
    );
    let f_cold = cold.features(0, 0).unwrap();
    assert_eq!(*f_cold, *warm.features(0, 0).unwrap());

    // A rewritten wav (other content, other size) is recomputed; nothing else is.
    let wav = cold.item(0).captions[0].wav.clone();
    write_tone_wav(&wav, 0.9, 440.0).unwrap();
    let changed = load(dir.path(), &opts);
    assert_eq!(
        (changed.report().cache.hits, changed.report().cache.computed),
        (n - 1, 1)
    );
    assert_ne!(
        changed.item(0).captions[0].frames,
        cold.item(0).captions[0].frames
    );

    // A damaged cache file is recomputed rather than trusted.
    let entry = changed.item(1).captions[1].cache.clone();
    std::fs::write(&entry, b"S2IFEAT1 truncated").unwrap();
    let repaired = load(dir.path(), &opts);
    assert_eq!(repaired.report().cache.computed, 1);
    assert!(read_features(&entry).is_ok());

    // Another front end gets its own folder and never sees these features.
    let mut other = opts.clone();
    other.frontend = FrontendConfig {
        n_mels: 32,
        ..FrontendConfig::default()
    };
    let ds = load(dir.path(), &other);
    assert_eq!(ds.report().cache.hits, 0);
    assert_ne!(ds.report().cache_dir, repaired.report().cache_dir);
    assert_eq!(ds.features(0, 0).unwrap().n_mels, 32);
    let _ = fx;
}

#[test]
fn the_cache_can_live_elsewhere_and_keys_survive_a_moved_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    official_fixture(&a, &OfficialSpec::default());
    let mut opts = small_options();
    opts.cache_dir = Some(cache.path().to_path_buf());
    load(&a, &opts);
    assert!(!a.join(".s2i-cache").exists());
    let b = dir.path().join("b");
    std::fs::rename(&a, &b).unwrap();
    let moved = load(&b, &opts);
    assert_eq!(
        moved.report().cache.computed,
        0,
        "keys are relative to the dataset root"
    );
}

#[test]
fn a_read_only_cache_location_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    official_fixture(dir.path(), &OfficialSpec::default());
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let mut opts = small_options();
    opts.cache_dir = Some(blocker.clone());
    opts.skip_bad = true; // a cache failure is never skipped as a bad item
    let msg = load_err(dir.path(), &opts);
    assert_contains(
        &msg,
        &["not-a-folder", "feature cache", "cannot create the folder"],
    );
}

#[test]
fn entries_are_written_atomically_under_the_table_hash() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("x.wav");
    write_tone_wav(&wav, 0.5, 300.0).unwrap();
    let fe = Frontend::default();
    let cache = FeatureCache::new(&dir.path().join("c"), dir.path(), fe.table_hash()).unwrap();
    assert!(cache.lookup(&wav).unwrap().is_none());
    let (entry, features) = cache.compute(&fe, &wav).unwrap();
    assert!(entry
        .path
        .starts_with(dir.path().join("c").join(fe.table_hash())));
    assert_eq!(cache.lookup(&wav).unwrap(), Some(entry.clone()));
    assert_eq!(read_features(&entry.path).unwrap(), features);
    no_temp_files(&dir.path().join("c"));
}
