//! Sample grids: fixed test captions (rows) × the generator's stages (columns), the real image
//! beside them, so a person can see whether the picture follows what was said.

use std::path::Path;

use anyhow::{bail, Result};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::data::{Augment, Dataset, Split};
use crate::report::{GridRow, ImageGrid};

use super::captions::CaptionEmbeddings;
use super::trainer::RdgTrainer;

/// `[B, 3, H, W]` in [-1, 1] → images, mapped as the paper saves them: (x + 1)/2·255, clamped,
/// truncated.
pub fn to_rgb_images(images: &Tensor) -> Result<Vec<RgbImage>> {
    let t = ((images.to_device(Device::Cpu).to_kind(Kind::Float) + 1.0) * 127.5)
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 1])
        .contiguous();
    let (b, h, w) = (t.size()[0], t.size()[1] as u32, t.size()[2] as u32);
    let bytes = Vec::<u8>::try_from(t.flatten(0, -1))?;
    let per = (h * w * 3) as usize;
    (0..b as usize)
        .map(|i| {
            RgbImage::from_raw(w, h, bytes[i * per..(i + 1) * per].to_vec())
                .ok_or_else(|| anyhow::anyhow!("image buffer of the wrong size"))
        })
        .collect()
}

/// What a caption said, for a row label: the synthetic sets record the text; otherwise the wav's
/// file name.
pub fn caption_label(ds: &Dataset, item: usize, caption: usize) -> String {
    let it = ds.item(item);
    it.attributes
        .as_ref()
        .and_then(|a| a["captions"][caption]["text"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            it.captions[caption]
                .wav
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

/// The fixed rows of every grid of a run: one test item per test class (the first, classes in
/// order) up to `rows`, caption 0, a fixed z per row.
#[derive(Debug)]
pub struct GridCaptions {
    pub items: Vec<usize>,
    pub labels: Vec<String>,
    pub embeddings: Tensor,
    pub z: Tensor,
    pub real: Vec<RgbImage>,
}

impl GridCaptions {
    pub fn choose(
        ds: &Dataset,
        captions: &CaptionEmbeddings,
        rows: usize,
        z_dim: i64,
        device: Device,
    ) -> Result<Self> {
        let mut split = Split::Test;
        if ds.split(split).is_empty() {
            split = Split::Train;
        }
        let mut items: Vec<usize> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for &i in ds.split(split) {
            if seen.insert(ds.item(i).class_id) {
                items.push(i);
            }
        }
        // Datasets with few classes fill the rows with further images.
        for &i in ds.split(split) {
            if items.len() >= rows {
                break;
            }
            if !items.contains(&i) {
                items.push(i);
            }
        }
        items.truncate(rows);
        if items.is_empty() {
            bail!(
                "{}: no images to draw sample grids for",
                ds.root().display()
            );
        }
        let ids: Vec<i64> = items.iter().map(|&i| i as i64).collect();
        let embeddings = captions.rows(&ids, &vec![0; ids.len()]);
        // A generator of its own, so the grid's z never depends on training's RNG.
        let z = Tensor::from_slice(&gaussian(items.len() * z_dim as usize, 100))
            .view([items.len() as i64, z_dim])
            .to_device(device);
        let real = items
            .iter()
            .map(|&i| ds.crop_image(i, Augment::Deterministic, &mut ChaCha8Rng::seed_from_u64(0)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            labels: items.iter().map(|&i| caption_label(ds, i, 0)).collect(),
            items,
            embeddings,
            z,
            real,
        })
    }
}

/// The generator's seeded noise, shared with the board (same seed, same z).
pub use s2i_shared::noise::gaussian;

pub fn write_sample_grid(
    trainer: &mut RdgTrainer,
    rows: &GridCaptions,
    title: &str,
    path: &Path,
) -> Result<()> {
    let stages = trainer.sample_ema(&rows.embeddings, &rows.z);
    write_stage_grid(&stages, rows, title, path)
}

/// Captions (rows) × every stage's image for them (`stages`, smallest first) × the real image.
pub fn write_stage_grid(
    stages: &[Tensor],
    rows: &GridCaptions,
    title: &str,
    path: &Path,
) -> Result<()> {
    let per_stage = stages
        .iter()
        .map(to_rgb_images)
        .collect::<Result<Vec<_>>>()?;
    let sides: Vec<i64> = stages.iter().map(|s| s.size()[2]).collect();
    let cell = *sides.last().expect("at least one stage") as u32;
    let mut column_titles: Vec<String> = sides.iter().map(|s| format!("{s}x{s}")).collect();
    column_titles.push("real".into());
    let grid_rows = (0..rows.items.len())
        .map(|r| {
            let mut images: Vec<RgbImage> = per_stage.iter().map(|s| s[r].clone()).collect();
            images.push(rows.real[r].clone());
            GridRow {
                label: rows.labels[r].clone(),
                images,
            }
        })
        .collect();
    ImageGrid {
        title: title.into(),
        column_titles,
        rows: grid_rows,
        cell,
        label_chars: 28,
    }
    .write_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_to_images_maps_the_range() {
        let t = Tensor::from_slice(&[
            -1.0f32, 0.0, 1.0, 2.0, -1.0, -1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5,
        ])
        .view([1, 3, 2, 2]);
        let img = &to_rgb_images(&t).unwrap()[0];
        assert_eq!(img.dimensions(), (2, 2));
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 191]);
        assert_eq!(img.get_pixel(1, 0).0, [127, 0, 191]);
        assert_eq!(img.get_pixel(0, 1).0, [255, 255, 191]);
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 191]);
    }

    #[test]
    fn gaussian_is_seeded_and_standard() {
        let a = gaussian(20_000, 3);
        assert_eq!(a, gaussian(20_000, 3));
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
