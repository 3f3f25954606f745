//! Opening a trained generator (`generator.safetensors`: the EMA weights; or a training
//! checkpoint's live weights) for sampling, evaluation and export.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::Value;
use tch::{nn::VarStore, Device, Tensor};

use crate::train::Checkpoint;

use super::config::RdgConfig;
use super::generator::Generator;
use super::trainer::{check_header, CHECKPOINT_KIND, GENERATOR, GENERATOR_KIND, GENERATOR_PREFIX};

pub struct LoadedGenerator {
    pub vs: VarStore,
    pub g: Generator,
    pub config: RdgConfig,
    pub header: Value,
    pub path: PathBuf,
}

/// `run_or_file`: an RDG run folder (its `generator.safetensors`) or such a file.
pub fn generator_path(run_or_file: &Path) -> Result<PathBuf> {
    if run_or_file.is_dir() {
        let p = run_or_file.join(GENERATOR);
        if !p.exists() {
            bail!(
                "{}: no {GENERATOR} in this run folder (it is written at the end of every epoch)",
                run_or_file.display()
            );
        }
        Ok(p)
    } else if run_or_file.exists() {
        Ok(run_or_file.to_path_buf())
    } else {
        bail!(
            "{}: no such RDG run folder or generator file",
            run_or_file.display()
        )
    }
}

impl LoadedGenerator {
    pub fn load(run_or_file: &Path, device: Device) -> Result<Self> {
        let path = generator_path(run_or_file)?;
        let ck = Checkpoint::load(&path)?;
        // A training checkpoint also holds a generator: its live (not averaged) weights, which
        // are worth comparing with the EMA while a run goes on.
        let (kind, prefix) = if ck.header["kind"] == CHECKPOINT_KIND {
            (CHECKPOINT_KIND, "model/g/")
        } else {
            (GENERATOR_KIND, GENERATOR_PREFIX)
        };
        let config = check_header(&path, &ck.header, kind, None)?;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let vs = VarStore::new(device);
        let g = Generator::new(vs.root() / "g", &config);
        ck.load_into(&path, prefix, &vs)?;
        Ok(Self {
            vs,
            g,
            config,
            header: ck.header,
            path,
        })
    }

    /// SHA-256 of the SEN checkpoint whose embeddings the generator was trained on.
    pub fn sen_sha256(&self) -> Option<&str> {
        self.header["sen"]["sha256"].as_str()
    }

    /// Path of that SEN checkpoint, as recorded at training time.
    pub fn sen_path(&self) -> Option<PathBuf> {
        self.header["sen"]["path"].as_str().map(PathBuf::from)
    }

    /// Every stage's images (eval mode, c = μ: the deterministic picture for a caption).
    pub fn generate(&self, embeddings: &Tensor, z: &Tensor) -> Vec<Tensor> {
        self.generate_with(embeddings, z, BnStatistics::Running)
    }

    /// As [`LoadedGenerator::generate`], choosing where BN's statistics come from.
    pub fn generate_with(&self, embeddings: &Tensor, z: &Tensor, bn: BnStatistics) -> Vec<Tensor> {
        let train = bn == BnStatistics::Batch;
        tch::no_grad(|| self.g.forward_t(embeddings, z, train, false).images)
    }
}

/// Where the generator's batch norms take their statistics when sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BnStatistics {
    /// The running averages gathered in training (the paper's test mode; one image at a time
    /// gives the same picture as in a batch).
    Running,
    /// The batch's own statistics, as in training (pictures depend on the batch).
    Batch,
    /// Statistics re-estimated for the loaded weights from the training captions, as
    /// `s2i-host export` does: what the exported bundle draws.
    Recalibrated,
}
