//! The generator's conditions: every caption's extracted speech embedding, lined up with a
//! dataset's items (spec §8: one random caption embedding per sample per draw).

use std::path::Path;

use anyhow::{bail, Result};
use tch::{Device, Tensor};

use crate::data::Dataset;
use crate::sen::extract::{self, ExtractedEmbeddings};

/// `[captions, dim]` on the training device, and where each item's rows start.
#[derive(Debug)]
pub struct CaptionEmbeddings {
    pub dim: i64,
    /// Item `i`'s captions are rows `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<i64>,
    pub table: Tensor,
}

impl CaptionEmbeddings {
    /// Loads `path` (written by `sen extract` from the checkpoint with SHA-256 `sen_sha256`) and
    /// orders it like `ds`. Refuses a stale file, a dimension other than `expected_dim`, and an
    /// item whose caption count differs from the dataset's.
    pub fn load(
        path: &Path,
        sen_sha256: &str,
        expected_dim: i64,
        ds: &Dataset,
        device: Device,
    ) -> Result<Self> {
        let e = extract::load(path, Some(sen_sha256))?;
        Self::from_extracted(&e, path, expected_dim, ds, device)
    }

    pub fn from_extracted(
        e: &ExtractedEmbeddings,
        path: &Path,
        expected_dim: i64,
        ds: &Dataset,
        device: Device,
    ) -> Result<Self> {
        if e.dim as i64 != expected_dim {
            bail!(
                "{}: embeddings of size {}, but the generator is configured for {expected_dim}",
                path.display(),
                e.dim
            );
        }
        if e.table_hash != ds.report().table_hash {
            bail!(
                "{}: extracted with front-end table {}, the dataset's features use {}; run `s2i-host \
                 sen extract` again",
                path.display(),
                e.table_hash,
                ds.report().table_hash
            );
        }
        let rows = e.aligned_to(ds, path)?;
        let mut offsets = Vec::with_capacity(ds.items().len() + 1);
        let mut data = Vec::with_capacity(e.data.len());
        offsets.push(0i64);
        for (item, &r) in ds.items().iter().zip(&rows) {
            let have = e.offsets[r + 1] - e.offsets[r];
            if have != item.captions.len() {
                bail!(
                    "{}: item `{}` has {have} caption embeddings, the dataset {} captions",
                    path.display(),
                    item.key,
                    item.captions.len()
                );
            }
            data.extend_from_slice(e.item(r));
            offsets.push(offsets.last().unwrap() + have as i64);
        }
        let n = *offsets.last().unwrap();
        let table = Tensor::from_slice(&data)
            .view([n, e.dim as i64])
            .to_device(device);
        Ok(Self {
            dim: e.dim as i64,
            offsets,
            table,
        })
    }

    /// `[B, dim]`: row r is caption `captions[r]` of item `items[r]`.
    pub fn rows(&self, items: &[i64], captions: &[i64]) -> Tensor {
        let idx: Vec<i64> = items
            .iter()
            .zip(captions)
            .map(|(&i, &k)| self.offsets[i as usize] + k)
            .collect();
        let idx = Tensor::from_slice(&idx).to_device(self.table.device());
        self.table.index_select(0, &idx)
    }
}
