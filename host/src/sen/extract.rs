//! `s2i-host sen extract`: one speech embedding per caption for the generator (spec §4.5),
//! stamped with the checkpoint's SHA-256 so a generator run can tell a stale file.
//!
//! Captions are encoded in length-sorted batches; the encoder's padding invariance (tested in
//! `speech_encoder`) makes that equal to the paper's one-at-a-time extraction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use serde_json::json;
use tch::{Device, Tensor};

use crate::data::Dataset;
use crate::train::{resolve_device, DeviceChoice};

use super::load::{load_sen, LoadedSen};
use super::trainer::load_dataset;

pub const EMBEDDINGS_FILE: &str = "embeddings.safetensors";
pub const EMBEDDINGS_KIND: &str = "s2i-sen-embeddings";

#[derive(Debug, Clone, clap::Args)]
pub struct ExtractArgs {
    /// SEN run folder (uses its best.safetensors) or a checkpoint file.
    #[arg(long)]
    pub sen: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    /// Output file (default: <run>/embeddings.safetensors).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub inception_weights: Option<PathBuf>,
}

/// Every caption's embedding, by item key.
#[derive(Debug)]
pub struct ExtractedEmbeddings {
    pub dim: usize,
    pub checkpoint_sha256: String,
    pub preset: String,
    pub table_hash: String,
    pub keys: Vec<String>,
    /// Row ranges per item into `data` (`offsets[i]..offsets[i + 1]`).
    pub offsets: Vec<usize>,
    pub data: Vec<f32>,
}

impl ExtractedEmbeddings {
    /// `[n_captions, dim]` of item `i`.
    pub fn item(&self, i: usize) -> &[f32] {
        &self.data[self.offsets[i] * self.dim..self.offsets[i + 1] * self.dim]
    }

    /// Embeddings ordered like `ds.items()`, refusing a file made for other items.
    pub fn aligned_to(&self, ds: &Dataset, path: &Path) -> Result<Vec<usize>> {
        let index: HashMap<&str, usize> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        ds.items()
            .iter()
            .map(|item| {
                index.get(item.key.as_str()).copied().with_context(|| {
                    format!("{}: no embeddings for item `{}`", path.display(), item.key)
                })
            })
            .collect()
    }
}

/// Encodes every caption of every item.
pub fn extract(loaded: &LoadedSen, ds: &Dataset, device: Device) -> Result<ExtractedEmbeddings> {
    let sen = &loaded.sen;
    let dim = sen.config.embedding_dim() as usize;
    let mut jobs: Vec<(usize, usize, usize)> = Vec::new(); // (frames, item, caption)
    for (i, item) in ds.items().iter().enumerate() {
        for (k, c) in item.captions.iter().enumerate() {
            jobs.push((c.frames, i, k));
        }
    }
    jobs.sort_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut offsets = vec![0usize; ds.items().len() + 1];
    for (i, item) in ds.items().iter().enumerate() {
        offsets[i + 1] = offsets[i] + item.captions.len();
    }
    let mut data = vec![0f32; offsets[ds.items().len()] * dim];
    let bar = crate::train::progress::training_bar(jobs.len() as u64, 0);
    let m = ds.n_mels();
    tch::no_grad(|| -> Result<()> {
        for chunk in jobs.chunks(64) {
            let t = chunk[0].0;
            let mut speech = vec![0f32; chunk.len() * m * t];
            let mut lengths = Vec::with_capacity(chunk.len());
            for (row, &(frames, i, k)) in chunk.iter().enumerate() {
                let f = ds.features(i, k)?;
                for band in 0..m {
                    let dst = (row * m + band) * t;
                    speech[dst..dst + frames]
                        .copy_from_slice(&f.data[band * frames..(band + 1) * frames]);
                }
                lengths.push(frames as i64);
            }
            let x = Tensor::from_slice(&speech)
                .view([chunk.len() as i64, m as i64, t as i64])
                .to_device(device);
            let e = sen.speech.forward_t(&x, &lengths, false);
            let e = Vec::<f32>::try_from(e.to_device(Device::Cpu).contiguous().flatten(0, -1))?;
            for (row, &(_, i, k)) in chunk.iter().enumerate() {
                let dst = (offsets[i] + k) * dim;
                data[dst..dst + dim].copy_from_slice(&e[row * dim..(row + 1) * dim]);
            }
            bar.inc(chunk.len() as u64);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(ExtractedEmbeddings {
        dim,
        checkpoint_sha256: loaded.sha256.clone(),
        preset: sen.config.preset.clone(),
        table_hash: ds.report().table_hash.clone(),
        keys: ds.items().iter().map(|i| i.key.clone()).collect(),
        offsets,
        data,
    })
}

pub fn save(e: &ExtractedEmbeddings, path: &Path) -> Result<()> {
    let bytes: Vec<u8> = e.data.iter().flat_map(|x| x.to_le_bytes()).collect();
    let offsets: Vec<u8> = e
        .offsets
        .iter()
        .flat_map(|&o| (o as i64).to_le_bytes())
        .collect();
    let rows = e.data.len() / e.dim;
    let views = vec![
        (
            "embeddings",
            TensorView::new(Dtype::F32, vec![rows, e.dim], &bytes)?,
        ),
        (
            "offsets",
            TensorView::new(Dtype::I64, vec![e.offsets.len()], &offsets)?,
        ),
    ];
    let header = json!({
        "kind": EMBEDDINGS_KIND,
        "checkpoint_sha256": e.checkpoint_sha256,
        "preset": e.preset,
        "dim": e.dim,
        "table_hash": e.table_hash,
        "keys": e.keys,
    });
    let info = HashMap::from([("s2i".to_string(), header.to_string())]);
    let out = safetensors::serialize(views, Some(info))?;
    crate::train::checkpoint::write_atomically(path, &out)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads an embeddings file; `expected_checkpoint` (a SHA-256) refuses embeddings extracted from
/// another SEN checkpoint.
pub fn load(path: &Path, expected_checkpoint: Option<&str>) -> Result<ExtractedEmbeddings> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |p: String| anyhow::anyhow!("{}: not an SEN embeddings file ({p})", path.display());
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let header: serde_json::Value = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("s2i"))
        .and_then(|h| serde_json::from_str(h).ok())
        .ok_or_else(|| bad("no header".into()))?;
    if header["kind"] != EMBEDDINGS_KIND {
        return Err(bad(format!("kind {}", header["kind"])));
    }
    let sha = header["checkpoint_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(expected) = expected_checkpoint {
        if sha != expected {
            bail!(
                "{}: these embeddings were extracted from another SEN checkpoint ({}…, expected {}…); \
                 run `s2i-host sen extract` again",
                path.display(),
                &sha.get(..12).unwrap_or(&sha),
                &expected.get(..12).unwrap_or(expected)
            );
        }
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let emb = st.tensor("embeddings").map_err(|e| bad(e.to_string()))?;
    let off = st.tensor("offsets").map_err(|e| bad(e.to_string()))?;
    let dim = header["dim"].as_u64().ok_or_else(|| bad("no dim".into()))? as usize;
    if emb.dtype() != Dtype::F32 || emb.shape().get(1) != Some(&dim) || off.dtype() != Dtype::I64 {
        return Err(bad("unexpected tensor types or shapes".into()));
    }
    let data: Vec<f32> = emb
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let offsets: Vec<usize> = off
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .collect();
    let keys: Vec<String> =
        serde_json::from_value(header["keys"].clone()).map_err(|e| bad(e.to_string()))?;
    if offsets.len() != keys.len() + 1 || offsets.last().copied() != Some(data.len() / dim.max(1)) {
        return Err(bad("offsets do not match the keys and rows".into()));
    }
    Ok(ExtractedEmbeddings {
        dim,
        checkpoint_sha256: sha,
        preset: header["preset"].as_str().unwrap_or_default().into(),
        table_hash: header["table_hash"].as_str().unwrap_or_default().into(),
        keys,
        offsets,
        data,
    })
}

pub fn run(args: &ExtractArgs) -> Result<PathBuf> {
    let device = resolve_device(args.device, args.threads)?;
    let loaded = load_sen(&args.sen, device, args.inception_weights.as_deref())?;
    let ds = load_dataset(
        &args.data,
        &loaded.sen.config,
        args.inception_weights.is_some(),
    )?;
    let e = extract(&loaded, &ds, device)?;
    let out = args.out.clone().unwrap_or_else(|| {
        loaded
            .path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(EMBEDDINGS_FILE)
    });
    save(&e, &out)?;
    println!(
        "wrote {} captions × {} dims for {} items to {} (checkpoint {}…)",
        e.data.len() / e.dim,
        e.dim,
        e.keys.len(),
        out.display(),
        &e.checkpoint_sha256[..12]
    );
    Ok(out)
}
