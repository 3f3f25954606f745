//! Tiny datasets written on the fly, for tests and benchmarks: the official layout (with CUB crop
//! files when asked) and collection manifests, with tone wavs the front end accepts and gradient
//! images whose pixels reveal where a crop came from.

use std::fs;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};

use super::error::DataError;
use super::image_pipeline::BBox;
use super::official::{write_class_info, write_key_list};

/// Pixel (x, y) of a fixture image: red encodes x, green y (both modulo 256), blue the class, so
/// a crop's origin can be read back from its pixels.
pub fn fixture_pixel(x: u32, y: u32, class: u32) -> Rgb<u8> {
    Rgb([(x % 256) as u8, (y % 256) as u8, (class * 37 % 256) as u8])
}

/// Writes a `width`×`height` fixture image; the format follows the extension (.png or .jpg).
pub fn write_image(path: &Path, width: u32, height: u32, class: u32) -> Result<(), DataError> {
    let img = RgbImage::from_fn(width, height, |x, y| fixture_pixel(x, y, class));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    img.save(path).map_err(|e| DataError::BadImage {
        path: path.to_path_buf(),
        reason: format!("cannot write: {e}"),
    })
}

/// Writes a 16 kHz mono 16-bit wav: `seconds` of a tone at `freq_hz` with a few harmonics and a
/// slow amplitude swell, loud enough (about −12 dBFS) that silence trimming keeps it whole.
pub fn write_tone_wav(path: &Path, seconds: f32, freq_hz: f32) -> Result<(), DataError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let err = |e: hound::Error| DataError::BadWav {
        path: path.to_path_buf(),
        reason: format!("cannot write: {e}"),
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    let n = (seconds * 16_000.0) as usize;
    for i in 0..n {
        let t = i as f32 / 16_000.0;
        let env = 0.6 + 0.4 * (std::f32::consts::PI * 2.0 * 1.5 * t).sin();
        let tone: f32 = (1..=3)
            .map(|h| (2.0 * std::f32::consts::PI * freq_hz * h as f32 * t).sin() / h as f32)
            .sum();
        w.write_sample((tone * env * 0.15 * 32767.0) as i16)
            .map_err(err)?;
    }
    w.finalize().map_err(err)
}

/// The shape of an official-layout fixture.
#[derive(Debug, Clone)]
pub struct OfficialSpec {
    /// Training classes (ids 1..=n) and images per class.
    pub train_classes: u32,
    pub train_per_class: u32,
    /// Test classes follow the training ones (ids n+1..), as CUB's test classes are unseen.
    pub test_classes: u32,
    pub test_per_class: u32,
    pub captions: u32,
    pub width: u32,
    pub height: u32,
    /// Write `class_info.pickle` (false: Flickr-style, each image its own class).
    pub class_info: bool,
    /// Write CUB's `images.txt` and `bounding_boxes.txt`.
    pub bounding_boxes: bool,
    /// `.jpg` images (CUB) instead of `.png`.
    pub jpeg: bool,
    /// Images live under `CUB_200_2011/` instead of the folder itself.
    pub cub_subfolder: bool,
    /// Seconds of the first caption; later captions are a little longer.
    pub caption_seconds: f32,
}

impl Default for OfficialSpec {
    fn default() -> Self {
        Self {
            train_classes: 3,
            train_per_class: 3,
            test_classes: 2,
            test_per_class: 2,
            captions: 2,
            width: 120,
            height: 90,
            class_info: true,
            bounding_boxes: false,
            jpeg: false,
            cub_subfolder: false,
            caption_seconds: 0.5,
        }
    }
}

/// What [`write_official`] wrote.
#[derive(Debug, Clone)]
pub struct OfficialFixture {
    pub root: PathBuf,
    pub img_root: PathBuf,
    pub train_keys: Vec<String>,
    pub test_keys: Vec<String>,
    /// The box written for each key (train then test order), when boxes were asked for.
    pub boxes: Vec<(String, BBox)>,
}

/// Writes a small dataset in the official layout under `root`.
pub fn write_official(root: &Path, spec: &OfficialSpec) -> Result<OfficialFixture, DataError> {
    let img_root = if spec.cub_subfolder {
        root.join("CUB_200_2011")
    } else {
        root.to_path_buf()
    };
    let ext = if spec.jpeg { "jpg" } else { "png" };
    let mut fixture = OfficialFixture {
        root: root.to_path_buf(),
        img_root: img_root.clone(),
        train_keys: Vec::new(),
        test_keys: Vec::new(),
        boxes: Vec::new(),
    };
    let mut images_txt = String::new();
    let mut boxes_txt = String::new();
    let mut image_id = 0u32;
    let splits = [
        ("train", 1, spec.train_classes, spec.train_per_class),
        (
            "test",
            spec.train_classes + 1,
            spec.test_classes,
            spec.test_per_class,
        ),
    ];
    for (split, first_class, n_classes, per_class) in splits {
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        for class in first_class..first_class + n_classes {
            for j in 0..per_class {
                let key = format!(
                    "{class:03}.Class_{class}/Class_{class}_{j:04}_{}",
                    100 + image_id
                );
                write_image(
                    &img_root.join("images").join(format!("{key}.{ext}")),
                    spec.width,
                    spec.height,
                    class,
                )?;
                for k in 0..spec.captions {
                    let basename = key.rsplit('/').next().unwrap_or(&key);
                    write_tone_wav(
                        &img_root
                            .join("audio")
                            .join(&key)
                            .join(format!("{basename}_{k}.wav")),
                        spec.caption_seconds + 0.1 * k as f32 + 0.02 * j as f32,
                        200.0 + 50.0 * class as f32 + 10.0 * k as f32,
                    )?;
                }
                image_id += 1;
                // Boxes of varied placement, some touching the border so the clip matters.
                let b = BBox {
                    x: (7 * image_id % (spec.width / 2)) as f64 + 0.6,
                    y: (5 * image_id % (spec.height / 2)) as f64 + 0.3,
                    w: (spec.width / 3 + image_id % 7) as f64 + 0.9,
                    h: (spec.height / 3 + image_id % 5) as f64 + 0.4,
                };
                images_txt.push_str(&format!("{image_id} {key}.{ext}\n"));
                boxes_txt.push_str(&format!(
                    "{image_id} {:.1} {:.1} {:.1} {:.1}\n",
                    b.x, b.y, b.w, b.h
                ));
                if spec.bounding_boxes {
                    fixture.boxes.push((key.clone(), b));
                }
                keys.push(key);
                ids.push(class as i64);
            }
        }
        let dir = root.join(split);
        fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        write_key_list(&dir.join("filenames.pickle"), &keys)?;
        if spec.class_info {
            write_class_info(&dir.join("class_info.pickle"), &ids)?;
        }
        match split {
            "train" => fixture.train_keys = keys,
            _ => fixture.test_keys = keys,
        }
    }
    if spec.bounding_boxes {
        let write = |name: &str, text: &str| {
            let p = img_root.join(name);
            fs::write(&p, text).map_err(|e| DataError::io(&p, e))
        };
        write("images.txt", &images_txt)?;
        write("bounding_boxes.txt", &boxes_txt)?;
    }
    Ok(fixture)
}

/// Writes a collection: `classes` labels with `per_class` images each and `captions` wavs per
/// image under `root/img` and `root/audio`, and returns (image, wavs, class) rows with paths
/// relative to `root`, for a manifest.
pub fn write_collection_files(
    root: &Path,
    classes: &[&str],
    per_class: u32,
    captions: u32,
) -> Result<Vec<(String, Vec<String>, String)>, DataError> {
    let mut rows = Vec::new();
    for (c, label) in classes.iter().enumerate() {
        for j in 0..per_class {
            let image = format!("img/{label}_{j}.png");
            write_image(&root.join(&image), 80, 60, c as u32)?;
            let mut wavs = Vec::new();
            for k in 0..captions {
                let wav = format!("audio/{label}_{j}_{k}.wav");
                write_tone_wav(
                    &root.join(&wav),
                    0.4 + 0.1 * k as f32,
                    300.0 + 40.0 * c as f32,
                )?;
                wavs.push(wav);
            }
            rows.push((image, wavs, label.to_string()));
        }
    }
    Ok(rows)
}

/// CSV text for rows: header `image,wav,class`, one line per caption.
pub fn manifest_csv(rows: &[(String, Vec<String>, String)]) -> String {
    let mut s = String::from("image,wav,class\n");
    for (image, wavs, class) in rows {
        for wav in wavs {
            s.push_str(&format!("{image},{wav},{class}\n"));
        }
    }
    s
}

/// JSONL text for rows: one `{"image", "wavs", "class"}` object per image.
pub fn manifest_jsonl(rows: &[(String, Vec<String>, String)]) -> String {
    rows.iter()
        .map(|(image, wavs, class)| {
            serde_json::json!({ "image": image, "wavs": wavs, "class": class }).to_string() + "\n"
        })
        .collect()
}
