//! The front end gives the same bits on the board's architecture: the feature example is
//! cross-compiled for aarch64 with gcc-aarch64-linux-gnu, run under qemu-aarch64 on the committed
//! wavs, and its output compared byte for byte with the golden files that x86_64 also matches.

use std::process::Command;

use s2igan_edge::{golden_features, golden_wavs, require_tool, run, workspace_root};

#[test]
fn aarch64_features_are_bit_identical_to_the_golden_files() {
    require_tool("aarch64-linux-gnu-gcc");
    require_tool("qemu-aarch64");
    let root = workspace_root();
    // A separate target folder: the outer `cargo test` holds the lock on target/.
    let target_dir = root.join("target/cross");
    let triple = "aarch64-unknown-linux-gnu";
    run(Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "s2i-shared",
            "--example",
            "features",
            "--target",
            triple,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "aarch64-linux-gnu-gcc",
        ));
    let binary = target_dir.join(triple).join("release/examples/features");
    let out = tempfile::tempdir().unwrap();
    let wavs = golden_wavs();
    assert!(wavs.len() >= 6);
    let printed = run(Command::new("qemu-aarch64")
        .args(["-L", "/usr/aarch64-linux-gnu"])
        .arg(&binary)
        .arg("--out-dir")
        .arg(out.path())
        .args(&wavs));
    println!("{printed}");
    let expected_hash =
        std::fs::read_to_string(root.join("shared/tests/data/golden/table_hash.txt")).unwrap();
    assert!(
        printed.contains(&format!("tables {}", expected_hash.trim())),
        "aarch64 tables hash differently:\n{printed}"
    );
    for wav in &wavs {
        let stem = wav.file_stem().unwrap().to_string_lossy();
        let got = std::fs::read(out.path().join(format!("{stem}.f32"))).unwrap();
        let want = std::fs::read(golden_features(wav)).unwrap();
        assert!(
            got == want,
            "{stem}: aarch64 features differ from the golden file"
        );
        println!("aarch64 {stem}: {} bytes identical", got.len());
    }
}
