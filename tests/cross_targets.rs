//! The board's architectures give the same results as x86_64:
//! - the front end gives the same bits: the feature example is cross-compiled for aarch64 and
//!   armv7 with the Debian cross gcc, run under qemu-user on the committed wavs, and its output
//!   compared byte for byte with the golden files that x86_64 also matches;
//! - the whole firmware draws the same picture: the release `s2i` is cross-compiled for aarch64,
//!   `s2i generate` runs under qemu-aarch64 on the default bundle and a committed sample, and the
//!   picture is compared with the x86_64 build's (PSNR; tract's float kernels differ
//!   between architectures, so bit equality is not expected);
//! - our NEON direct convolution matches its definition: `s2i check` under qemu-aarch64 checks
//!   it, and reports that the board's plans use it.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use s2igan_edge::{
    golden_features, golden_wavs, run, s2i_binary, workspace_root, Board, AARCH64, ARMV7,
};

/// The smallest PSNR accepted between the aarch64 and x86_64 pictures. Both run the same f32
/// graphs; only the order of float operations in tract's kernels (NEON against AVX) differs,
/// which moves a few pixel values by one level (88 dB measured on the default bundle).
const MIN_PSNR_DB: f64 = 40.0;

fn features_are_bit_identical_to_the_golden_files(board: Board) {
    board.require_tools();
    let root = workspace_root();
    let start = Instant::now();
    let release = board.cargo_build_release(&["-p", "s2i-shared", "--example", "features"]);
    println!(
        "{}: features example built in {:.1} s",
        board.triple,
        start.elapsed().as_secs_f64()
    );
    let out = tempfile::tempdir().unwrap();
    let wavs = golden_wavs();
    assert!(wavs.len() >= 6);
    let printed = run(board
        .qemu_command(&release.join("examples/features"))
        .arg("--out-dir")
        .arg(out.path())
        .args(&wavs));
    println!("{printed}");
    let expected_hash =
        std::fs::read_to_string(root.join("shared/tests/data/golden/table_hash.txt")).unwrap();
    assert!(
        printed.contains(&format!("tables {}", expected_hash.trim())),
        "{}: tables hash differently:\n{printed}",
        board.triple
    );
    for wav in &wavs {
        let stem = wav.file_stem().unwrap().to_string_lossy();
        let got = std::fs::read(out.path().join(format!("{stem}.f32"))).unwrap();
        let want = std::fs::read(golden_features(wav)).unwrap();
        assert!(
            got == want,
            "{stem}: {} features differ from the golden file",
            board.triple
        );
        println!("{} {stem}: {} bytes identical", board.triple, got.len());
    }
}

#[test]
fn aarch64_features_are_bit_identical_to_the_golden_files() {
    features_are_bit_identical_to_the_golden_files(AARCH64);
}

#[test]
fn armv7_features_are_bit_identical_to_the_golden_files() {
    features_are_bit_identical_to_the_golden_files(ARMV7);
}

/// Peak signal-to-noise ratio of two RGB pictures of the same size, in dB (infinite when equal).
fn psnr(a: &Path, b: &Path) -> f64 {
    let a = image::open(a).unwrap().to_rgb8();
    let b = image::open(b).unwrap().to_rgb8();
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "the pictures differ in size"
    );
    let n = a.as_raw().len() as f64;
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / n;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[test]
fn aarch64_s2i_draws_the_same_picture_as_x86_64() {
    let root = workspace_root();
    let (arm, arm_build) = s2i_binary(Some(AARCH64));
    let (host, host_build) = s2i_binary(None);
    println!(
        "s2i built (or found up to date): aarch64 release in {:.1} s, x86_64 in {:.1} s",
        arm_build.as_secs_f64(),
        host_build.as_secs_f64()
    );
    let bundle = root.join("models/default");
    let wav = bundle.join("samples/yellow_body_black_wings.wav");
    let out = tempfile::tempdir().unwrap();
    let generate = |mut cmd: Command, png: &Path| {
        cmd.arg("generate")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--wav")
            .arg(&wav)
            .arg("--out")
            .arg(png)
            .args(["--seed", "7"]);
        let start = Instant::now();
        let printed = run(&mut cmd);
        (printed, start.elapsed())
    };
    let arm_png = out.path().join("aarch64.png");
    let host_png = out.path().join("x86_64.png");
    let (arm_out, arm_time) = generate(AARCH64.qemu_command(&arm), &arm_png);
    let (host_out, host_time) = generate(Command::new(&host), &host_png);
    println!(
        "aarch64 under qemu ({:.2} s):\n{arm_out}",
        arm_time.as_secs_f64()
    );
    println!(
        "x86_64 native ({:.2} s):\n{host_out}",
        host_time.as_secs_f64()
    );
    let db = psnr(&arm_png, &host_png);
    println!("PSNR aarch64 against x86_64: {db:.1} dB (at least {MIN_PSNR_DB} dB required)");
    assert!(
        db >= MIN_PSNR_DB,
        "the aarch64 picture differs from the x86_64 one: PSNR {db:.1} dB < {MIN_PSNR_DB} dB"
    );
}

#[test]
fn aarch64_kernels_match_their_definitions_under_qemu() {
    let (arm, _) = s2i_binary(Some(AARCH64));
    let bundle = workspace_root().join("models/default");
    let printed = run(AARCH64
        .qemu_command(&arm)
        .arg("check")
        .arg("--bundle")
        .arg(&bundle));
    println!("{printed}");
    assert!(
        printed.contains("kernels: direct convolution on neon; recurrent product on neon"),
        "{printed}"
    );
    assert!(
        printed.contains("neon: 6 convolution layers, 2 GRUs and 2 int8-weight dense layers")
            && printed.contains("matches the definition"),
        "{printed}"
    );
    // qemu's default CPU has the Armv8.2 dot product, as a Pi 5 does.
    assert!(
        printed.contains("int8 direct convolution on neon+dotprod"),
        "{printed}"
    );
    assert!(
        printed.contains("neon+dotprod: 3 int8 convolution layers, exactly the definition"),
        "{printed}"
    );
}
