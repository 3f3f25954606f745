//! Speech features → embedding → generator stage by stage, with tract plans built once.
//!
//! Each stage's picture is handed to the caller as soon as it exists (design decision 5), so a
//! screen can show the 64² preview while the next stage runs, or a slow board can stop early.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use s2i_shared::bundle::{Manifest, ModelFile, Precision, Role, TensorSpec, MANIFEST_FILE};
use s2i_shared::frontend::{Features, Frontend};
use s2i_shared::noise::gaussian;
use tract_onnx::prelude::*;

use super::bundle::{datum_type, spec_shape, BundleError, LoadedBundle};
use super::contract::{check_shapes, Hyper, FRAME_MASK_INPUT};

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

/// Kernels of one network's plan.
#[derive(Debug, Clone)]
pub struct KernelUse {
    pub file: PathBuf,
    pub matrix_products: usize,
    /// Products on integer (`*_i32_*`) kernels.
    pub integer: usize,
    /// tract's matrix-product kernels.
    pub kernels: Vec<String>,
    /// Convolutions on our direct convolution (`s2i-kernels`).
    pub direct_convolutions: usize,
    /// GRUs on our recurrent product (`s2i-kernels`).
    pub recurrent_grus: usize,
    /// int8 convolutions on our integer direct convolution (`s2i-kernels`): integer
    /// arithmetic too, outside tract's matrix products.
    pub integer_convolutions: usize,
    /// Dense layers reading their int8 weight as int8 (`s2i-kernels`).
    pub int8_dense: usize,
}

impl KernelUse {
    /// Convolutions and products computed in integers, by tract or by us.
    pub fn in_integers(&self) -> usize {
        self.integer + self.integer_convolutions
    }
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

impl Network {
    fn planned(model: InferenceModel, path: PathBuf) -> Result<Self, InferError> {
        Ok(Self {
            plan: optimise(model, &path)?,
            path,
        })
    }
}

/// Utterances are padded up to a multiple of this many frames (0.2 s: at most 5 % more GRU
/// steps for a 4 s description), so a handful of fixed-length plans serve every length.
pub const PADDED_LENGTH_STEP: usize = 20;
/// Fixed-length encoder plans kept (each holds its own packed weights, a few MB).
const CACHED_ENCODER_LENGTHS: usize = 6;
/// The length planned when the bundle loads (3 s of speech), so a bundle tract cannot plan is
/// refused at load, not at the first utterance.
const FIRST_PLANNED_FRAMES: usize = 300;

/// The speech encoder's plans.
enum Encoder {
    /// An encoder of `features` alone (older bundles): one plan over a symbolic frame axis.
    Symbolic(Network),
    /// An encoder with a `frame_mask` input: one plan per fixed length, because tract fuses
    /// the GRU into `GruSeq` only for a fixed frame count (the per-step `Scan` it runs
    /// otherwise is a third slower; docs/notes/gru-forms.md). Each utterance is zero-padded up
    /// to the next multiple of [`PADDED_LENGTH_STEP`]; the graph masks the padding exactly.
    Padded(Box<PaddedEncoder>),
}

struct PaddedEncoder {
    model: InferenceModel,
    path: PathBuf,
    n_mels: usize,
    /// Most recently used last.
    plans: Mutex<Vec<(usize, Plan)>>,
}

impl PaddedEncoder {
    fn new(model: InferenceModel, path: PathBuf, n_mels: usize) -> Result<Self, InferError> {
        let encoder = Self {
            model,
            path,
            n_mels,
            plans: Mutex::new(Vec::new()),
        };
        encoder.plan_for(FIRST_PLANNED_FRAMES)?;
        Ok(encoder)
    }

    /// The plan for exactly `frames` frames, planned on first use.
    fn plan_for(&self, frames: usize) -> Result<Plan, InferError> {
        let mut plans = self
            .plans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(i) = plans.iter().position(|(f, _)| *f == frames) {
            let entry = plans.remove(i);
            let plan = entry.1.clone();
            plans.push(entry);
            return Ok(plan);
        }
        let fixed = |model: InferenceModel| -> TractResult<InferenceModel> {
            model
                .with_input_fact(0, f32::fact([1, self.n_mels, frames]).into())?
                .with_input_fact(1, f32::fact([1, 1, frames]).into())
        };
        let model = fixed(self.model.clone()).map_err(|e| InferError::Plan {
            path: self.path.clone(),
            problem: format!("cannot fix the encoder's length to {frames} frames: {e:#}"),
        })?;
        let plan = optimise(model, &self.path)?;
        if plans.len() == CACHED_ENCODER_LENGTHS {
            plans.remove(0);
        }
        plans.push((frames, plan.clone()));
        Ok(plan)
    }

    fn last_plan(&self) -> Option<Plan> {
        let plans = self
            .plans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        plans.last().map(|(_, p)| p.clone())
    }

    /// `features` [1, n_mels, n] → the embedding, run at n rounded up to the length step.
    fn run(&self, features: TValue) -> Result<TVec<TValue>, InferError> {
        let input = |problem: String| {
            InferError::Input(format!(
                "the speech encoder ({}): {problem}",
                self.path.display()
            ))
        };
        let view = features
            .to_plain_array_view::<f32>()
            .map_err(|e| input(format!("features are not f32: {e}")))?;
        let shape = view.shape().to_vec();
        if shape.len() != 3 || shape[0] != 1 || shape[1] != self.n_mels || shape[2] == 0 {
            return Err(input(format!(
                "features of shape {shape:?}, expected [1, {}, frames]",
                self.n_mels
            )));
        }
        let frames = shape[2];
        let padded_to = frames.div_ceil(PADDED_LENGTH_STEP) * PADDED_LENGTH_STEP;
        let mut padded = tract_ndarray::Array3::<f32>::zeros((1, self.n_mels, padded_to));
        padded
            .slice_mut(tract_ndarray::s![.., .., ..frames])
            .assign(
                &view
                    .into_dimensionality::<tract_ndarray::Ix3>()
                    .map_err(|e| input(e.to_string()))?,
            );
        let mut mask = tract_ndarray::Array3::<f32>::zeros((1, 1, padded_to));
        mask.slice_mut(tract_ndarray::s![.., .., ..frames])
            .fill(1.0);
        let plan = self.plan_for(padded_to)?;
        run_plan(
            &plan,
            &self.path,
            tvec!(Tensor::from(padded).into(), Tensor::from(mask).into()),
            "the speech encoder",
        )
    }
}

impl Encoder {
    fn run(&self, features: TValue) -> Result<TVec<TValue>, InferError> {
        match self {
            Encoder::Symbolic(n) => run(n, tvec!(features), "the speech encoder"),
            Encoder::Padded(p) => p.run(features),
        }
    }

    /// A plan to inspect (kernels): the symbolic one, or the last fixed length used.
    fn inspectable(&self) -> Network {
        match self {
            Encoder::Symbolic(n) => Network {
                plan: n.plan.clone(),
                path: n.path.clone(),
            },
            Encoder::Padded(p) => Network {
                plan: p.last_plan().expect("a length is planned at load"),
                path: p.path.clone(),
            },
        }
    }
}

/// A verified bundle with one optimised tract plan per network.
pub struct Pipeline {
    pub manifest: Manifest,
    pub precision: Precision,
    /// Where the bundle is (errors name its files).
    dir: PathBuf,
    encoder: Encoder,
    stages: Vec<Network>,
    n_mels: usize,
    min_frames: usize,
    z_dim: usize,
    sampled_condition: Option<usize>,
}

/// What [`Pipeline::dry_run`] ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Frames of (zero) features the speech encoder was given.
    pub frames: usize,
    /// Side of each stage's picture.
    pub sides: Vec<u32>,
}

fn optimise(model: InferenceModel, path: &Path) -> Result<Plan, InferError> {
    model
        .into_typed()
        .and_then(s2i_kernels::optimise)
        .and_then(|m| m.into_runnable())
        .map_err(|e| InferError::Plan {
            path: path.to_path_buf(),
            problem: format!("tract cannot plan this model: {e:#}"),
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
        Self::from_bundle(&LoadedBundle::open(dir, frontend)?, frontend, precision)
    }

    /// Plans the networks of `precision` of a bundle already opened: the hyper-parameters and
    /// the shapes that chain the networks are checked first ([`super::contract`]).
    pub fn from_bundle(
        bundle: &LoadedBundle,
        frontend: &Frontend,
        precision: Precision,
    ) -> Result<Self, InferError> {
        let dir = &bundle.dir;
        let manifest = bundle.manifest.clone();
        let contract = |problem: String| InferError::Plan {
            path: dir.join(MANIFEST_FILE),
            problem,
        };
        if !manifest.files.iter().any(|f| f.precision == precision) {
            return Err(contract(format!(
                "the bundle has no {} networks (export it with --int8)",
                precision.name()
            )));
        }
        let hyper = Hyper::from_manifest(&manifest, frontend.config()).map_err(contract)?;
        check_shapes(&manifest, precision, &hyper, frontend.config()).map_err(contract)?;
        let n_mels = frontend.config().n_mels;
        let mut encoder = None;
        let mut stages: Vec<(u8, Network)> = Vec::new();
        for ((role, model), file) in bundle.models.iter().zip(&manifest.files) {
            if file.precision != precision {
                continue;
            }
            let model = model.clone();
            let path = dir.join(&file.path);
            let masked = file.inputs.iter().any(|t| t.name == FRAME_MASK_INPUT);
            match role {
                Role::SpeechEncoder if masked => {
                    let padded = PaddedEncoder::new(model, path.clone(), n_mels)?;
                    let plan = padded.last_plan().expect("a length is planned at load");
                    planned_outputs_match(&plan, file, &path)?;
                    encoder = Some(Encoder::Padded(Box::new(padded)));
                }
                Role::SpeechEncoder => {
                    let network = Network::planned(model, path)?;
                    planned_outputs_match(&network.plan, file, &network.path)?;
                    encoder = Some(Encoder::Symbolic(network))
                }
                other => {
                    let network = Network::planned(model, path)?;
                    planned_outputs_match(&network.plan, file, &network.path)?;
                    stages.push((other.stage().unwrap_or(0), network))
                }
            }
        }
        stages.sort_by_key(|(k, _)| *k);
        let encoder = encoder.ok_or_else(|| {
            contract(format!(
                "the bundle has no {} speech encoder",
                precision.name()
            ))
        })?;
        Ok(Self {
            precision,
            dir: dir.clone(),
            min_frames: hyper.min_frames,
            manifest,
            encoder,
            stages: stages.into_iter().map(|(_, n)| n).collect(),
            n_mels,
            z_dim: hyper.z_dim,
            sampled_condition: hyper.sampled_condition,
        })
    }

    pub fn stages(&self) -> usize {
        self.stages.len()
    }

    /// Which matrix-product kernels tract chose for each network (the proof that an int8
    /// bundle really multiplies in integers on this CPU), and how many convolutions and GRUs run
    /// on our kernels.
    pub fn kernels(&self) -> Vec<KernelUse> {
        let encoder = self.encoder.inspectable();
        std::iter::once(&encoder)
            .chain(&self.stages)
            .map(|n| {
                let mut usage = KernelUse {
                    file: n.path.clone(),
                    matrix_products: 0,
                    integer: 0,
                    kernels: Vec::new(),
                    direct_convolutions: 0,
                    recurrent_grus: 0,
                    integer_convolutions: 0,
                    int8_dense: 0,
                };
                for node in n.plan.model().nodes() {
                    if node.op_is::<s2i_kernels::direct_conv::DirectConv>() {
                        usage.direct_convolutions += 1;
                    }
                    if node.op_is::<s2i_kernels::gru::RecurrentGru>() {
                        usage.recurrent_grus += 1;
                    }
                    if node.op_is::<s2i_kernels::integer_conv::IntegerConv>() {
                        usage.integer_convolutions += 1;
                    }
                    if node.op_is::<s2i_kernels::int8_dense::Int8Dense>() {
                        usage.int8_dense += 1;
                    }
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

    /// Runs one network on raw tensors: 0 is the speech encoder (its `features` alone; padding
    /// and mask are the pipeline's business), k generator stage k (for benchmarks and
    /// comparisons that bring their own inputs).
    pub fn run_network(
        &self,
        index: usize,
        mut inputs: TVec<TValue>,
    ) -> Result<TVec<TValue>, InferError> {
        let network = match index {
            0 => {
                if inputs.len() != 1 {
                    return Err(InferError::Input(format!(
                        "the speech encoder takes the features alone, not {} inputs",
                        inputs.len()
                    )));
                }
                return self.encoder.run(inputs.remove(0));
            }
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
        let mut out = self.encoder.run(x.into())?;
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
        let mut images = Vec::with_capacity(last);
        self.run_stages(embedding, seed, last, |k, outputs, elapsed| {
            let image = to_rgb(&outputs[0], k, elapsed)?;
            on_stage(&image);
            images.push(image);
            Ok(())
        })?;
        Ok(images)
    }

    /// Runs stages 1..=`last` from an embedding, handing each stage's outputs to `each`.
    fn run_stages(
        &self,
        embedding: TValue,
        seed: u64,
        last: usize,
        mut each: impl FnMut(usize, &[TValue], Duration) -> Result<(), InferError>,
    ) -> Result<(), InferError> {
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
        let mut condition: Option<TValue> = None;
        for (i, stage) in self.stages[..last].iter().enumerate() {
            let k = i + 1;
            let start = Instant::now();
            let out = run(stage, inputs, &format!("generator stage {k}"))?;
            let elapsed = start.elapsed();
            let wanted = if k == 1 { 3 } else { 2 };
            if out.len() < wanted {
                return Err(InferError::Run {
                    what: format!("generator stage {k} ({})", stage.path.display()),
                    problem: format!("{} outputs, {wanted} expected", out.len()),
                });
            }
            each(k, &out, elapsed)?;
            if k == 1 {
                condition = Some(out[2].clone());
            }
            inputs = tvec!(
                out[1].clone(),
                condition.clone().expect("stage 1 ran first")
            );
        }
        Ok(())
    }

    /// The manifest's entry for network `index` (0: the speech encoder, k: stage k).
    fn file(&self, index: usize) -> Option<&ModelFile> {
        let role = match index {
            0 => Role::SpeechEncoder,
            1 => Role::GeneratorStage1,
            2 => Role::GeneratorStage2,
            3 => Role::GeneratorStage3,
            _ => return None,
        };
        self.manifest.file_for(role, self.precision)
    }

    /// Runs every network once at the bundle's own shapes (zero features of a 3 s utterance,
    /// the noise of seed 0) and compares every output with the manifest: shape, element type,
    /// finite values. A bundle that passes this draws pictures: `s2i check` and `run --check`
    /// call it.
    pub fn dry_run(&self) -> Result<DryRun, InferError> {
        let frames = FIRST_PLANNED_FRAMES.max(self.min_frames);
        let zeros = vec![0.0f32; self.n_mels * frames];
        let x = Tensor::from_shape(&[1, self.n_mels, frames], &zeros)
            .map_err(|e| InferError::Input(e.to_string()))?;
        let encoded = self.encoder.run(x.into())?;
        self.conforms(0, &encoded)?;
        let embedding = encoded
            .into_iter()
            .next()
            .expect("conforms checked the count");
        let mut sides = Vec::new();
        self.run_stages(embedding, 0, self.stages.len(), |k, outputs, _| {
            self.conforms(k, outputs)?;
            sides.push(outputs[0].shape()[2] as u32);
            Ok(())
        })?;
        Ok(DryRun { frames, sides })
    }

    /// `outputs` of network `index` are what the manifest lists.
    fn conforms(&self, index: usize, outputs: &[TValue]) -> Result<(), InferError> {
        let file = self.file(index).ok_or_else(|| InferError::Plan {
            path: self.dir.join(MANIFEST_FILE),
            problem: format!("no {} file for network {index}", self.precision.name()),
        })?;
        let fail = |problem: String| InferError::Plan {
            path: self.dir.join(&file.path),
            problem: format!("a dry run at the bundle's own shapes: {problem}"),
        };
        if outputs.len() != file.outputs.len() {
            return Err(fail(format!(
                "{} outputs, the manifest lists {}",
                outputs.len(),
                file.outputs.len()
            )));
        }
        for (spec, value) in file.outputs.iter().zip(outputs) {
            if !matches_spec(spec, value) {
                return Err(fail(format!(
                    "output {} is {} {:?}, the manifest says {}",
                    spec.name,
                    format!("{:?}", value.datum_type()).to_lowercase(),
                    value.shape(),
                    spec_shape(spec)
                )));
            }
            let finite = value
                .to_plain_array_view::<f32>()
                .map(|v| v.iter().all(|x| x.is_finite()))
                .unwrap_or(false);
            if !finite {
                return Err(fail(format!(
                    "output {} holds values that are not finite numbers",
                    spec.name
                )));
            }
        }
        Ok(())
    }
}

/// The outputs tract derived when planning (every input's shape is known then) are the ones the
/// manifest lists: a manifest cannot promise a picture size the network does not draw.
fn planned_outputs_match(plan: &Plan, file: &ModelFile, path: &Path) -> Result<(), InferError> {
    use s2i_shared::bundle::Dim;
    let model = plan.model();
    for (i, spec) in file.outputs.iter().enumerate() {
        let fact = model.output_fact(i).map_err(|e| InferError::Plan {
            path: path.to_path_buf(),
            problem: format!("output {}: {e}", spec.name),
        })?;
        let same_rank = fact.shape.len() == spec.shape.len();
        let fits = same_rank
            && fact.datum_type == datum_type(spec.dtype)
            && spec
                .shape
                .iter()
                .zip(fact.shape.iter())
                .all(|(d, have)| match *d {
                    Dim::Fixed(n) => have.as_i64().and_then(|h| u64::try_from(h).ok()) == Some(n),
                    // A named axis may stay symbolic, or take the length it was planned for.
                    Dim::Symbol(_) => true,
                });
        if !fits {
            return Err(InferError::Plan {
                path: path.to_path_buf(),
                problem: format!(
                    "output {} is {} [{}] once planned; the manifest says {}",
                    spec.name,
                    format!("{:?}", fact.datum_type).to_lowercase(),
                    fact.shape
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    spec_shape(spec)
                ),
            });
        }
    }
    Ok(())
}

/// A tensor of the manifest's element type and shape (named dimensions match any size).
fn matches_spec(spec: &TensorSpec, value: &TValue) -> bool {
    use s2i_shared::bundle::Dim;
    value.datum_type() == datum_type(spec.dtype)
        && value.shape().len() == spec.shape.len()
        && spec.shape.iter().zip(value.shape()).all(|(d, &n)| match d {
            Dim::Fixed(f) => *f == n as u64,
            Dim::Symbol(_) => true,
        })
}

fn run(network: &Network, inputs: TVec<TValue>, what: &str) -> Result<TVec<TValue>, InferError> {
    run_plan(&network.plan, &network.path, inputs, what)
}

fn run_plan(
    plan: &Plan,
    path: &Path,
    inputs: TVec<TValue>,
    what: &str,
) -> Result<TVec<TValue>, InferError> {
    plan.run(inputs).map_err(|e| InferError::Run {
        what: format!("{what} ({})", path.display()),
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
