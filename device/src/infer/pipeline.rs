//! Speech features → embedding → generator stage by stage, with tract plans built once.
//!
//! Each stage's picture is handed to the caller as soon as it exists (design decision 5), so a
//! screen can show the 64² preview while the next stage runs, or a slow board can stop early.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use s2i_shared::bundle::{Manifest, Precision, Role};
use s2i_shared::frontend::{Features, Frontend};
use s2i_shared::noise::gaussian;
use tract_onnx::prelude::*;

use super::bundle::{BundleError, LoadedBundle};

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("{path}: {problem}")]
    Plan { path: PathBuf, problem: String },
    #[error("{0}")]
    Input(String),
    #[error("running {what}: {problem}")]
    Run { what: String, problem: String },
}

/// One stage's picture: RGB8, row-major, `side × side`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageImage {
    pub stage: usize,
    pub side: u32,
    pub rgb: Vec<u8>,
    /// Time this stage's network took.
    pub elapsed: Duration,
}

/// Matrix-product kernels of one network's plan.
#[derive(Debug, Clone)]
pub struct KernelUse {
    pub file: PathBuf,
    pub matrix_products: usize,
    /// Products on integer (`*_i32_*`) kernels.
    pub integer: usize,
    pub kernels: Vec<String>,
}

/// Kernel names (`avx512vnni_mmm_i32_16x16`, `arm64simd_mmm_f32_8x8`…) in an OptMatMul's info.
fn kernel_names(info: &str) -> Vec<String> {
    info.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.contains("mmm_") || w.starts_with("generic_"))
        .map(str::to_string)
        .collect()
}

type Plan = Arc<TypedRunnableModel>;

struct Network {
    plan: Plan,
    path: PathBuf,
}

/// A verified bundle with one optimised tract plan per network.
pub struct Pipeline {
    pub manifest: Manifest,
    pub precision: Precision,
    encoder: Network,
    stages: Vec<Network>,
    min_frames: usize,
    z_dim: usize,
    sampled_condition: Option<usize>,
}

fn optimise(model: InferenceModel, path: &Path) -> Result<Plan, InferError> {
    model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| InferError::Plan {
            path: path.to_path_buf(),
            problem: format!("tract cannot plan this model: {e:#}"),
        })
}

fn hyper_usize(manifest: &Manifest, dir: &Path, key: &str) -> Result<usize, InferError> {
    manifest
        .hyper_parameters
        .get(key)
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .ok_or_else(|| InferError::Plan {
            path: dir.join(s2i_shared::bundle::MANIFEST_FILE),
            problem: format!("hyper_parameters.{key} is missing or not a number"),
        })
}

impl Pipeline {
    /// Verifies the bundle (manifest, front end, hashes, interfaces) and plans every f32 network.
    pub fn load(dir: &Path, frontend: &Frontend) -> Result<Self, InferError> {
        Self::load_precision(dir, frontend, Precision::F32)
    }

    /// As [`Pipeline::load`], planning the networks of `precision` (int8 bundles carry both).
    pub fn load_precision(
        dir: &Path,
        frontend: &Frontend,
        precision: Precision,
    ) -> Result<Self, InferError> {
        let bundle = LoadedBundle::open(dir, frontend)?;
        if !bundle
            .manifest
            .files
            .iter()
            .any(|f| f.precision == precision)
        {
            return Err(InferError::Plan {
                path: dir.join(s2i_shared::bundle::MANIFEST_FILE),
                problem: format!(
                    "the bundle has no {} networks (export it with --int8)",
                    precision.name()
                ),
            });
        }
        let manifest = bundle.manifest.clone();
        let mut encoder = None;
        let mut stages: Vec<(u8, Network)> = Vec::new();
        for ((role, model), file) in bundle.models.into_iter().zip(&manifest.files) {
            if file.precision != precision {
                continue;
            }
            let path = dir.join(&file.path);
            let network = Network {
                plan: optimise(model, &path)?,
                path,
            };
            match role {
                Role::SpeechEncoder => encoder = Some(network),
                other => stages.push((other.stage().unwrap_or(0), network)),
            }
        }
        stages.sort_by_key(|(k, _)| *k);
        let encoder = encoder.ok_or_else(|| InferError::Plan {
            path: dir.to_path_buf(),
            problem: format!("the bundle has no {} speech encoder", precision.name()),
        })?;
        let generator = manifest
            .hyper_parameters
            .get("generator")
            .cloned()
            .unwrap_or_default();
        let z_dim = generator["z_dim"]
            .as_u64()
            .ok_or_else(|| InferError::Plan {
                path: dir.join(s2i_shared::bundle::MANIFEST_FILE),
                problem: "hyper_parameters.generator.z_dim is missing".into(),
            })? as usize;
        let sampled_condition = (manifest
            .hyper_parameters
            .get("condition")
            .and_then(|c| c.as_str())
            == Some("sample"))
        .then(|| generator["condition_dim"].as_u64().unwrap_or(0) as usize);
        Ok(Self {
            precision,
            min_frames: hyper_usize(&manifest, dir, "min_frames")?,
            manifest,
            encoder,
            stages: stages.into_iter().map(|(_, n)| n).collect(),
            z_dim,
            sampled_condition,
        })
    }

    pub fn stages(&self) -> usize {
        self.stages.len()
    }

    /// Which matrix-product kernels tract chose for each network: the proof that an int8
    /// bundle really multiplies in integers on this CPU.
    pub fn kernels(&self) -> Vec<KernelUse> {
        std::iter::once(&self.encoder)
            .chain(&self.stages)
            .map(|n| {
                let mut usage = KernelUse {
                    file: n.path.clone(),
                    matrix_products: 0,
                    integer: 0,
                    kernels: Vec::new(),
                };
                for node in n.plan.model().nodes() {
                    if node.op().name() != "OptMatMul" {
                        continue;
                    }
                    usage.matrix_products += 1;
                    let info = node.op().info().unwrap_or_default().join(" ");
                    if info.contains("_i32_") {
                        usage.integer += 1;
                    }
                    for name in kernel_names(&info) {
                        if !usage.kernels.contains(&name) {
                            usage.kernels.push(name);
                        }
                    }
                }
                usage
            })
            .collect()
    }

    /// Runs one network on raw tensors: 0 is the speech encoder, k generator stage k (for
    /// benchmarks and comparisons that bring their own inputs).
    pub fn run_network(
        &self,
        index: usize,
        inputs: TVec<TValue>,
    ) -> Result<TVec<TValue>, InferError> {
        let network = match index {
            0 => &self.encoder,
            k => self.stages.get(k - 1).ok_or_else(|| {
                InferError::Input(format!(
                    "stage {k} does not exist: this bundle has stages 1..={}",
                    self.stages.len()
                ))
            })?,
        };
        run(network, inputs, &network.path.display().to_string())
    }

    /// The shortest utterance (in 10 ms frames) the speech encoder accepts.
    pub fn min_frames(&self) -> usize {
        self.min_frames
    }

    /// The speech embedding of one utterance's features.
    pub fn embed(&self, features: &Features, source: &str) -> Result<TValue, InferError> {
        if features.frames < self.min_frames {
            return Err(InferError::Input(format!(
                "{source}: only {} ms of speech after trimming silence; say a whole description \
                 (at least {} ms)",
                features.frames * 10,
                self.min_frames * 10
            )));
        }
        let x = Tensor::from_shape(&[1, features.n_mels, features.frames], &features.data)
            .map_err(|e| InferError::Input(format!("{source}: {e}")))?;
        let mut out = run(&self.encoder, tvec!(x.into()), "the speech encoder")?;
        Ok(out.remove(0))
    }

    /// Draws the picture for `features`, stage by stage up to `last_stage` (default: all),
    /// calling `on_stage` with each picture as soon as it exists. `seed` picks the noise.
    pub fn generate(
        &self,
        features: &Features,
        source: &str,
        seed: u64,
        last_stage: Option<usize>,
        mut on_stage: impl FnMut(&StageImage),
    ) -> Result<Vec<StageImage>, InferError> {
        let last = last_stage.unwrap_or(self.stages.len());
        if last == 0 || last > self.stages.len() {
            return Err(InferError::Input(format!(
                "stage {last} does not exist: this bundle has stages 1..={}",
                self.stages.len()
            )));
        }
        let embedding = self.embed(features, source)?;
        let noise = Tensor::from_shape(&[1, self.z_dim], &gaussian(self.z_dim, seed))
            .map_err(|e| InferError::Input(e.to_string()))?;
        let mut inputs: TVec<TValue> = tvec!(embedding, noise.into());
        if let Some(dim) = self.sampled_condition {
            // ε for c = μ + σ·ε: drawn after z from the same seed's stream.
            let all = gaussian(self.z_dim + dim, seed);
            let eps = Tensor::from_shape(&[1, dim], &all[self.z_dim..])
                .map_err(|e| InferError::Input(e.to_string()))?;
            inputs.push(eps.into());
        }
        let mut images = Vec::with_capacity(last);
        let mut condition: Option<TValue> = None;
        for (i, stage) in self.stages[..last].iter().enumerate() {
            let k = i + 1;
            let start = Instant::now();
            let mut out = run(stage, inputs, &format!("generator stage {k}"))?;
            let elapsed = start.elapsed();
            if k == 1 {
                condition = Some(out.remove(2));
            }
            let features = out.remove(1);
            let image = to_rgb(&out.remove(0), k, elapsed)?;
            on_stage(&image);
            images.push(image);
            inputs = tvec!(features, condition.clone().expect("stage 1 ran first"));
        }
        Ok(images)
    }
}

fn run(network: &Network, inputs: TVec<TValue>, what: &str) -> Result<TVec<TValue>, InferError> {
    network.plan.run(inputs).map_err(|e| InferError::Run {
        what: format!("{what} ({})", network.path.display()),
        problem: format!("{e:#}"),
    })
}

/// `[1, 3, S, S]` in [−1, 1] → RGB8.
fn to_rgb(image: &TValue, stage: usize, elapsed: Duration) -> Result<StageImage, InferError> {
    let view = image
        .to_plain_array_view::<f32>()
        .map_err(|e| InferError::Run {
            what: format!("generator stage {stage}"),
            problem: format!("its image is not f32: {e}"),
        })?;
    let shape = view.shape().to_vec();
    if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 || shape[2] != shape[3] {
        return Err(InferError::Run {
            what: format!("generator stage {stage}"),
            problem: format!("image of shape {shape:?}, expected [1, 3, S, S]"),
        });
    }
    let side = shape[2];
    let mut rgb = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            for c in 0..3 {
                let v = (view[[0, c, y, x]] + 1.0) * 127.5;
                rgb.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Ok(StageImage {
        stage,
        side: side as u32,
        rgb,
        elapsed,
    })
}
