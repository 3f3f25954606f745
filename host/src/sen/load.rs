//! Opening a trained SEN from a run folder or a checkpoint file, for evaluation, extraction,
//! the generator's relation supervisor and export.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tch::{nn::VarStore, Device};

use crate::train::Checkpoint;

use super::config::SenConfig;
use super::inception::InceptionFeatures;
use super::model::Sen;
use super::trainer::{check_header, BEST};

pub struct LoadedSen {
    pub vs: VarStore,
    pub sen: Sen,
    pub header: Value,
    pub path: PathBuf,
    /// SHA-256 of the checkpoint file: the identity extracted embeddings are stamped with.
    pub sha256: String,
}

/// `run_or_file`: a run folder (its `best.safetensors`) or a checkpoint file.
pub fn checkpoint_path(run_or_file: &Path) -> Result<PathBuf> {
    if run_or_file.is_dir() {
        let best = run_or_file.join(BEST);
        if !best.exists() {
            bail!(
                "{}: no {BEST} in this run folder (has it validated once yet?)",
                run_or_file.display()
            );
        }
        Ok(best)
    } else if run_or_file.exists() {
        Ok(run_or_file.to_path_buf())
    } else {
        bail!(
            "{}: no such run folder or checkpoint",
            run_or_file.display()
        )
    }
}

pub fn load_sen(
    run_or_file: &Path,
    device: Device,
    inception_weights: Option<&Path>,
) -> Result<LoadedSen> {
    let path = checkpoint_path(run_or_file)?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let ck = Checkpoint::load(&path)?;
    let config: SenConfig = check_header(&path, &ck.header, None)?;
    let num_classes = ck.header["num_classes"]
        .as_i64()
        .with_context(|| format!("{}: the checkpoint has no class count", path.display()))?;
    let inception = match (ck.header["image_backbone"].as_str(), inception_weights) {
        (Some("inception_v3"), Some(w)) => Some(InceptionFeatures::load(w, device)?),
        (Some("inception_v3"), None) => bail!(
            "{}: this SEN was trained on a frozen Inception-v3; pass --inception-weights",
            path.display()
        ),
        _ => None,
    };
    let vs = VarStore::new(device);
    let sen = Sen::new(&vs.root(), &config, num_classes, inception);
    ck.load_into(&path, "model/", &vs)?;
    Ok(LoadedSen {
        vs,
        sen,
        header: ck.header,
        path,
        sha256,
    })
}
