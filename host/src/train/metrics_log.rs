//! `metrics.jsonl`: one JSON object per line, flushed as written, so a crash loses at most the
//! line being written and the file can be plotted while training runs.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens the log of a new run (an existing file is replaced).
    pub fn create(path: &Path) -> Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens the log of a resumed run, dropping lines written after `step` (they belong to the
    /// steps being redone).
    pub fn resume(path: &Path, step: u64) -> Result<Self> {
        let kept: Vec<Value> = if path.exists() {
            read(path)?
                .into_iter()
                .filter(|v| v["step"].as_u64().is_none_or(|s| s <= step))
                .collect()
        } else {
            Vec::new()
        };
        let mut log = Self::create(path)?;
        for v in &kept {
            log.write(v)?;
        }
        Ok(log)
    }

    pub fn write(&mut self, value: &Value) -> Result<()> {
        writeln!(self.file, "{value}")
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Every line of a metrics log; a torn last line (a crash mid-write) is ignored.
pub fn read(path: &Path) -> Result<Vec<Value>> {
    let file = OpenOptions::new()
        .read(true)
        .open(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(v) = serde_json::from_str(&line) {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resume_drops_the_steps_to_be_redone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::create(&path).unwrap();
        for step in 1..=5u64 {
            log.write(&json!({"step": step, "loss": 1.0 / step as f64}))
                .unwrap();
        }
        log.write(&json!({"event": "note"})).unwrap();
        drop(log);
        let _ = MetricsLog::resume(&path, 3).unwrap();
        let lines = read(&path).unwrap();
        let steps: Vec<u64> = lines.iter().filter_map(|v| v["step"].as_u64()).collect();
        assert_eq!(steps, [1, 2, 3]);
        assert_eq!(lines.len(), 4);
    }
}
