//! The board configuration: the shipped deploy/*.toml parse to what they say, every bad file
//! gets a message naming the file, the key and the problem, and `s2i run --check` /
//! `s2i devices` work from the command line.

mod app_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use app_support::*;
use s2i_device::app::config::{
    AudioConfig, ButtonConfig, Controller, DisplayConfig, FramebufferConfig, GpioButtonConfig,
    PngConfig, SpiConfig,
};
use s2i_device::app::{Config, Mode};

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy")
        .join(name)
}

#[test]
fn the_shipped_handheld_config_parses_to_what_it_says() {
    let c = Config::load(&deploy("handheld.toml")).unwrap();
    assert_eq!(c.mode, Mode::Handheld);
    assert_eq!(c.bundle, Path::new("/opt/s2i/current/bundle"));
    assert_eq!(c.seed, 0);
    assert_eq!(
        c.audio,
        AudioConfig::Microphone {
            device: "default".into(),
            max_seconds: 8.0
        }
    );
    assert_eq!(
        c.display,
        DisplayConfig::Spi(SpiConfig {
            controller: Controller::St7789,
            width: 240,
            height: 240,
            spidev: "/dev/spidev0.0".into(),
            speed_hz: 40_000_000,
            spi_mode: 0,
            gpio_chip: "pinctrl-bcm2711".into(),
            dc: 25,
            reset: Some(27),
            backlight: Some(18),
        })
    );
    assert_eq!(
        c.button,
        Some(ButtonConfig::Gpio(GpioButtonConfig {
            gpio_chip: "pinctrl-bcm2711".into(),
            line: 17,
            active_low: true,
            debounce_ms: 30,
        }))
    );
    assert_eq!(c.kiosk, None);
}

#[test]
fn the_shipped_kiosk_config_parses_to_what_it_says() {
    let c = Config::load(&deploy("kiosk.toml")).unwrap();
    assert_eq!(c.mode, Mode::Kiosk);
    assert_eq!(
        c.display,
        DisplayConfig::Framebuffer(FramebufferConfig {
            device: "/dev/fb0".into()
        })
    );
    assert_eq!(c.button, None);
    let k = c.kiosk();
    assert_eq!((k.silence_ms, k.hold_seconds), (800, 20.0));
    assert_eq!(c.audio.max_seconds(), 8.0);
}

const GOOD: &str = r#"
mode = "handheld"
bundle = "bundle"
last_stage = 1

[audio]
source = "wav"
wav_files = ["a.wav", "/abs/b.wav"]

[display]
kind = "png"
path = "out/screen.png"

[button]
kind = "enter"
"#;

#[test]
fn relative_paths_are_relative_to_the_config_file_and_defaults_fill_in() {
    let c = Config::parse(GOOD, "board.toml", Path::new("/etc/s2i")).unwrap();
    assert_eq!(c.bundle, Path::new("/etc/s2i/bundle"));
    assert_eq!(c.last_stage, Some(1));
    assert_eq!(
        c.audio,
        AudioConfig::Wav {
            wav_files: vec!["/etc/s2i/a.wav".into(), "/abs/b.wav".into()],
            max_seconds: 8.0
        }
    );
    assert_eq!(
        c.display,
        DisplayConfig::Png(PngConfig {
            path: "/etc/s2i/out/screen.png".into(),
            width: 320,
            height: 240
        })
    );
}

/// The error for GOOD with `from` replaced by `to`.
fn error_for(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    let text = GOOD.replacen(from, to, 1);
    let e = Config::parse(&text, "board.toml", Path::new("/etc")).unwrap_err();
    e.to_string()
}

#[track_caller]
fn says(message: &str, parts: &[&str]) {
    assert!(message.starts_with("board.toml: "), "{message}");
    for p in parts {
        assert!(message.contains(p), "{message:?} should mention {p:?}");
    }
}

#[test]
fn bad_configs_name_the_file_the_key_and_the_problem() {
    // Unknown keys, at the top and inside each kind of section.
    says(
        &error_for("last_stage = 1", "last_stag = 1"),
        &["last_stag", "unknown field"],
    );
    says(
        &error_for("path = \"out/screen.png\"", "path = \"s.png\"\nwidht = 3"),
        &["widht", "unknown field"],
    );
    says(
        &error_for("wav_files = [", "device = \"x\"\nwav_files = ["),
        &["device", "unknown field"],
    );
    says(
        &error_for("kind = \"enter\"", "kind = \"enter\"\nline = 4"),
        &["line", "unknown field"],
    );
    // Wrong types and values.
    says(
        &error_for("last_stage = 1", "seed = \"zero\""),
        &["seed", "line 4"],
    );
    says(
        &error_for("source = \"wav\"", "source = \"mic\""),
        &["mic", "microphone", "wav"],
    );
    says(
        &error_for("kind = \"png\"", "kind = \"hdmi\""),
        &["hdmi", "framebuffer"],
    );
    says(
        &error_for("path = \"out/screen.png\"", ""),
        &["missing field", "path"],
    );
    says(
        &error_for("mode = \"handheld\"", "mode = \"museum\""),
        &["museum", "kiosk"],
    );
    // Checks beyond the types.
    says(
        &error_for("[button]\nkind = \"enter\"", ""),
        &["`button`", "handheld mode needs"],
    );
    says(
        &error_for("last_stage = 1", "last_stage = 0"),
        &["`last_stage`"],
    );
    says(
        &error_for("wav_files = [\"a.wav\", \"/abs/b.wav\"]", "wav_files = []"),
        &["`audio.wav_files`", "at least one"],
    );
    says(
        &error_for("source = \"wav\"", "source = \"wav\"\nmax_seconds = 60"),
        &["`audio.max_seconds`", "60"],
    );
    let kiosk = GOOD
        .replace("mode = \"handheld\"", "mode = \"kiosk\"")
        .replace("[button]\nkind = \"enter\"", "[kiosk]\nsilence_ms = 10");
    let e = Config::parse(&kiosk, "board.toml", Path::new("/")).unwrap_err();
    says(&e.to_string(), &["`kiosk.silence_ms`", "10"]);
    let kiosk_with_button = GOOD.replace("mode = \"handheld\"", "mode = \"kiosk\"");
    let e = Config::parse(&kiosk_with_button, "board.toml", Path::new("/")).unwrap_err();
    says(&e.to_string(), &["`button`", "no button"]);
    // A file that is not there.
    let e = Config::load(Path::new("/no/such/board.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/no/such/board.toml: cannot read"),
        "{e}"
    );
}

fn s2i(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_s2i"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn run_check_validates_the_config_and_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("board.toml");
    let text = format!(
        "mode = \"kiosk\"\nbundle = \"{}\"\n\n[audio]\nsource = \"wav\"\nwav_files = [\"{}\"]\n\n\
         [display]\nkind = \"png\"\npath = \"screen.png\"\n",
        default_bundle().display(),
        sample_path(SAMPLES[0]).display()
    );
    std::fs::write(&config, &text).unwrap();
    let out = s2i(&["run", "--config", config.to_str().unwrap(), "--check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Kiosk mode"), "{stdout}");
    assert!(stdout.contains("configuration valid"), "{stdout}");

    // A bundle that is not there, and a stage it does not have, fail with the reason.
    std::fs::write(&config, text.replace("models/default", "models/nothing")).unwrap();
    let out = s2i(&["run", "--config", config.to_str().unwrap(), "--check"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("models/nothing"));
    std::fs::write(&config, format!("last_stage = 7\n{text}")).unwrap();
    let out = s2i(&["run", "--config", config.to_str().unwrap(), "--check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("last_stage = 7") && stderr.contains("1..=2"),
        "{stderr}"
    );
}

#[test]
fn devices_lists_every_kind_and_never_fails() {
    let out = s2i(&["devices"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for title in [
        "audio inputs:",
        "framebuffers:",
        "SPI devices:",
        "GPIO chips:",
    ] {
        assert!(stdout.contains(title), "{stdout}");
    }
}

#[test]
fn run_draws_on_the_configured_png_screen_with_the_enter_key_as_push_to_talk() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("desk.toml");
    let wav = sample_path(SAMPLES[0]);
    std::fs::write(
        &config,
        format!(
            "mode = \"handheld\"\nbundle = \"{}\"\nseed = 3\n\n[audio]\nsource = \"wav\"\n\
             wav_files = [\"{}\"]\n\n[display]\nkind = \"png\"\npath = \"screen.png\"\n\
             width = 200\nheight = 150\n\n[button]\nkind = \"enter\"\n",
            default_bundle().display(),
            wav.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s2i"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the app to be ready (the bundle takes a moment to plan).
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Handheld mode") {
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "s2i ended: {seen}");
        seen += &line;
    }
    let mut stdin = child.stdin.take().unwrap();
    // Enter, the wav plays in real time (3.3 s), Enter again; then stdin closes.
    stdin.write_all(b"\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3_600));
    stdin.write_all(b"\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{seen}{rest}");
    assert!(
        stdout.contains("1 picture(s), 0 error(s)"),
        "{stdout}{seen}{rest}"
    );
    assert!(rest.contains("with seed 3"), "{rest}");
    let screen = image::open(dir.path().join("screen.png")).unwrap();
    assert_eq!((screen.width(), screen.height()), (200, 150));
}
