//! The committed wavs' features must match the committed golden files byte for byte. The same
//! golden files are checked under qemu-aarch64 by the workspace's `tests/cross_targets.rs`.
//! Regenerate (only when the front end is meant to change) with `S2I_BLESS=1 cargo test -p
//! s2i-shared --test golden`, and say why in the commit.

use std::path::{Path, PathBuf};

use s2i_shared::frontend::Frontend;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn committed_wavs_match_golden_features_bit_for_bit() {
    let frontend = Frontend::default();
    let bless = std::env::var_os("S2I_BLESS").is_some();
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(data_dir().join("wav"))
        .expect("tests/data/wav exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    wavs.sort();
    assert!(
        wavs.len() >= 6,
        "expected at least six golden wavs, found {}",
        wavs.len()
    );
    for wav in &wavs {
        let features = frontend
            .features_from_wav_file(wav)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(features.n_mels, 40);
        let golden = data_dir().join("golden").join(format!(
            "{}.f32",
            wav.file_stem().unwrap().to_string_lossy()
        ));
        let bytes = features.to_le_bytes();
        if bless {
            std::fs::write(&golden, &bytes).unwrap();
            continue;
        }
        let want = std::fs::read(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with S2I_BLESS=1 to create it)",
                golden.display()
            )
        });
        assert_eq!(
            bytes.len(),
            want.len(),
            "{}: frame count changed",
            wav.display()
        );
        assert!(
            bytes == want,
            "{}: features differ from {}",
            wav.display(),
            golden.display()
        );
        println!("{}: {} frames identical", wav.display(), features.frames);
    }
}

#[test]
fn table_hash_is_stable() {
    // The hash of the default front end's tables. It changes only when the front end does, and
    // every bundle records it: a change here makes the board refuse existing bundles.
    let hash = Frontend::default().table_hash().to_string();
    let recorded =
        std::fs::read_to_string(data_dir().join("golden/table_hash.txt")).unwrap_or_default();
    if std::env::var_os("S2I_BLESS").is_some() {
        std::fs::write(
            data_dir().join("golden/table_hash.txt"),
            format!("{hash}\n"),
        )
        .unwrap();
        return;
    }
    assert_eq!(hash, recorded.trim(), "the front end's tables changed");
}
