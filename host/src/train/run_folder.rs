//! The run-folder rule every trainer follows: a new run never overwrites an old one, and
//! `--resume` needs something to resume.

use std::path::Path;

use anyhow::{bail, Result};

/// Checks `out` for a new run (`resume` false: `last` must not exist) or a resumed one (`last`
/// must exist), with the message naming the folder, the file and the option.
pub fn check(out: &Path, last: &Path, resume: bool) -> Result<()> {
    if !resume && last.exists() {
        bail!(
            "{} already holds a run ({} exists): pass --resume to continue it, or choose another --out",
            out.display(),
            last.display()
        );
    }
    if resume && !last.exists() {
        bail!("--resume: {} does not exist", last.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_resumed_runs() {
        let dir = tempfile::tempdir().unwrap();
        let last = dir.path().join("last.safetensors");
        check(dir.path(), &last, false).unwrap();
        assert!(check(dir.path(), &last, true)
            .unwrap_err()
            .to_string()
            .contains("--resume"));
        std::fs::write(&last, b"x").unwrap();
        check(dir.path(), &last, true).unwrap();
        let e = check(dir.path(), &last, false).unwrap_err().to_string();
        assert!(e.contains("already holds a run") && e.contains("last.safetensors"));
    }
}
