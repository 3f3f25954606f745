//! The board's main job on the shipped bundle: a spoken sample in, a picture out, through the
//! real front end and tract (models/default, its samples made with espeak-ng).

use std::path::{Path, PathBuf};

use s2i_device::infer::{InferError, Pipeline};
use s2i_shared::bundle::Precision;
use s2i_shared::frontend::Frontend;

fn default_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("models/default")
}

fn sample(name: &str) -> PathBuf {
    default_bundle().join("samples").join(name)
}

fn mean_abs_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn the_same_wav_and_seed_give_the_same_picture_and_stages_grow() {
    let frontend = Frontend::default();
    let pipeline = Pipeline::load(&default_bundle(), &frontend).unwrap();
    let wav = sample("yellow_body_black_wings.wav");
    let features = frontend.features_from_wav_file(&wav).unwrap();
    let mut seen = Vec::new();
    let first = pipeline
        .generate(&features, "sample", 3, None, |img| seen.push(img.side))
        .unwrap();
    // Each stage reaches the caller as soon as it exists, smallest first.
    assert_eq!(seen, [64, 128]);
    assert_eq!(first.len(), pipeline.stages());
    let last = first.last().unwrap();
    assert_eq!(last.rgb.len(), (last.side * last.side * 3) as usize);
    // Not a flat picture.
    let mean = last.rgb.iter().map(|&v| v as f64).sum::<f64>() / last.rgb.len() as f64;
    let spread = last
        .rgb
        .iter()
        .map(|&v| (v as f64 - mean).abs())
        .sum::<f64>()
        / last.rgb.len() as f64;
    assert!(spread > 10.0, "spread {spread}");

    let again = pipeline
        .generate(&features, "sample", 3, None, |_| {})
        .unwrap();
    assert_eq!(again.last().unwrap().rgb, last.rgb);
    let other_seed = pipeline
        .generate(&features, "sample", 4, None, |_| {})
        .unwrap();
    assert!(mean_abs_difference(&other_seed.last().unwrap().rgb, &last.rgb) > 1.0);
    let preview = pipeline
        .generate(&features, "sample", 3, Some(1), |_| {})
        .unwrap();
    assert_eq!((preview.len(), preview[0].side), (1, 64));
    assert_eq!(preview[0].rgb, first[0].rgb);
}

#[test]
fn different_descriptions_give_different_pictures() {
    let frontend = Frontend::default();
    let pipeline = Pipeline::load(&default_bundle(), &frontend).unwrap();
    let draw = |name: &str| {
        let f = frontend.features_from_wav_file(&sample(name)).unwrap();
        pipeline
            .generate(&f, name, 0, None, |_| {})
            .unwrap()
            .pop()
            .unwrap()
            .rgb
    };
    let yellow = draw("yellow_body_black_wings.wav");
    let red = draw("red_body_blue_wings.wav");
    // Mean red minus mean blue+green over the picture: the red bird's is the larger.
    let redness = |rgb: &[u8]| {
        rgb.chunks(3)
            .map(|p| p[0] as f64 - (p[1] as f64 + p[2] as f64) / 2.0)
            .sum::<f64>()
            / (rgb.len() / 3) as f64
    };
    assert!(
        redness(&red) > redness(&yellow),
        "{} vs {}",
        redness(&red),
        redness(&yellow)
    );
}

#[test]
fn bad_input_is_named() {
    let frontend = Frontend::default();
    let pipeline = Pipeline::load(&default_bundle(), &frontend).unwrap();
    let f = frontend
        .features_from_wav_file(&sample("yellow_body_black_wings.wav"))
        .unwrap();
    let e = pipeline
        .generate(&f, "x.wav", 0, Some(7), |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("stage 7 does not exist"), "{e}");
    // Too little speech for the encoder: one clear message naming the source.
    let short = s2i_shared::frontend::Features {
        n_mels: f.n_mels,
        frames: 3,
        data: f.data[..f.n_mels * 3].to_vec(),
    };
    let e = pipeline
        .generate(&short, "short.wav", 0, None, |_| {})
        .unwrap_err();
    assert!(
        matches!(e, InferError::Input(_)) && e.to_string().contains("short.wav"),
        "{e}"
    );
}

#[test]
fn the_generate_command_writes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bird.png");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_s2i"))
        .args(["generate", "--bundle"])
        .arg(default_bundle())
        .arg("--wav")
        .arg(sample("grey_body_blue_wings.wav"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("wrote"));
    let png = image::open(&out).unwrap();
    assert_eq!((png.width(), png.height()), (128, 128));

    // A tampered bundle is refused, naming the file.
    let copy = dir.path().join("tampered");
    std::fs::create_dir_all(&copy).unwrap();
    for f in std::fs::read_dir(default_bundle()).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
        }
    }
    let stage = copy.join("generator_stage2.onnx");
    let mut bytes = std::fs::read(&stage).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&stage, bytes).unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_s2i"))
        .args(["check", "--bundle"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!check.status.success());
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("generator_stage2.onnx") && err.contains("SHA-256"),
        "{err}"
    );
}

#[test]
fn the_grid_command_draws_a_labelled_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sheet.png");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_s2i"))
        .args(["grid", "--bundle"])
        .arg(default_bundle())
        .args(["--columns", "2", "--cell", "96", "--out"])
        .arg(&out)
        .arg(sample("yellow_body_black_wings.wav"))
        .arg(sample("red_body_blue_wings.wav"))
        .arg(sample("grey_body_blue_wings.wav"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let sheet = image::open(&out).unwrap();
    // Two columns and two rows of 96² cells with labels and a title.
    assert!(
        sheet.width() >= 2 * 96 && sheet.width() < 3 * 96,
        "{}",
        sheet.width()
    );
    assert!(sheet.height() >= 2 * 96 + 20, "{}", sheet.height());
    // A wav that is not there is named.
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_s2i"))
        .args(["grid", "--bundle"])
        .arg(default_bundle())
        .arg("--out")
        .arg(&out)
        .arg(dir.path().join("nope.wav"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.wav"));
}

#[test]
fn bench_times_every_step() {
    let frontend = Frontend::default();
    let pipelines = [
        Pipeline::load(&default_bundle(), &frontend).unwrap(),
        Pipeline::load_precision(&default_bundle(), &frontend, Precision::Int8).unwrap(),
    ];
    let reports = s2i_device::bench::bench(
        &pipelines,
        &frontend,
        &sample("red_body_black_wings.wav"),
        3,
        1,
    )
    .unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (reports[0].precision, reports[1].precision),
        ("f32", "int8")
    );
    let table = s2i_device::bench::side_by_side(&reports);
    println!("{table}");
    assert!(
        table.contains("f32/int8") && table.contains("generator stage 2"),
        "{table}"
    );
    let report = &reports[1];
    let names: Vec<&str> = report.timings.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "front end",
            "speech encoder",
            "generator stage 1",
            "generator stage 2",
            "end to end"
        ]
    );
    for t in &report.timings {
        assert_eq!(t.runs.len(), 3);
        assert!(t.median_ms() > 0.0 && t.min_ms() <= t.median_ms(), "{t:?}");
    }
    let end_to_end = report.timings.last().unwrap().median_ms();
    assert!(end_to_end >= report.timings[3].median_ms());
    assert!(report.speech_ms > 500.0);
    assert!(report.peak_memory_bytes.unwrap_or(1) > 0);
    assert!(report.to_string().contains("generator stage 2"));
}

#[test]
fn the_generators_wide_convolutions_run_on_our_direct_convolution() {
    let pipeline = Pipeline::load(&default_bundle(), &Frontend::default()).unwrap();
    let kernels = pipeline.kernels();
    for k in &kernels {
        println!(
            "{}: {} direct convolutions",
            k.file.display(),
            k.direct_convolutions
        );
    }
    if s2i_kernels::Isa::detect().is_none() {
        return; // tract's own lowering everywhere: nothing of ours to find
    }
    // Stage 2's 64² convolutions and its 128² image head; the encoder has none (stride 2).
    assert_eq!(kernels[0].direct_convolutions, 0, "{kernels:?}");
    assert!(kernels[2].direct_convolutions >= 4, "{kernels:?}");
}
