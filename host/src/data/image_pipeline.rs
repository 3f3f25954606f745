//! Image preprocessing as the paper's loaders do it (spec §4.1, §8, §12): CUB bounding-box crop,
//! shorter side to `load_size` (PIL bilinear), crop to `crop_size` (random for training, centre
//! for evaluation), horizontal flip, the 64/128/256 pyramid by bilinear resize of the crop, and
//! scaling to [-1, 1].

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{ImageReader, RgbImage};
use rand::Rng;

use super::error::DataError;

/// A bounding box as `bounding_boxes.txt` stores it: x, y, width, height in pixels (floats).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A crop rectangle, PIL style: columns `x0..x1`, rows `y0..y1` (right and bottom exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl CropRect {
    pub fn width(&self) -> u32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> u32 {
        self.y1 - self.y0
    }
}

/// The CUB crop of spec §12, exactly as the StackGAN loader computes it: the box values are cast
/// to integers (pandas `astype(int)` truncates), r = ⌊0.75·max(w, h)⌋, centre
/// (⌊x + w/2⌋, ⌊y + h/2⌋), square [cx−r, cy−r, cx+r, cy+r] clipped to the image, so it may come
/// out non-square near an edge.
pub fn cub_crop_rect(bbox: BBox, width: u32, height: u32) -> CropRect {
    let (x, y, w, h) = (bbox.x as i64, bbox.y as i64, bbox.w as i64, bbox.h as i64);
    // Python: int(np.maximum(w, h) * 0.75) and int((2 * x + w) / 2) with true division.
    let r = (w.max(h) as f64 * 0.75).floor() as i64;
    let cx = ((2 * x + w) as f64 / 2.0).floor() as i64;
    let cy = ((2 * y + h) as f64 / 2.0).floor() as i64;
    let clip = |v: i64, hi: u32| v.clamp(0, hi as i64) as u32;
    // A box entirely outside the image would give an empty crop (PIL would fail on it); keep one
    // pixel so the resize below stays defined.
    let span = |lo: i64, hi: i64, size: u32| {
        let a = clip(lo, size).min(size.saturating_sub(1));
        (a, clip(hi, size).max(a + 1))
    };
    let (x0, x1) = span(cx - r, cx + r, width);
    let (y0, y1) = span(cy - r, cy + r, height);
    CropRect { x0, y0, x1, y1 }
}

/// Image sizes. The edge preset trains smaller; the ratio load/crop stays the paper's 76/64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// Shorter side after the resize, before cropping (paper: 304).
    pub load_size: u32,
    /// Side of the square crop (paper: 256); the SEN sees this size.
    pub crop_size: u32,
    /// Sides of the GAN's real-image pyramid, each a bilinear resize of the crop (paper: 64, 128, 256).
    pub pyramid: Vec<u32>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self::paper()
    }
}

impl ImageOptions {
    /// The paper's sizes: 304 → 256, pyramid 64/128/256.
    pub fn paper() -> Self {
        Self::for_crop(256)
    }

    /// Sizes for a generator whose last stage draws `crop`×`crop`: load = crop·76/64, pyramid
    /// crop/4, crop/2, crop.
    pub fn for_crop(crop: u32) -> Self {
        Self {
            load_size: crop * 76 / 64,
            crop_size: crop,
            pyramid: vec![crop / 4, crop / 2, crop],
        }
    }

    pub fn validate(&self) -> Result<(), DataError> {
        if self.crop_size == 0 || self.load_size < self.crop_size {
            return Err(DataError::Invalid(format!(
                "image sizes: load_size {} must be at least crop_size {} (and crop_size positive)",
                self.load_size, self.crop_size
            )));
        }
        if self.pyramid.iter().any(|&s| s == 0 || s > self.crop_size) {
            return Err(DataError::Invalid(format!(
                "image sizes: every pyramid size must be in 1..={}, got {:?}",
                self.crop_size, self.pyramid
            )));
        }
        Ok(())
    }
}

/// How a crop is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Augment {
    /// Training: uniform random crop position and a horizontal flip with p = 0.5.
    Random,
    /// Evaluation: centre crop, no flip (the paper used random transforms on test too, §14.8).
    Deterministic,
}

/// Reads the image size from the header without decoding the pixels.
pub fn probe_dimensions(path: &Path) -> Result<(u32, u32), DataError> {
    let reader = open_reader(path)?;
    reader.into_dimensions().map_err(|e| DataError::BadImage {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn open_reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, DataError> {
    let reader = ImageReader::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path: path.to_path_buf(),
                what: "image",
                context: None,
            }
        } else {
            DataError::io(path, e)
        }
    })?;
    // The content decides the format, so a PNG saved as .jpg still loads.
    reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))
}

/// Decodes an image to RGB.
pub fn decode_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let img = open_reader(path)?
        .decode()
        .map_err(|e| DataError::BadImage {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(img.to_rgb8())
}

/// The part of the pipeline that does not depend on randomness: decode, CUB crop when a box is
/// given, shorter side to `load_size`. This is what the in-memory image cache keeps.
pub fn load_base_image(
    path: &Path,
    bbox: Option<BBox>,
    load_size: u32,
) -> Result<RgbImage, DataError> {
    let mut img = decode_rgb(path)?;
    if let Some(b) = bbox {
        let r = cub_crop_rect(b, img.width(), img.height());
        img = imageops::crop_imm(&img, r.x0, r.y0, r.width(), r.height()).to_image();
    }
    Ok(resize_shorter_side(&img, load_size))
}

/// torchvision `Resize(size)`: the shorter side becomes `size`, the longer `int(size·long/short)`,
/// PIL bilinear (the image crate's triangle filter widens with the scale factor as PIL does).
pub fn resize_shorter_side(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = if w <= h {
        (size, ((size as u64 * h as u64) / w as u64).max(1) as u32)
    } else {
        (((size as u64 * w as u64) / h as u64).max(1) as u32, size)
    };
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// The crop rectangle and flip for one draw. Random: torchvision `RandomCrop` (offsets uniform
/// over every valid position) and `RandomHorizontalFlip(0.5)`; deterministic: `CenterCrop`.
pub fn choose_crop<R: Rng + ?Sized>(
    width: u32,
    height: u32,
    crop: u32,
    augment: Augment,
    rng: &mut R,
) -> (CropRect, bool) {
    let (cw, ch) = (crop.min(width), crop.min(height));
    let (x0, y0, flip) = match augment {
        Augment::Random => (
            rng.gen_range(0..=width - cw),
            rng.gen_range(0..=height - ch),
            rng.gen_bool(0.5),
        ),
        // torchvision rounds half to even: int(round((h - th) / 2.0)).
        Augment::Deterministic => (
            ((width - cw) as f64 / 2.0).round_ties_even() as u32,
            ((height - ch) as f64 / 2.0).round_ties_even() as u32,
            false,
        ),
    };
    (
        CropRect {
            x0,
            y0,
            x1: x0 + cw,
            y1: y0 + ch,
        },
        flip,
    )
}

/// Crops (and flips) a base image to a `crop`×`crop` square.
pub fn crop_and_flip<R: Rng + ?Sized>(
    base: &RgbImage,
    crop: u32,
    augment: Augment,
    rng: &mut R,
) -> RgbImage {
    let (rect, flip) = choose_crop(base.width(), base.height(), crop, augment, rng);
    let mut out =
        imageops::crop_imm(base, rect.x0, rect.y0, rect.width(), rect.height()).to_image();
    if (out.width(), out.height()) != (crop, crop) {
        // Only when the base is smaller than the crop (load_size < crop is refused, so this is a
        // guard for hand-made base images).
        out = imageops::resize(&out, crop, crop, FilterType::Triangle);
    }
    if flip {
        imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

/// The GAN's real images: a bilinear resize of the crop to each size (the crop itself when equal).
pub fn pyramid(crop: &RgbImage, sizes: &[u32]) -> Vec<RgbImage> {
    sizes
        .iter()
        .map(|&s| {
            if (crop.width(), crop.height()) == (s, s) {
                crop.clone()
            } else {
                imageops::resize(crop, s, s, FilterType::Triangle)
            }
        })
        .collect()
}

/// Writes an image as channel-major floats in [-1, 1] (torchvision `ToTensor` then
/// `Normalize(0.5, 0.5)`): `out` holds 3·H·W values.
pub fn write_chw(img: &RgbImage, out: &mut [f32]) {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    debug_assert_eq!(out.len(), 3 * plane);
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = p.0[c] as f32 / 127.5 - 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn cub_crop_matches_the_reference_arithmetic() {
        // x=60.7 y=27.2 w=325.9 h=304 → ints 60 27 325 304; r = int(325*0.75) = 243;
        // cx = int((120+325)/2) = 222, cy = int((54+304)/2) = 179.
        let r = cub_crop_rect(
            BBox {
                x: 60.7,
                y: 27.2,
                w: 325.9,
                h: 304.0,
            },
            500,
            375,
        );
        assert_eq!(
            r,
            CropRect {
                x0: 0,
                y0: 0,
                x1: 465,
                y1: 375
            }
        );
        let r = cub_crop_rect(
            BBox {
                x: 100.0,
                y: 100.0,
                w: 40.0,
                h: 20.0,
            },
            500,
            375,
        );
        assert_eq!(
            r,
            CropRect {
                x0: 90,
                y0: 80,
                x1: 150,
                y1: 140
            }
        );
    }

    #[test]
    fn shorter_side_resize_truncates_like_torchvision() {
        let img = RgbImage::new(500, 375);
        let out = resize_shorter_side(&img, 304);
        assert_eq!(out.dimensions(), (405, 304)); // int(304*500/375) = 405
        let img = RgbImage::new(300, 301);
        assert_eq!(resize_shorter_side(&img, 304).dimensions(), (304, 305));
    }

    #[test]
    fn centre_crop_rounds_half_to_even_and_random_crop_stays_inside() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (r, flip) = choose_crop(305, 304, 256, Augment::Deterministic, &mut rng);
        // (305-256)/2 = 24.5 → 24, (304-256)/2 = 24.
        assert_eq!((r.x0, r.y0, r.x1, r.y1, flip), (24, 24, 280, 280, false));
        let mut flips = 0;
        for _ in 0..200 {
            let (r, flip) = choose_crop(405, 304, 256, Augment::Random, &mut rng);
            assert!(r.x1 <= 405 && r.y1 <= 304 && r.width() == 256 && r.height() == 256);
            flips += flip as u32;
        }
        assert!(
            (60..140).contains(&flips),
            "flip rate far from 0.5: {flips}/200"
        );
    }

    #[test]
    fn chw_scaling_maps_bytes_to_minus_one_one() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([0, 255, 51]));
        img.put_pixel(1, 0, image::Rgb([255, 0, 0]));
        let mut out = vec![0.0; 6];
        write_chw(&img, &mut out);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[1], 1.0);
        assert_eq!(out[2], 1.0);
        assert_eq!(out[3], -1.0);
        assert!((out[4] - (51.0 / 127.5 - 1.0)).abs() < 1e-6);
    }

    #[test]
    fn pyramid_sizes_follow_the_options() {
        let img = RgbImage::new(256, 256);
        let p = pyramid(&img, &ImageOptions::paper().pyramid);
        let dims: Vec<_> = p.iter().map(|i| i.dimensions()).collect();
        assert_eq!(dims, vec![(64, 64), (128, 128), (256, 256)]);
        assert_eq!(ImageOptions::for_crop(128).load_size, 152);
        assert!(ImageOptions {
            load_size: 100,
            crop_size: 128,
            pyramid: vec![128]
        }
        .validate()
        .is_err());
    }
}
