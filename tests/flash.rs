//! deploy/flash.sh, run for real into local folders laid out like a board's root (`--root DIR`):
//! install, upgrade, a failed upgrade that is never switched to, rollback, pruning, refusals
//! (tampered bundle, a link in the bundle, unknown target, wrong-CPU binary, unreachable board,
//! full disk, a config whose devices `run --check` cannot open, another flash holding the lock)
//! and `--dry-run`. The installs use the x86_64 `s2i`, so the checks on the "board" run it
//! natively; one installs the aarch64 build and checks it under qemu-aarch64. The configs
//! installed are tests/data/flash/*.toml (wav input, PNG screen): deploy/kiosk.toml names a
//! microphone and /dev/fb0, which `run --check` rightly refuses on a machine without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use s2igan_edge::{require_tool, s2i_binary, workspace_root, AARCH64};

fn flash(args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(workspace_root().join("deploy/flash.sh"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("cannot start bash deploy/flash.sh");
    println!(
        "$ deploy/flash.sh {}\n{}{}-> {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "flash.sh failed:\n{}", text(out));
}

/// Fails unless flash.sh failed with exit status `code` and said `needle`.
fn assert_refused(out: &Output, code: i32, needle: &str) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(code), "unexpected status:\n{all}");
    assert!(all.contains(needle), "expected {needle:?} in:\n{all}");
}

/// The x86_64 release s2i, as a string argument.
fn host_s2i() -> String {
    s2i_binary(None).0.display().to_string()
}

/// The configs installed by these tests (they pass `run --check` on any Linux machine).
const KIOSK: &str = "tests/data/flash/kiosk.toml";
const HANDHELD: &str = "tests/data/flash/handheld.toml";

/// Installs the native s2i into `root` with `extra` options (the test kiosk config unless they
/// name one).
fn install(root: &Path, extra: &[&str]) -> Output {
    let s2i = host_s2i();
    let root = root.display().to_string();
    let mut args = vec![
        "--root",
        &root,
        "--target",
        "x86_64",
        "--binary",
        &s2i,
        "--host-s2i",
        &s2i,
    ];
    if !extra.contains(&"--config") {
        args.extend_from_slice(&["--config", KIOSK]);
    }
    args.extend_from_slice(extra);
    flash(&args)
}

fn opt(root: &Path) -> PathBuf {
    root.join("opt/s2i")
}

fn link(root: &Path, name: &str) -> Option<String> {
    std::fs::read_link(opt(root).join(name))
        .ok()
        .map(|p| p.display().to_string())
}

fn releases(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(opt(root).join("releases"))
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Checks one installed release: complete, its files, and its config.
fn assert_complete_release(root: &Path, name: &str, config: &str) {
    let dir = opt(root).join("releases").join(name);
    for file in [
        ".complete",
        "bin/s2i",
        "bundle/manifest.json",
        "bundle/speech_encoder.onnx",
        "config.toml",
        "RELEASE",
        "SHA256SUMS",
    ] {
        assert!(dir.join(file).is_file(), "{name}: {file} is missing");
    }
    assert_eq!(
        std::fs::read(dir.join("config.toml")).unwrap(),
        std::fs::read(workspace_root().join(config)).unwrap(),
        "{name}: config.toml is not {config}"
    );
}

/// The unit and its enable link, as `systemctl enable` would leave them.
fn assert_unit_installed(root: &Path) {
    let unit = root.join("etc/systemd/system/s2i.service");
    assert_eq!(
        std::fs::read(&unit).unwrap(),
        std::fs::read(workspace_root().join("deploy/s2i.service")).unwrap()
    );
    let wants = root.join("etc/systemd/system/multi-user.target.wants/s2i.service");
    assert_eq!(
        std::fs::read_link(wants).unwrap(),
        Path::new("/etc/systemd/system/s2i.service")
    );
}

/// Every path under `dir` with its symlink target or size: equal snapshots, untouched tree.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(base, &path, out);
                "dir".to_string()
            } else {
                format!("{} bytes", meta.len())
            };
            out.insert(path.strip_prefix(base).unwrap().to_path_buf(), what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The release name flash.sh reported for the latest install.
fn installed_name(out: &Output) -> String {
    let all = text(out);
    let line = all
        .lines()
        .find_map(|l| l.strip_prefix("[flash] done: "))
        .unwrap_or_else(|| panic!("no done line in:\n{all}"));
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn install_upgrade_failed_upgrade_rollback_and_pruning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // 1. First install: current points at it, no previous yet, the unit is enabled.
    let out = install(root, &["--config", KIOSK]);
    assert_ok(&out);
    let first = installed_name(&out);
    assert_complete_release(root, &first, KIOSK);
    assert_eq!(link(root, "current"), Some(format!("releases/{first}")));
    assert_eq!(link(root, "previous"), None);
    assert_unit_installed(root);
    assert!(text(&out).contains("check --bundle"));

    // 2. Upgrade (another config): current switches, previous keeps the first.
    let out = install(root, &["--config", HANDHELD]);
    assert_ok(&out);
    let second = installed_name(&out);
    assert_ne!(first, second);
    assert_complete_release(root, &second, HANDHELD);
    assert_eq!(link(root, "current"), Some(format!("releases/{second}")));
    assert_eq!(link(root, "previous"), Some(format!("releases/{first}")));

    // 3. A failed upgrade: the binary is cut off after 64 KiB, as a copy from a dying SD card or
    // an interrupted download would be. Its ELF header is intact (so it is accepted as an
    // x86_64 binary) but it cannot run: its check on the "board" fails before anything is
    // switched, and the second release stays current.
    let broken = tmp.path().join("s2i-truncated");
    let whole = std::fs::read(s2i_binary(None).0).unwrap();
    std::fs::write(&broken, &whole[..64 * 1024]).unwrap();
    let root_s = root.display().to_string();
    let host = host_s2i();
    let out = flash(&[
        "--root",
        &root_s,
        "--target",
        "x86_64",
        "--binary",
        broken.to_str().unwrap(),
        "--host-s2i",
        &host,
        "--config",
        KIOSK,
    ]);
    assert_refused(
        &out,
        1,
        &format!(
            "did not pass its checks on the board (above); nothing was switched: {} still runs releases/{second}",
            root.display()
        ),
    );
    assert_eq!(link(root, "current"), Some(format!("releases/{second}")));
    assert_eq!(link(root, "previous"), Some(format!("releases/{first}")));
    let failed: Vec<String> = releases(root)
        .into_iter()
        .filter(|r| *r != first && *r != second)
        .collect();
    assert_eq!(failed.len(), 1, "one failed release expected: {failed:?}");
    let failed_dir = opt(root).join("releases").join(&failed[0]);
    assert!(!failed_dir.join(".complete").exists() && failed_dir.join(".failed").exists());

    // 4. Rollback by hand: current and previous swap.
    let out = flash(&["--root", &root_s, "--rollback"]);
    assert_ok(&out);
    assert_eq!(link(root, "current"), Some(format!("releases/{first}")));
    assert_eq!(link(root, "previous"), Some(format!("releases/{second}")));

    // 5. A copy that was interrupted (a release folder without .complete) and the failed
    // release are removed by the next flash; current never pointed at either.
    let partial = opt(root).join("releases/20000101-000000-interrupted");
    std::fs::create_dir_all(partial.join("bundle")).unwrap();
    std::fs::write(partial.join("bundle/manifest.json"), b"{").unwrap();
    let out = install(root, &["--config", KIOSK]);
    assert_ok(&out);
    let third = installed_name(&out);
    assert!(
        text(&out).contains("removing incomplete or failed release 20000101-000000-interrupted")
    );
    // (A third flash within the same second reuses the failed release's name for a new,
    // complete release: what must be gone is the failed one, not the name.)
    assert!(!partial.exists() && !failed_dir.join(".failed").exists());
    assert_eq!(link(root, "current"), Some(format!("releases/{third}")));
    assert_eq!(link(root, "previous"), Some(format!("releases/{first}")));
    assert_eq!(releases(root), {
        let mut v = vec![first.clone(), second.clone(), third.clone()];
        v.sort();
        v
    });

    // 6. A fourth release with --keep 3: previous moves to the third, so the oldest release
    // (the first, neither current nor previous any more) is removed.
    let out = install(root, &["--keep", "3"]);
    assert_ok(&out);
    let fourth = installed_name(&out);
    assert_eq!(link(root, "current"), Some(format!("releases/{fourth}")));
    assert_eq!(link(root, "previous"), Some(format!("releases/{third}")));
    let kept = releases(root);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(
        !kept.contains(&first),
        "the oldest release should be gone: {kept:?}"
    );
    for name in &kept {
        let config = if *name == second { HANDHELD } else { KIOSK };
        assert_complete_release(root, name, config);
    }
}

#[test]
fn a_tampered_bundle_is_refused_before_anything_is_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    let out = install(&root, &[]);
    assert_ok(&out);
    let before = snapshot(&root);

    // One byte of the stage-2 generator changed: its SHA-256 no longer matches the manifest.
    let bundle = tmp.path().join("tampered");
    std::fs::create_dir(&bundle).unwrap();
    let default = workspace_root().join("models/default");
    for e in std::fs::read_dir(&default).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), bundle.join(e.file_name())).unwrap();
        }
    }
    let model = bundle.join("generator_stage2.onnx");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&model, bytes).unwrap();

    let out = install(&root, &["--bundle", bundle.to_str().unwrap()]);
    assert_refused(&out, 1, "failed verification");
    assert!(text(&out).contains("nothing was copied"));
    assert!(
        text(&out).contains("generator_stage2.onnx"),
        "the message should name the file"
    );
    assert_eq!(snapshot(&root), before, "the board's root changed");
}

#[test]
fn a_config_whose_devices_cannot_be_opened_is_never_switched_to() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    let out = install(&root, &[]);
    assert_ok(&out);
    let running = link(&root, "current").unwrap();
    let kiosk = std::fs::read_to_string(workspace_root().join(KIOSK)).unwrap();
    let png = "[display]\nkind = \"png\"\npath = \"/var/lib/s2i/screen.png\"\n";
    assert!(kiosk.contains(png));
    let mut cases = vec![
        (
            "spidev",
            kiosk.replace(
                png,
                "[display]\nkind = \"spi\"\ncontroller = \"st7789\"\nwidth = 240\nheight = 240\n\
                 spidev = \"/dev/spidev9.9\"\nspeed_hz = 40000000\ngpio_chip = \"pinctrl-bcm2711\"\n\
                 dc = 25\n",
            ),
            "cannot open /dev/spidev9.9",
        ),
        (
            "gpio",
            kiosk.replace("mode = \"kiosk\"", "mode = \"handheld\"").replace(
                "[kiosk]\nhold_seconds = 20\n",
                "[button]\nkind = \"gpio\"\ngpio_chip = \"pinctrl-bcm2711\"\nline = 9999\n",
            ),
            "\"pinctrl-bcm2711\"",
        ),
        (
            "png",
            kiosk.replace(png, &format!("{png}width = 100000\nheight = 100000\n")),
            "a 100000x100000 screen is not possible",
        ),
    ];
    let devices = Command::new(host_s2i()).arg("devices").output().unwrap();
    if String::from_utf8_lossy(&devices.stdout).contains("without the `microphone` feature") {
        let wav = "source = \"wav\"\nwav_files = [\"/opt/s2i/current/bundle/samples/yellow_body_black_wings.wav\"]\n";
        assert!(kiosk.contains(wav));
        cases.push((
            "microphone",
            kiosk.replace(wav, "source = \"microphone\"\n"),
            "audio source \"microphone\" needs a binary built with the `microphone` feature",
        ));
    }
    for (name, body, says) in cases {
        let config = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&config, body).unwrap();
        let out = install(&root, &["--config", config.to_str().unwrap()]);
        assert_refused(&out, 1, "did not pass its checks on the board");
        assert!(text(&out).contains(says), "{name}: {says:?} not said");
        assert!(
            text(&out).contains(&format!("still runs {running}")),
            "{name}: {}",
            text(&out)
        );
        assert_eq!(link(&root, "current").as_ref(), Some(&running), "{name}");
    }
}

#[test]
fn a_link_in_the_bundle_is_refused_before_anything_is_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    let out = install(&root, &[]);
    assert_ok(&out);
    let before = snapshot(&root);
    // The bundle's files, one of them a link to the very same bytes: its hash would pass, but
    // it would be copied as a link and left out of SHA256SUMS.
    let bundle = tmp.path().join("linked");
    std::fs::create_dir(&bundle).unwrap();
    let default = workspace_root().join("models/default");
    for e in std::fs::read_dir(&default).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), bundle.join(e.file_name())).unwrap();
        }
    }
    let stage = bundle.join("generator_stage2.onnx");
    std::fs::remove_file(&stage).unwrap();
    std::os::unix::fs::symlink(default.join("generator_stage2.onnx"), &stage).unwrap();
    let out = install(&root, &["--bundle", bundle.to_str().unwrap()]);
    assert_refused(
        &out,
        1,
        &format!(
            "{} is a symbolic link (to {}); a bundle holds regular files only, so nothing was copied",
            stage.display(),
            default.join("generator_stage2.onnx").display()
        ),
    );
    assert_eq!(snapshot(&root), before, "the board's root changed");
}

#[test]
fn a_second_flash_waits_for_none_and_old_leftovers_only_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    assert_ok(&install(&root, &[]));

    // Another flash holds the board's lock: this one is refused before it changes anything.
    require_tool("flock");
    let lock = opt(&root).join(".flash.lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["-c", "echo held; cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "held\n");
    let before = releases(&root);
    let out = install(&root, &[]);
    assert_refused(&out, 1, "another flash is running on");
    assert!(text(&out).contains("nothing was changed"));
    assert_eq!(releases(&root), before);
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());

    // Two incomplete releases: one from before this flash began (an interrupted copy) is
    // removed; one newer than this flash's lock is not this flash's to judge, and stays.
    let old = opt(&root).join("releases/20000101-000000-old");
    let newer = opt(&root).join("releases/20990101-000000-newer");
    for (dir, time) in [(&old, "2000-01-01"), (&newer, "2099-01-01")] {
        std::fs::create_dir_all(dir.join("bundle")).unwrap();
        assert!(Command::new("touch")
            .args(["-d", time])
            .arg(dir)
            .status()
            .unwrap()
            .success());
    }
    let out = install(&root, &[]);
    assert_ok(&out);
    assert!(text(&out).contains("removing incomplete or failed release 20000101-000000-old"));
    assert!(text(&out).contains("keeping incomplete release 20990101-000000-newer"));
    assert!(!old.exists() && newer.exists());
}

#[test]
fn dry_run_prints_every_step_and_touches_nothing() {
    // Without --binary: the dry run shows the cross build instead of running it.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    let root_s = root.display().to_string();
    let out = flash(&[
        "--dry-run",
        "--root",
        &root_s,
        "--config",
        "deploy/handheld.toml",
    ]);
    assert_ok(&out);
    assert!(!root.exists(), "--dry-run created {}", root.display());

    let out = flash(&["--dry-run", "--target", "armv7", "pi@kiosk.invalid"]);
    assert_ok(&out);
    let all = text(&out);
    for step in [
        "cargo build --release --locked --target armv7-unknown-linux-gnueabihf -p s2i-device --bin s2i",
        "check --bundle",
        "ssh -o BatchMode=yes -o ConnectTimeout=10",
        "pi@kiosk.invalid true",
        "flock -n 9",
        "on_board_check_release",
        "dpkg --print-architecture",
        "df -Pk",
        "sha256sum --quiet -c SHA256SUMS",
        "touch \"$dir/.complete\"",
        "useradd --system",
        "mv -T \"$S2I/.$1.new\" \"$S2I/$1\"",
        "relink current \"releases/$NAME\"",
        "systemctl daemon-reload",
        "systemctl enable",
        "systemctl restart s2i.service",
        "systemctl is-active",
        "on_board_switch_back",
        "on_board_prune",
        "dry run: nothing was built, copied or changed",
    ] {
        assert!(all.contains(step), "the dry run does not show {step:?}:\n{all}");
    }
    // The unit goes over verbatim.
    assert!(all
        .contains("ExecStart=/opt/s2i/current/bin/s2i run --config /opt/s2i/current/config.toml"));

    let out = flash(&["--dry-run", "--rollback", "pi@kiosk.invalid"]);
    assert_ok(&out);
    assert!(text(&out).contains("on_board_rollback"));
}

#[test]
fn bad_targets_binaries_and_boards_get_clear_errors() {
    let out = flash(&["--target", "riscv64", "pi@board"]);
    assert_refused(&out, 2, "unknown target 'riscv64'");
    let out = flash(&["--target", "x86_64"]);
    assert_refused(&out, 2, "which board?");

    // The x86_64 binary offered for an aarch64 board.
    let s2i = host_s2i();
    let out = flash(&[
        "--target",
        "aarch64",
        "--binary",
        &s2i,
        "--host-s2i",
        &s2i,
        "pi@board",
    ]);
    assert_refused(&out, 1, "is built for x86_64, not for --target aarch64");

    // Nothing listens on port 1 here: the board is unreachable, found before any copy.
    require_tool("ssh");
    let out = flash(&[
        "--target",
        "x86_64",
        "--binary",
        &s2i,
        "--host-s2i",
        &s2i,
        "--port",
        "1",
        "pi@127.0.0.1",
    ]);
    assert_refused(&out, 1, "cannot reach pi@127.0.0.1 over ssh");
    assert!(text(&out).contains("nothing was copied"));
}

#[test]
fn a_full_disk_is_refused_before_copying() {
    // A real small filesystem: an 8 MiB tmpfs cannot hold a ~25 MiB release. Mounting needs
    // root (CAP_SYS_ADMIN); without it this case cannot be made real here.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    std::fs::create_dir(&root).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&root)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        println!("skipped: cannot mount a tmpfs here (needs root); the full-disk case is untested");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&root);
    let out = install(&root, &[]);
    assert_refused(&out, 1, "not enough space on the board");
    assert!(text(&out).contains("nothing was copied"));
    assert!(releases(&root).is_empty(), "a release folder was made");
    assert_eq!(link(&root, "current"), None);
}

#[test]
fn the_aarch64_release_installs_and_is_checked_under_qemu() {
    require_tool("qemu-aarch64");
    let (arm, _) = s2i_binary(Some(AARCH64));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("board");
    let host = host_s2i();
    let out = flash(&[
        "--root",
        root.to_str().unwrap(),
        "--binary",
        arm.to_str().unwrap(),
        "--host-s2i",
        &host,
        "--config",
        KIOSK,
    ]);
    assert_ok(&out);
    let name = installed_name(&out);
    assert_complete_release(&root, &name, KIOSK);
    let release = std::fs::read_to_string(opt(&root).join("current/RELEASE")).unwrap();
    assert!(
        release.contains("target aarch64-unknown-linux-gnu"),
        "{release}"
    );
    // The check printed by the aarch64 binary itself, run by qemu.
    assert!(text(&out).contains("models verified"), "{}", text(&out));
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(workspace_root().join("deploy/s2i.service")).unwrap();
    for line in [
        "User=s2i",
        "SupplementaryGroups=audio video gpio spi",
        "ExecStart=/opt/s2i/current/bin/s2i run --config /opt/s2i/current/config.toml",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "s2i.service lacks {line}");
    }
    // An ordinary error is one journal line, not a backtrace.
    assert!(
        !unit
            .lines()
            .any(|l| l.starts_with("Environment=") && l.contains("RUST_BACKTRACE")),
        "s2i.service sets RUST_BACKTRACE"
    );
    let version = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(version) = version else {
        println!("skipped: systemd-analyze is not installed here");
        return;
    };
    let version = String::from_utf8_lossy(&version.stdout);
    let major: u32 = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the systemd version from {version}"));
    // verify also checks that ExecStart exists: point it at a real executable here.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("s2i.service");
    std::fs::write(&copy, unit.replace("/opt/s2i/current/bin/s2i", "/bin/true")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("systemd {major}: systemd-analyze verify:\n{said}");
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{said}"
    );
    for line in said.lines().filter(|l| !l.trim().is_empty()) {
        // RestartSteps and RestartMaxDelaySec came with systemd 254; older ones ignore them.
        let newer_key = line.contains("Unknown key 'RestartSteps'")
            || line.contains("Unknown key 'RestartMaxDelaySec'");
        assert!(
            newer_key && major < 254,
            "systemd-analyze verify complains: {line}"
        );
    }
}
