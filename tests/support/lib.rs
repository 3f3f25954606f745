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
