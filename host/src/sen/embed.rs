//! Embeddings of a split, in eval mode: caption 0 and the deterministic centre crop per image
//! (the paper drew random crops on its test split, spec §14.8; we do not).

use anyhow::{Context, Result};
use tch::{Device, Tensor};

use crate::data::{batch_rng, BatchPlan, Dataset, Draw, Split};

use super::model::Sen;

/// Speech and image embeddings of one split, in the split's item order.
pub struct SplitEmbeddings {
    pub items: Vec<usize>,
    pub class_ids: Vec<usize>,
    /// `[n, D]` row-major.
    pub speech: Vec<f32>,
    pub images: Vec<f32>,
    pub dim: usize,
}

pub fn embed_split(
    sen: &Sen,
    ds: &Dataset,
    split: Split,
    batch_size: usize,
    device: Device,
) -> Result<SplitEmbeddings> {
    let batches = ds.epoch_batches(split, BatchPlan::eval(batch_size), 0, 0)?;
    let dim = sen.config.embedding_dim() as usize;
    let n = ds.split(split).len();
    let mut rows: Vec<(usize, Vec<f32>, Vec<f32>)> = Vec::with_capacity(n);
    tch::no_grad(|| -> Result<()> {
        for (step, idx) in batches.iter().enumerate() {
            let batch = ds
                .sen_batch(idx, Draw::eval(), &mut batch_rng(0, 0, step as u64))
                .with_context(|| format!("cannot build a {split} batch"))?;
            let lengths = Vec::<i64>::try_from(&batch.lengths)?;
            let s = sen
                .speech
                .forward_t(&batch.speech.to_device(device), &lengths, false);
            let v = sen.image.forward_t(&batch.images.to_device(device), false);
            let s = to_rows(&s, dim)?;
            let v = to_rows(&v, dim)?;
            for ((item, s), v) in batch.indices.iter().zip(s).zip(v) {
                rows.push((*item, s, v));
            }
        }
        Ok(())
    })?;
    // Back to split order (batches are sorted by utterance length inside).
    let order: std::collections::HashMap<usize, usize> = ds
        .split(split)
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, k))
        .collect();
    rows.sort_by_key(|r| order[&r.0]);
    Ok(SplitEmbeddings {
        class_ids: rows.iter().map(|r| ds.item(r.0).class_id).collect(),
        items: rows.iter().map(|r| r.0).collect(),
        speech: rows.iter().flat_map(|r| r.1.iter().copied()).collect(),
        images: rows.iter().flat_map(|r| r.2.iter().copied()).collect(),
        dim,
    })
}

pub fn to_rows(t: &Tensor, dim: usize) -> Result<Vec<Vec<f32>>> {
    let flat = Vec::<f32>::try_from(t.to_device(Device::Cpu).contiguous().flatten(0, -1))?;
    Ok(flat.chunks(dim).map(<[f32]>::to_vec).collect())
}
