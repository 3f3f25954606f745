//! Writes the official S2IGAN layout (the contract with the dataset loader):
//!
//! ```text
//! OUT/images/<key>.png                       key = "<NNN>.<Class>/<Class>_<NNNN>"
//! OUT/audio/<key>/<Class>_<NNNN>_<k>.wav     k = 0..K-1
//! OUT/{train,test}/filenames.pickle          list of keys
//! OUT/{train,test}/class_info.pickle         list of 1-based class ids, aligned with filenames
//! OUT/attributes/<key>.json                  what was drawn and said
//! OUT/dataset.json, OUT/contact_sheet.png
//! ```
//!
//! Every file is written to a temporary name and renamed, and the whole set is built in a staging
//! folder beside OUT that is renamed into place only when complete: a crash never leaves a
//! half-written file or a half-made set under OUT.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::species::Class;

/// Marker in `dataset.json` that lets a re-run replace a set this generator made.
pub const GENERATOR: &str = "s2igan-edge synth";

/// `001.Yellow_Black_Winged_Finch/Yellow_Black_Winged_Finch_0003`.
pub fn image_key(class: &Class, ordinal: usize) -> String {
    format!("{}/{}_{ordinal:04}", class.dir(), class.name)
}

fn basename(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

pub fn image_rel(key: &str) -> String {
    format!("images/{key}.png")
}

pub fn wav_rel(key: &str, k: usize) -> String {
    format!("audio/{key}/{}_{k}.wav", basename(key))
}

pub fn attributes_rel(key: &str) -> String {
    format!("attributes/{key}.json")
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.flush())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// A 256×256 RGB PNG.
pub fn write_png(path: &Path, rgb: &[u8], width: u32, height: u32) -> Result<()> {
    let mut bytes = Vec::with_capacity(rgb.len() / 2);
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// 16-bit mono PCM wav.
pub fn write_wav(path: &Path, pcm: &[i16], rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(44 + pcm.len() * 2));
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec)
            .with_context(|| format!("cannot start {}", path.display()))?;
        for &s in pcm {
            w.write_sample(s)
                .with_context(|| format!("cannot encode {}", path.display()))?;
        }
        w.finalize()
            .with_context(|| format!("cannot finish {}", path.display()))?;
    }
    write_atomic(path, cursor.get_ref())
}

/// A pickle (protocol 3) Python reads with `pickle.load`.
pub fn write_pickle<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_pickle::to_vec(value, serde_pickle::SerOptions::new())
        .with_context(|| format!("cannot pickle {}", path.display()))?;
    write_atomic(path, &bytes)
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .with_context(|| format!("cannot serialise {}", path.display()))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// The folder a set is built in, and where it goes when complete.
#[derive(Debug)]
pub struct Staging {
    pub root: PathBuf,
    out: PathBuf,
}

impl Staging {
    /// Checks that OUT may be (re)placed and creates a fresh staging folder beside it.
    pub fn prepare(out: &Path) -> Result<Self> {
        check_replaceable(out)?;
        let name = out
            .file_name()
            .with_context(|| format!("--out {} has no folder name", out.display()))?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create the output's parent {}", parent.display()))?;
        let mut staged = std::ffi::OsString::from(".");
        staged.push(name);
        staged.push(".partial");
        let root = parent.join(staged);
        // A leftover staging folder is from a run that crashed; it was never a finished set.
        if root.exists() {
            fs::remove_dir_all(&root)
                .with_context(|| format!("cannot remove the stale {}", root.display()))?;
        }
        fs::create_dir(&root).with_context(|| {
            format!(
                "cannot create {} (is {} writable?)",
                root.display(),
                parent.display()
            )
        })?;
        Ok(Self {
            root,
            out: out.to_path_buf(),
        })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Moves the finished set to OUT, replacing an earlier set made by this generator.
    pub fn commit(self) -> Result<PathBuf> {
        check_replaceable(&self.out)?;
        // An earlier set is moved aside first and removed only once the new one is in place.
        let previous = if self.out.exists() {
            let mut old = self.root.clone().into_os_string();
            old.push(".old");
            let old = PathBuf::from(old);
            if old.exists() {
                fs::remove_dir_all(&old)
                    .with_context(|| format!("cannot remove {}", old.display()))?;
            }
            fs::rename(&self.out, &old).with_context(|| {
                format!("cannot move the previous {} aside", self.out.display())
            })?;
            Some(old)
        } else {
            None
        };
        fs::rename(&self.root, &self.out).with_context(|| {
            format!(
                "cannot move {} to {}",
                self.root.display(),
                self.out.display()
            )
        })?;
        if let Some(old) = previous {
            fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove the previous set at {}", old.display()))?;
        }
        Ok(self.out)
    }

    /// Removes the staging folder after a failure (best effort: the error that caused it matters
    /// more than one about cleaning up).
    pub fn abandon(self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// OUT may be absent, an empty folder, or a set this generator made earlier; anything else is
/// someone's data and is never replaced.
fn check_replaceable(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("--out {} exists and is not a folder", out.display());
    }
    let mut entries =
        fs::read_dir(out).with_context(|| format!("cannot read --out {}", out.display()))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let marker = out.join("dataset.json");
    let ours = fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR));
    if !ours {
        bail!(
            "--out {} is not empty and is not a synthetic set made by this tool; \
             choose an empty or new folder",
            out.display()
        );
    }
    Ok(())
}
