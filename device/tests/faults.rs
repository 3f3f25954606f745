//! Issue 22's faults, each run through the real `s2i` under an address-space limit: every one
//! must end with exit status 1 and one line naming the file and the problem, in bounded memory
//! (peak RSS under 150 MB) and without hanging. Each of these failed before its fix (a 17 GB
//! allocation, a bundle that `check` passed and `generate` could not use, a truncated PNG, a
//! FIFO read forever, a `run --check` that opened nothing, a backtrace per error).
#![cfg(target_os = "linux")]

mod fault_support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use fault_support::*;

/// A canonical 44-byte PCM header with every field given, then `body`.
fn wav(
    channels: u16,
    rate: u32,
    block_align: u16,
    bits: u16,
    data_len: u32,
    body: usize,
) -> Vec<u8> {
    let mut h = b"RIFF".to_vec();
    h.extend_from_slice(&36u32.wrapping_add(data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.wrapping_mul(block_align as u32).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h.resize(h.len() + body, 0x80);
    h
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

fn generate(wav: &Path, out: &Path) -> Outcome {
    s2i(&[
        OsStr::new("generate"),
        OsStr::new("--bundle"),
        os(&default_bundle()),
        OsStr::new("--wav"),
        os(wav),
        OsStr::new("--out"),
        os(out),
    ])
}

#[test]
fn wav_headers_declaring_huge_sizes_are_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bird.png");
    let cases = [
        (
            // 70 KB declaring 4 294 967 294 one-byte samples at 4 294 967 295 Hz ("1 s").
            write(
                dir.path(),
                "fast.wav",
                &wav(1, u32::MAX, 1, 8, u32::MAX - 1, 70_000),
            ),
            "sample rate 4294967295 Hz is not supported",
        ),
        (
            // 65 535 channels at 48 kHz: 1.4 s by the header.
            write(
                dir.path(),
                "wide.wav",
                &wav(u16::MAX, 48_000, u16::MAX, 8, 65_535 * 65_535, 70_000),
            ),
            "the wav header declares 65535 channels; at most 32 are read",
        ),
    ];
    for (path, says) in &cases {
        let name = path.display().to_string();
        let features = s2i(&[OsStr::new("features"), os(path)]);
        println!("features {name}: {features:?}");
        features.assert_refused(&[&name, says]);
        let drawn = generate(path, &out);
        drawn.assert_refused(&[&name, says]);
    }
    assert!(!out.exists());
}

#[test]
fn special_files_given_as_a_wav_are_refused_by_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.wav");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = dir.path().join("bird.png");
    for (path, says) in [
        (fifo.clone(), "a FIFO (named pipe), not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "a character device, not a regular file",
        ),
        (
            PathBuf::from("/dev/urandom"),
            "a character device, not a regular file",
        ),
        (dir.path().to_path_buf(), "a directory, not a regular file"),
    ] {
        let name = format!("{}: {says}", path.display());
        let features = s2i(&[OsStr::new("features"), os(&path)]);
        println!("{features:?}");
        features.assert_refused(&[&name]);
        generate(&path, &out).assert_refused(&[&name]);
    }
}

/// The ways a manifest's numbers can make a bundle that `check` must refuse, and what the
/// refusal names.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

fn bad_manifests() -> Vec<(&'static str, Edit, &'static str)> {
    vec![
        (
            "z_dim 1e14",
            Box::new(|m| m["hyper_parameters"]["generator"]["z_dim"] = 100_000_000_000_000u64.into()),
            "hyper_parameters.generator.z_dim = 100000000000000 is not a whole number in 1..=4096",
        ),
        (
            "z_dim 101",
            Box::new(|m| m["hyper_parameters"]["generator"]["z_dim"] = 101.into()),
            "generator_stage1.onnx: input noise is f32 [1, 100], but hyper_parameters.generator.z_dim = 101 makes it f32 [1, 101]",
        ),
        (
            "min_frames u64::MAX",
            Box::new(|m| m["hyper_parameters"]["min_frames"] = u64::MAX.into()),
            "hyper_parameters.min_frames = 18446744073709551615 is not a whole number in 1..=2001",
        ),
        (
            "noise shape and z_dim both 99",
            Box::new(|m| {
                m["hyper_parameters"]["generator"]["z_dim"] = 99.into();
                m["files"][1]["inputs"][1]["shape"][1] = 99.into();
            }),
            "generator_stage1.onnx: input noise: the manifest says f32 [1, 99] but the model declares f32 [1, 100]",
        ),
        (
            "a stage-1 picture of 32² listed",
            Box::new(|m| {
                m["files"][1]["outputs"][0]["shape"][2] = 32.into();
                m["files"][1]["outputs"][0]["shape"][3] = 32.into();
            }),
            "generator_stage1.onnx: output image is f32 [1, 3, 64, 64] once planned; the manifest says f32 [1, 3, 32, 32]",
        ),
    ]
}

#[test]
fn check_refuses_bundles_that_generate_and_run_cannot_use() {
    let cases = bad_manifests();
    for (what, edit, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let bundle = edited_bundle(dir.path(), edit);
        let check = s2i(&[OsStr::new("check"), OsStr::new("--bundle"), os(&bundle)]);
        println!("{what}: {check:?}");
        check.assert_refused(&[&bundle.display().to_string(), says]);

        let out = dir.path().join("bird.png");
        let drawn = s2i(&[
            OsStr::new("generate"),
            OsStr::new("--bundle"),
            os(&bundle),
            OsStr::new("--wav"),
            os(&sample("yellow_body_black_wings.wav")),
            OsStr::new("--out"),
            os(&out),
        ]);
        drawn.assert_refused(&[says]);
        assert!(!out.exists(), "{what}: a picture was written");

        let config = dir.path().join("board.toml");
        std::fs::write(&config, png_config(&bundle, dir.path(), "")).unwrap();
        let run = s2i(&[
            OsStr::new("run"),
            OsStr::new("--config"),
            os(&config),
            OsStr::new("--check"),
        ]);
        run.assert_refused(&[says]);
    }
}

/// A kiosk config that works here (wav input, PNG screen), plus `extra` TOML.
fn png_config(bundle: &Path, dir: &Path, extra: &str) -> String {
    format!(
        "mode = \"kiosk\"\nbundle = \"{}\"\n\n[audio]\nsource = \"wav\"\nwav_files = [\"{}\"]\n\n\
         [display]\nkind = \"png\"\npath = \"{}\"\n{extra}",
        bundle.display(),
        sample("red_body_blue_wings.wav").display(),
        dir.join("screen/screen.png").display()
    )
}

#[test]
fn run_check_opens_every_device_the_config_names() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = default_bundle();
    let good = png_config(&bundle, dir.path(), "");
    let config = dir.path().join("board.toml");
    std::fs::write(&config, &good).unwrap();
    let run_check = |text: &str| {
        std::fs::write(&config, text).unwrap();
        s2i(&[
            OsStr::new("run"),
            OsStr::new("--config"),
            os(&config),
            OsStr::new("--check"),
        ])
    };
    let ok = run_check(&good);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(
        ok.stdout.contains("display: a 320x240 PNG screen"),
        "{ok:?}"
    );
    assert!(
        !dir.path().join("screen").exists(),
        "the check drew a screen"
    );

    let name = config.display().to_string();
    let not_a_framebuffer = write(dir.path(), "fb-file", &[0u8; 4096]);
    let display = |table: &str| {
        good.replace(
            &format!(
                "[display]\nkind = \"png\"\npath = \"{}\"\n",
                dir.path().join("screen/screen.png").display()
            ),
            table,
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            display(
                "[display]\nkind = \"spi\"\ncontroller = \"st7789\"\nwidth = 240\nheight = 240\n\
                 spidev = \"/dev/spidev9.9\"\nspeed_hz = 40000000\ngpio_chip = \"pinctrl-bcm2711\"\n\
                 dc = 25\n",
            ),
            "cannot open /dev/spidev9.9: No such file or directory",
        ),
        (
            display("[display]\nkind = \"framebuffer\"\ndevice = \"/dev/fb7\"\n"),
            "/dev/fb7: cannot open the framebuffer",
        ),
        (
            display(&format!(
                "[display]\nkind = \"framebuffer\"\ndevice = \"{}\"\n",
                not_a_framebuffer.display()
            )),
            "fb-file",
        ),
        (
            display(&format!(
                "[display]\nkind = \"png\"\npath = \"{}\"\nwidth = 100000\nheight = 100000\n",
                dir.path().join("big.png").display()
            )),
            "a 100000x100000 screen is not possible (1..=8192 each side)",
        ),
        (
            display(&format!(
                "[display]\nkind = \"png\"\npath = \"{}\"\n",
                not_a_framebuffer.join("screen.png").display()
            )),
            "is not a folder",
        ),
        (
            good.replace("mode = \"kiosk\"", "mode = \"handheld\"")
                + "\n[button]\nkind = \"gpio\"\ngpio_chip = \"pinctrl-bcm2711\"\nline = 9999\n",
            "\"pinctrl-bcm2711\"",
        ),
    ];
    let mut cases = cases;
    if !cfg!(feature = "microphone") {
        let wav_audio = format!(
            "[audio]\nsource = \"wav\"\nwav_files = [\"{}\"]\n",
            sample("red_body_blue_wings.wav").display()
        );
        cases.push((
            good.replace(&wav_audio, "[audio]\nsource = \"microphone\"\n"),
            "audio source \"microphone\" needs a binary built with the `microphone` feature",
        ));
    }
    for (text, says) in &cases {
        let refused = run_check(text);
        println!("{refused:?}");
        refused.assert_refused(&[&name, says]);
    }
}

#[test]
fn generate_checks_its_output_first_and_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let wav = sample("grey_body_blue_wings.wav");
    // A format it cannot write: refused before anything, no empty file left.
    let bmp = dir.path().join("x.bmp");
    generate(&wav, &bmp).assert_refused(&["x.bmp: cannot write a .bmp picture"]);
    assert!(!bmp.exists(), "a file was left behind");
    // A folder.
    generate(&wav, dir.path()).assert_refused(&["is a directory; give a file name inside it"]);

    // A good picture, then a write that fails half way (a file-size limit, as a full disk
    // would): the good picture stays as it was and no temporary file is left.
    let out = dir.path().join("bird.png");
    let first = generate(&wav, &out);
    assert_eq!(first.code, Some(0), "{first:?}");
    let good = std::fs::read(&out).unwrap();
    let (bundle, other) = (default_bundle(), sample("red_body_black_wings.wav"));
    let args = [
        OsStr::new("generate"),
        OsStr::new("--bundle"),
        os(&bundle),
        OsStr::new("--wav"),
        os(&other),
        OsStr::new("--out"),
        os(&out),
    ];
    let full = s2i_limited(&args, &[], Some(FileSizeLimit(4096)));
    println!("{full:?}");
    full.assert_refused(&["bird.png", "File too large"]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        good,
        "the good picture changed"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn grid_refuses_an_oversized_sheet_before_drawing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sheet.png");
    let wav = sample("grey_body_blue_wings.wav");
    let refused = s2i(&[
        OsStr::new("grid"),
        OsStr::new("--bundle"),
        os(&default_bundle()),
        OsStr::new("--cell"),
        OsStr::new("100000"),
        OsStr::new("--out"),
        os(&out),
        os(&wav),
        os(&wav),
        os(&wav),
    ]);
    refused
        .assert_refused(&["--cell 100000 make a 300032x100052 sheet; at most 8192 pixels a side"]);
    assert!(!out.exists());
}

#[test]
fn links_and_devices_in_a_bundle_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with(dir.path(), &default_manifest());
    // A link to a file whose bytes hash right, outside the bundle.
    let stage = bundle.join("generator_stage2.onnx");
    let outside = dir.path().join("outside.onnx");
    std::fs::rename(&stage, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &stage).unwrap();
    let check = s2i(&[OsStr::new("check"), OsStr::new("--bundle"), os(&bundle)]);
    check.assert_refused(&[
        &format!(
            "{}: a symbolic link (to {})",
            stage.display(),
            outside.display()
        ),
        "a bundle holds regular files only",
    ]);
    // A link to /dev/zero: refused at once, not hashed forever.
    std::fs::remove_file(&stage).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &stage).unwrap();
    s2i(&[OsStr::new("check"), OsStr::new("--bundle"), os(&bundle)])
        .assert_refused(&["generator_stage2.onnx: a symbolic link (to /dev/zero)"]);
}

#[test]
fn errors_are_one_line_unless_debugging_is_asked_for() {
    let missing = Path::new("/no/such/bundle");
    let args = [OsStr::new("check"), OsStr::new("--bundle"), os(missing)];
    // RUST_BACKTRACE=1 (which the service once set) changes nothing: one line.
    let plain = s2i_limited(&args, &[("RUST_BACKTRACE", "1")], None);
    plain.assert_refused(&[
        "error: bundle /no/such/bundle is not usable: /no/such/bundle/manifest.json: cannot read the manifest",
    ]);
    // RUST_LOG=debug: each cause on its own line.
    let debug = s2i_limited(&args, &[("RUST_LOG", "debug")], None);
    assert_eq!(debug.code, Some(1));
    assert!(debug.stderr.contains("Caused by:"), "{debug:?}");
    assert!(debug.stderr.lines().count() > 2, "{debug:?}");
}
