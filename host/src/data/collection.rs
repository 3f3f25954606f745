//! A collection manifest: a museum's own objects, one image with one or more spoken captions and a
//! text class label.
//!
//! **CSV** (`.csv`): a header naming the columns `image`, `wav` and `class` (any order, extra
//! columns ignored), then **one row per spoken caption**: an image with three captions has three
//! rows. Rows of the same image are grouped into one item, captions in row order, and must agree
//! on the class. (One row per caption was chosen over a `;`-separated list so that any file name,
//! `;` included, can be written, and so a spreadsheet keeps one recording per cell.)
//!
//! **JSONL** (`.jsonl`): one object per image:
//! `{"image": "img/vase.jpg", "wavs": ["audio/vase_1.wav"], "class": "vases"}`, optionally with
//! `"attributes": {...}`; each image appears once.
//!
//! Relative paths resolve against the manifest's folder. Class labels are text; their ids follow
//! sorted label order (see `dataset`). Missing files are found later, with the row named.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::dataset::{Layout, RawClass, RawDataset, RawItem};
use super::error::{BadItems, DataError};

/// File names looked for when the dataset path is a folder.
pub const MANIFEST_NAMES: [&str; 2] = ["manifest.csv", "manifest.jsonl"];

/// What a manifest needs, for "not a dataset" messages.
pub const EXPECTED: &str =
    "a collection manifest (a .csv file with the header image,wav,class and one row per \
spoken caption, or a .jsonl file with one {\"image\", \"wavs\", \"class\"} object per line; \
or a folder holding manifest.csv or manifest.jsonl)";

/// Finds the manifest for a path: the file itself, or `manifest.csv`/`manifest.jsonl` in a folder.
pub fn find_manifest(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        return matches!(ext.as_str(), "csv" | "jsonl").then(|| path.to_path_buf());
    }
    MANIFEST_NAMES
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
}

/// Reads a manifest into raw items; row-level problems go through `bad`.
pub(crate) fn load(manifest: &Path, bad: &mut BadItems) -> Result<RawDataset, DataError> {
    let base = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let is_jsonl = manifest
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let items = if is_jsonl {
        load_jsonl(manifest, &base, bad)?
    } else {
        load_csv(manifest, &base, bad)?
    };
    Ok(RawDataset {
        layout: Layout::Collection {
            manifest: manifest.to_path_buf(),
        },
        root: base,
        items,
        has_classes: true,
        meta: None,
    })
}

fn row_name(manifest: &Path, line: u64) -> String {
    format!("{} line {line}", manifest.display())
}

fn bad_row(manifest: &Path, line: u64, reason: String) -> DataError {
    DataError::BadManifest {
        path: manifest.to_path_buf(),
        line,
        reason,
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn load_csv(manifest: &Path, base: &Path, bad: &mut BadItems) -> Result<Vec<RawItem>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(manifest)
        .map_err(|e| bad_row(manifest, 1, format!("cannot open: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| bad_row(manifest, 1, format!("cannot read the header: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(ci), Some(cw), Some(cc)) = (column("image"), column("wav"), column("class")) else {
        return Err(bad_row(
            manifest,
            1,
            format!(
                "the header must name the columns image, wav and class; found {:?}",
                headers.iter().collect::<Vec<_>>()
            ),
        ));
    };
    let needed = ci.max(cw).max(cc) + 1;

    let mut items: Vec<RawItem> = Vec::new();
    // image field → (item index, line of its first row, its class)
    let mut by_image: HashMap<String, (usize, u64, String)> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.record(
                    row_name(manifest, line),
                    bad_row(manifest, line, format!("cannot parse: {e}")),
                )?;
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if record.len() < needed {
            bad.record(
                row_name(manifest, line),
                bad_row(
                    manifest,
                    line,
                    format!(
                        "too few fields: expected {} ({}), found {}",
                        headers.len(),
                        headers.iter().collect::<Vec<_>>().join(","),
                        record.len()
                    ),
                ),
            )?;
            continue;
        }
        let (image, wav, class) = (&record[ci], &record[cw], &record[cc]);
        if let Some(empty) = [("image", image), ("wav", wav), ("class", class)]
            .iter()
            .find(|(_, v)| v.is_empty())
        {
            bad.record(
                row_name(manifest, line),
                bad_row(manifest, line, format!("the {} field is empty", empty.0)),
            )?;
            continue;
        }
        match by_image.get(image) {
            Some((idx, first_line, existing)) => {
                if existing != class {
                    bad.record(
                        row_name(manifest, line),
                        bad_row(
                            manifest,
                            line,
                            format!("image {image} has class {existing:?} on line {first_line} but {class:?} here"),
                        ),
                    )?;
                    continue;
                }
                items[*idx].wavs.push(resolve(base, wav));
            }
            None => {
                by_image.insert(image.to_string(), (items.len(), line, class.to_string()));
                items.push(RawItem {
                    key: image.to_string(),
                    image: resolve(base, image),
                    wavs: vec![resolve(base, wav)],
                    class: RawClass::Label(class.to_string()),
                    split: None,
                    bbox: None,
                    attributes: None,
                    origin: row_name(manifest, line),
                });
            }
        }
    }
    Ok(items)
}

#[derive(serde::Deserialize)]
struct JsonRow {
    image: String,
    wavs: Vec<String>,
    class: serde_json::Value,
    #[serde(default)]
    attributes: Option<serde_json::Value>,
}

fn load_jsonl(manifest: &Path, base: &Path, bad: &mut BadItems) -> Result<Vec<RawItem>, DataError> {
    let text = fs::read_to_string(manifest).map_err(|e| DataError::io(manifest, e))?;
    let mut items = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let row: JsonRow = match serde_json::from_str(raw) {
            Ok(r) => r,
            Err(e) => {
                bad.record(
                    row_name(manifest, line),
                    bad_row(
                        manifest,
                        line,
                        format!(
                            "expected {{\"image\": ..., \"wavs\": [...], \"class\": ...}}: {e}"
                        ),
                    ),
                )?;
                continue;
            }
        };
        let class = match &row.class {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                bad.record(
                    row_name(manifest, line),
                    bad_row(
                        manifest,
                        line,
                        format!("class must be text (or a number), found {other}"),
                    ),
                )?;
                continue;
            }
        };
        let problem = if row.image.is_empty() {
            Some("the image field is empty".to_string())
        } else if class.is_empty() {
            Some("the class field is empty".to_string())
        } else if row.wavs.is_empty() || row.wavs.iter().any(|w| w.is_empty()) {
            Some("wavs must list at least one non-empty path".to_string())
        } else {
            seen.get(&row.image).map(|first| {
                format!(
                    "image {} is listed again (first on line {first})",
                    row.image
                )
            })
        };
        if let Some(reason) = problem {
            bad.record(row_name(manifest, line), bad_row(manifest, line, reason))?;
            continue;
        }
        seen.insert(row.image.clone(), line);
        items.push(RawItem {
            image: resolve(base, &row.image),
            wavs: row.wavs.iter().map(|w| resolve(base, w)).collect(),
            key: row.image,
            class: RawClass::Label(class),
            split: None,
            bbox: None,
            attributes: row.attributes,
            origin: row_name(manifest, line),
        });
    }
    Ok(items)
}
