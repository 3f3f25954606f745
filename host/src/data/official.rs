//! The official S2IGAN layout (spec §12): CUB-200, Oxford-102, Flickr8k and Places lists, and the
//! synthetic sets, which are written in the same layout.
//!
//! ```text
//! DIR/train/filenames.pickle      list of keys, e.g. "002.Laysan_Albatross/Laysan_Albatross_0044_784"
//! DIR/train/class_info.pickle     optional: 1-based class ids aligned with the keys
//! DIR/test/...                    the same for the official test list
//! IMG/images/<key>.jpg|.png       IMG = DIR, DIR/CUB_200_2011 or DIR/Oxford102 (first with images/)
//! IMG/audio/<key>/*.wav           the spoken captions, in name order
//! IMG/bounding_boxes.txt          optional, CUB: "<id> x y w h"
//! IMG/images.txt                  optional, CUB: "<id> <key>.jpg"
//! IMG/attributes/<key>.json       optional (synthetic sets): what was drawn and said
//! DIR/dataset.json                optional (synthetic sets): how the set was made
//! ```

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_pickle::{DeOptions, SerOptions, Value};

use super::dataset::{RawClass, RawItem, Split};
use super::error::{BadItems, DataError};
use super::image_pipeline::BBox;

/// Image-root candidates under the dataset folder, probed in this order.
pub const IMAGE_ROOTS: [&str; 3] = ["", "CUB_200_2011", "Oxford102"];
/// Image file extensions tried for a key, in this order.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "png", "jpeg", "JPG"];

/// Whether `dir` looks like the official layout (a split list is present).
pub fn is_official(dir: &Path) -> bool {
    ["train", "test"]
        .iter()
        .any(|s| dir.join(s).join("filenames.pickle").is_file())
}

/// Writes a key list the way the original `filenames.pickle` holds it: a plain list of `str`,
/// pickle protocol 2 so Python 2 and 3 both read it.
pub fn write_key_list(path: &Path, keys: &[String]) -> Result<(), DataError> {
    write_pickle(path, &keys)
}

/// Writes `class_info.pickle`: a plain list of `int` (1-based class ids), protocol 2.
pub fn write_class_info(path: &Path, ids: &[i64]) -> Result<(), DataError> {
    write_pickle(path, &ids)
}

fn write_pickle<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), DataError> {
    let bytes = serde_pickle::to_vec(value, SerOptions::new().proto_v2()).map_err(|e| {
        DataError::BadPickle {
            path: path.to_path_buf(),
            reason: format!("cannot encode: {e}"),
        }
    })?;
    fs::write(path, bytes).map_err(|e| DataError::io(path, e))
}

fn read_pickle(path: &Path) -> Result<Value, DataError> {
    let bytes = fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path: path.to_path_buf(),
                what: "pickle",
                context: None,
            }
        } else {
            DataError::io(path, e)
        }
    })?;
    // Python 2 pickles (StackGAN's) hold keys as byte strings; decode_strings turns them into str.
    serde_pickle::value_from_slice(&bytes, DeOptions::new().decode_strings()).map_err(|e| DataError::BadPickle {
        path: path.to_path_buf(),
        reason: format!("cannot decode the pickle (expected a plain Python list; numpy objects are not supported): {e}"),
    })
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::I64(_) | Value::Int(_) => "an int",
        Value::F64(_) => "a float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "a str",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Set(_) | Value::FrozenSet(_) => "a set",
        Value::Dict(_) => "a dict",
    }
}

fn as_list(path: &Path, v: Value, of: &str) -> Result<Vec<Value>, DataError> {
    match v {
        Value::List(l) | Value::Tuple(l) => Ok(l),
        other => Err(DataError::BadPickle {
            path: path.to_path_buf(),
            reason: format!("expected a list of {of}, found {}", describe(&other)),
        }),
    }
}

/// Reads `filenames.pickle`: a list of str (or Python 2 byte strings).
pub fn read_key_list(path: &Path) -> Result<Vec<String>, DataError> {
    let list = as_list(path, read_pickle(path)?, "str keys")?;
    list.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            Value::Bytes(b) => String::from_utf8(b).map_err(|_| DataError::BadPickle {
                path: path.to_path_buf(),
                reason: format!("entry {i} is not UTF-8 text"),
            }),
            other => Err(DataError::BadPickle {
                path: path.to_path_buf(),
                reason: format!(
                    "expected a list of str keys, entry {i} is {}",
                    describe(&other)
                ),
            }),
        })
        .collect()
}

/// Reads `class_info.pickle`: a list of int class ids.
pub fn read_class_info(path: &Path) -> Result<Vec<i64>, DataError> {
    let list = as_list(path, read_pickle(path)?, "int class ids")?;
    list.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::I64(n) => Ok(n),
            other => Err(DataError::BadPickle {
                path: path.to_path_buf(),
                reason: format!(
                    "expected a list of int class ids, entry {i} is {}",
                    describe(&other)
                ),
            }),
        })
        .collect()
}

/// Reads CUB's `images.txt` + `bounding_boxes.txt` into key → box.
pub fn read_bounding_boxes(
    images_txt: &Path,
    boxes_txt: &Path,
) -> Result<HashMap<String, BBox>, DataError> {
    let read = |p: &Path| fs::read_to_string(p).map_err(|e| DataError::io(p, e));
    let bad = |p: &Path, line: usize, reason: String| DataError::BadTextFile {
        path: p.to_path_buf(),
        line: line as u64 + 1,
        reason,
    };
    let mut id_to_key = HashMap::new();
    for (n, line) in read(images_txt)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(id), Some(file), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(
                images_txt,
                n,
                format!("expected \"<id> <key>.jpg\", found {line:?}"),
            ));
        };
        let key = match file.rsplit_once('.') {
            Some((stem, _)) => stem,
            None => file,
        };
        id_to_key.insert(id.to_string(), key.to_string());
    }
    let mut boxes = HashMap::new();
    for (n, line) in read(boxes_txt)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(bad(
                boxes_txt,
                n,
                format!("expected \"<id> x y w h\", found {line:?}"),
            ));
        }
        let mut v = [0f64; 4];
        for (slot, s) in v.iter_mut().zip(&parts[1..]) {
            *slot = s
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(boxes_txt, n, format!("{s:?} is not a number")))?;
        }
        let key = id_to_key.get(parts[0]).ok_or_else(|| {
            bad(
                boxes_txt,
                n,
                format!(
                    "image id {} is not listed in {}",
                    parts[0],
                    images_txt.display()
                ),
            )
        })?;
        boxes.insert(
            key.clone(),
            BBox {
                x: v[0],
                y: v[1],
                w: v[2],
                h: v[3],
            },
        );
    }
    Ok(boxes)
}

/// Orders names so that digit runs compare as numbers ("cap_2" before "cap_10"), which is the
/// order captions were written in whatever the zero padding.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let trim = |d: &[u8]| {
                    let z = d.iter().take_while(|&&c| c == b'0').count();
                    d[z..].to_vec()
                };
                let (ta, tb) = (trim(da), trim(db));
                let ord = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(&tb))
                    .then_with(|| na.cmp(&nb));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// The wav files of one image, in name order.
pub fn caption_wavs(audio_dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = fs::read_dir(audio_dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path: audio_dir.to_path_buf(),
                what: "spoken-caption folder",
                context: None,
            }
        } else {
            DataError::io(audio_dir, e)
        }
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(audio_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.to_ascii_lowercase().ends_with(".wav") && !name.starts_with('.') {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(DataError::NoCaptions {
            dir: audio_dir.to_path_buf(),
        });
    }
    names.sort_by(|a, b| natural_cmp(a, b));
    Ok(names.into_iter().map(|n| audio_dir.join(n)).collect())
}

/// The image file of a key: `images/<key>.<ext>` for the first extension that exists.
pub fn find_image(img_root: &Path, key: &str) -> Option<PathBuf> {
    IMAGE_EXTENSIONS
        .iter()
        .map(|ext| img_root.join("images").join(format!("{key}.{ext}")))
        .find(|p| p.is_file())
}

/// What the official layout needs, for "not a dataset" messages.
pub const EXPECTED: &str = "the official S2IGAN layout (train/filenames.pickle and test/filenames.pickle, \
optional class_info.pickle beside them, images/<key>.jpg and audio/<key>/*.wav under the folder itself, \
CUB_200_2011/ or Oxford102/)";

/// Reads the layout into raw items; item-level problems go through `bad`.
pub(crate) fn load(
    root: &Path,
    bad: &mut BadItems,
) -> Result<super::dataset::RawDataset, DataError> {
    let img_root = IMAGE_ROOTS
        .iter()
        .map(|r| if r.is_empty() { root.to_path_buf() } else { root.join(r) })
        .find(|p| p.join("images").is_dir())
        .ok_or_else(|| DataError::NotADataset {
            path: root.to_path_buf(),
            expected: format!(
                "an images/ folder in it, in CUB_200_2011/ or in Oxford102/ (the split lists are there, the images are not); {EXPECTED}"
            ),
        })?;

    let mut lists = Vec::new();
    for (split, name) in [(Split::Train, "train"), (Split::Test, "test")] {
        let list = root.join(name).join("filenames.pickle");
        if !list.is_file() {
            continue;
        }
        let keys = read_key_list(&list)?;
        let info = root.join(name).join("class_info.pickle");
        let classes = if info.is_file() {
            let ids = read_class_info(&info)?;
            if ids.len() != keys.len() {
                return Err(DataError::BadPickle {
                    path: info,
                    reason: format!(
                        "holds {} class ids but {} lists {} keys; they must be aligned",
                        ids.len(),
                        list.display(),
                        keys.len()
                    ),
                });
            }
            Some(ids)
        } else {
            None
        };
        lists.push((split, list, keys, classes, info));
    }
    // Classes are all or nothing: a split without them would silently become one class per image.
    let with_classes = lists.iter().filter(|l| l.3.is_some()).count();
    if with_classes != 0 && with_classes != lists.len() {
        let (_, _, _, _, info) = lists
            .iter()
            .find(|l| l.3.is_none())
            .expect("one split lacks classes");
        return Err(DataError::Missing {
            path: info.clone(),
            what: "class list (the other split has one)",
            context: None,
        });
    }
    let has_classes = with_classes != 0;

    let images_txt = img_root.join("images.txt");
    let boxes_txt = img_root.join("bounding_boxes.txt");
    let boxes = match (images_txt.is_file(), boxes_txt.is_file()) {
        (true, true) => Some(read_bounding_boxes(&images_txt, &boxes_txt)?),
        (false, false) => None,
        (true, false) | (false, true) => {
            let (missing, present) = if images_txt.is_file() {
                (&boxes_txt, &images_txt)
            } else {
                (&images_txt, &boxes_txt)
            };
            return Err(DataError::Missing {
                path: missing.clone(),
                what: "CUB bounding-box list",
                context: Some(format!("the crop, since {} is present", present.display())),
            });
        }
    };

    let attributes_dir = img_root.join("attributes");
    let mut items = Vec::new();
    for (split, _list, keys, classes, _) in lists {
        for (i, key) in keys.into_iter().enumerate() {
            let class = match &classes {
                Some(ids) => RawClass::Id {
                    id: ids[i],
                    label: class_label_of(&key, ids[i]),
                },
                None => RawClass::OwnImage,
            };
            match official_item(
                &img_root,
                &attributes_dir,
                boxes.as_ref(),
                &images_txt,
                key.clone(),
                split,
                class,
            ) {
                Ok(item) => items.push(item),
                Err(e) => bad.record(key, e)?,
            }
        }
    }

    let meta = [root.join("dataset.json"), img_root.join("dataset.json")]
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| read_json(&p))
        .transpose()?;

    Ok(super::dataset::RawDataset {
        layout: super::dataset::Layout::Official { img_root },
        root: root.to_path_buf(),
        items,
        has_classes,
        meta,
    })
}

fn class_label_of(key: &str, id: i64) -> String {
    match key.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => dir.to_string(),
        _ => format!("class {id}"),
    }
}

fn official_item(
    img_root: &Path,
    attributes_dir: &Path,
    boxes: Option<&HashMap<String, BBox>>,
    images_txt: &Path,
    key: String,
    split: Split,
    class: RawClass,
) -> Result<RawItem, DataError> {
    let image = find_image(img_root, &key).ok_or_else(|| DataError::Missing {
        path: img_root.join("images").join(format!("{key}.jpg")),
        what: "image (also tried .png, .jpeg, .JPG)",
        context: Some(key.clone()),
    })?;
    let wavs = caption_wavs(&img_root.join("audio").join(&key))?;
    let bbox = match boxes {
        Some(b) => Some(*b.get(&key).ok_or_else(|| DataError::NoBoundingBox {
            path: images_txt.to_path_buf(),
            key: key.clone(),
        })?),
        None => None,
    };
    let attr = attributes_dir.join(format!("{key}.json"));
    let attributes = if attr.is_file() {
        Some(read_json(&attr)?)
    } else {
        None
    };
    Ok(RawItem {
        origin: key.clone(),
        key,
        image,
        wavs,
        class,
        split: Some(split),
        bbox,
        attributes,
    })
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, DataError> {
    let text = fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| DataError::BadJson {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_puts_ten_after_nine() {
        let mut v = vec!["a_10.wav", "a_2.wav", "a_0.wav", "a_1.wav", "a_02.wav"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec!["a_0.wav", "a_1.wav", "a_2.wav", "a_02.wav", "a_10.wav"]
        );
    }

    #[test]
    fn pickles_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.pickle");
        let keys = vec!["001.A/a_1".to_string(), "002.B/b_2".to_string()];
        write_key_list(&p, &keys).unwrap();
        assert_eq!(read_key_list(&p).unwrap(), keys);
        write_class_info(&p, &[1, 2]).unwrap();
        assert_eq!(read_class_info(&p).unwrap(), vec![1, 2]);
        // A key list read as classes names the offending entry.
        write_key_list(&p, &keys).unwrap();
        let e = read_class_info(&p).unwrap_err().to_string();
        assert!(e.contains("entry 0 is a str"), "{e}");
    }
}
