//! Helpers for the end-to-end tests in `tests/`: where the workspace is, and the external tools
//! a test needs (installed by `deploy/setup-dev.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Panics with the set-up command when a tool a test needs is missing, so a missing install step
/// fails loudly instead of skipping.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run deploy/setup-dev.sh (it installs it)"
    );
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The committed golden wavs of the front end.
pub fn golden_wavs() -> Vec<PathBuf> {
    let dir = workspace_root().join("shared/tests/data/wav");
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    wavs.sort();
    wavs
}

/// The golden feature file of a golden wav.
pub fn golden_features(wav: &Path) -> PathBuf {
    workspace_root()
        .join("shared/tests/data/golden")
        .join(format!(
            "{}.f32",
            wav.file_stem().unwrap().to_string_lossy()
        ))
}

/// Where the tests build for other targets (and the release `s2i`s they compare): a separate
/// target folder, because the outer `cargo test` holds the lock on target/.
pub fn cross_target_dir() -> PathBuf {
    workspace_root().join("target/cross")
}

/// A board target: its Rust triple, the gcc that links it and the qemu-user that runs it.
#[derive(Clone, Copy, Debug)]
pub struct Board {
    pub triple: &'static str,
    pub gcc: &'static str,
    pub qemu: &'static str,
    /// The cross libc qemu reads as the binary's root (`qemu-* -L`).
    pub sysroot: &'static str,
}

pub const AARCH64: Board = Board {
    triple: "aarch64-unknown-linux-gnu",
    gcc: "aarch64-linux-gnu-gcc",
    qemu: "qemu-aarch64",
    sysroot: "/usr/aarch64-linux-gnu",
};

pub const ARMV7: Board = Board {
    triple: "armv7-unknown-linux-gnueabihf",
    gcc: "arm-linux-gnueabihf-gcc",
    qemu: "qemu-arm",
    sysroot: "/usr/arm-linux-gnueabihf",
};

impl Board {
    /// Fails loudly when the cross gcc or qemu is missing.
    pub fn require_tools(&self) {
        require_tool(self.gcc);
        require_tool(self.qemu);
    }

    /// `cargo build --release --locked --target <triple> ARGS` into [`cross_target_dir`], linked
    /// with the cross gcc; returns the release folder of the target.
    pub fn cargo_build_release(&self, args: &[&str]) -> PathBuf {
        let linker_var = format!(
            "CARGO_TARGET_{}_LINKER",
            self.triple.to_uppercase().replace('-', "_")
        );
        run(Command::new(env!("CARGO"))
            .current_dir(workspace_root())
            .args(["build", "--release", "--locked", "--target", self.triple])
            .args(args)
            .env("CARGO_TARGET_DIR", cross_target_dir())
            .env(linker_var, self.gcc));
        cross_target_dir().join(self.triple).join("release")
    }

    /// A command that runs `binary` (built for this board) here under qemu-user.
    pub fn qemu_command(&self, binary: &Path) -> Command {
        let mut cmd = Command::new(self.qemu);
        cmd.args(["-L", self.sysroot]).arg(binary);
        cmd
    }
}

/// The release `s2i` for a board (`Some`), built once per test process into
/// [`cross_target_dir`] (a second cargo run is a no-op, but not free), or `s2i` for this machine
/// (`None`): the one `cargo test --workspace` has just built beside this test, when it is newer
/// than every device, kernels and shared source file, else a dev-profile build into [`cross_target_dir`]
/// (dependencies run optimised in that profile; a second release build of tract would cost CI
/// minutes for nothing). Returns the binary and how long this call took.
/// `target/debug/s2i` beside the running test binary, if no device, kernels or shared source is
/// newer.
fn fresh_test_build_s2i() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe.parent()?.parent()?.join("s2i");
    let built = binary.metadata().ok()?.modified().ok()?;
    fn newest(dir: &Path, newest_so_far: &mut std::time::SystemTime) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                newest(&path, newest_so_far);
            } else if let Ok(m) = entry.metadata().and_then(|m| m.modified()) {
                *newest_so_far = (*newest_so_far).max(m);
            }
        }
    }
    let mut sources = std::time::SystemTime::UNIX_EPOCH;
    for dir in [
        "device/src",
        "shared/src",
        "kernels/src",
        "device/Cargo.toml",
        "shared/Cargo.toml",
        "kernels/Cargo.toml",
    ] {
        let path = workspace_root().join(dir);
        if path.is_dir() {
            newest(&path, &mut sources);
        } else if let Ok(m) = path.metadata().and_then(|m| m.modified()) {
            sources = sources.max(m);
        }
    }
    (built >= sources).then_some(binary)
}

pub fn s2i_binary(board: Option<Board>) -> (PathBuf, std::time::Duration) {
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let key = board.map_or("host", |b| b.triple).to_string();
    let start = std::time::Instant::now();
    // Held across the build: tests in parallel threads wait for the one that builds.
    let mut built = BUILT
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return (path.clone(), start.elapsed());
    }
    let args = ["-p", "s2i-device", "--bin", "s2i"];
    let path = match board {
        Some(b) => {
            b.require_tools();
            b.cargo_build_release(&args).join("s2i")
        }
        None => match fresh_test_build_s2i() {
            Some(path) => path,
            None => {
                run(Command::new(env!("CARGO"))
                    .current_dir(workspace_root())
                    .args(["build", "--locked"])
                    .args(args)
                    .env("CARGO_TARGET_DIR", cross_target_dir()));
                cross_target_dir().join("debug/s2i")
            }
        },
    };
    built.push((key, path.clone()));
    (path, start.elapsed())
}
