//! `s2i-host export`: trained SEN and RDG runs → a verified model bundle (the one contract
//! between host and board; the README's "Export: the model bundle"). Files are written into a temporary sibling
//! folder, each ONNX graph is checked against tch under tract, the manifest is written last,
//! and only then is the folder renamed into place: an interrupted export leaves no bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use s2i_shared::bundle::{
    sha256_file, DType, Dim, FrontendStamp, Manifest, ModelFile, Precision, Provenance, Role,
    TensorSpec, FORMAT_VERSION, MANIFEST_FILE,
};
use s2i_shared::frontend::Frontend;
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};
use tract_onnx::prelude::Framework;

use super::check::{self, F32_TOLERANCE};
use super::generator::{self, fixed, names as gnames, ConditionMode};
use super::int8::{write_int8, F32File};
use super::onnx::{write_model, GraphBuilder};
use super::quantize::ConvPrecision;
use super::recalibrate::{recalibrate_from_captions, CALIBRATION_BATCHES, CALIBRATION_BATCH_SIZE};
use super::speech_encoder::{encoder_inputs, names as snames, speech_encoder_graph};
use crate::data::{Dataset, Split};
use crate::rdg::captions::CaptionEmbeddings;
use crate::rdg::load::LoadedGenerator;
use crate::sen::{load_sen, LoadedSen};

pub const SPEECH_ENCODER_FILE: &str = "speech_encoder.onnx";

pub fn stage_file(k: usize) -> String {
    format!("generator_stage{k}.onnx")
}

fn stage_role(k: usize) -> Result<Role> {
    Ok(match k {
        1 => Role::GeneratorStage1,
        2 => Role::GeneratorStage2,
        3 => Role::GeneratorStage3,
        _ => bail!("a bundle holds at most 3 generator stages, not {k}"),
    })
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// SEN run folder (its best.safetensors) or checkpoint.
    #[arg(long, required_unless_present = "verify")]
    pub sen: Option<PathBuf>,
    /// RDG run folder (its generator.safetensors: the EMA weights) or generator file.
    #[arg(long, required_unless_present = "verify")]
    pub rdg: Option<PathBuf>,
    /// Bundle folder to create, e.g. models/default.
    #[arg(long, required_unless_present = "verify")]
    pub out: Option<PathBuf>,
    /// Re-check an existing bundle (manifest, front end, hashes, tract loads every graph with
    /// the listed inputs and outputs) instead of exporting.
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["sen", "rdg", "out"])]
    pub verify: Option<PathBuf>,
    /// Generator stages to export (default: all the generator has).
    #[arg(long)]
    pub stages: Option<usize>,
    /// Condition the generator on the CA mean (deterministic) or sample it with an ε input.
    #[arg(long, value_enum, default_value = "mean")]
    pub condition: ConditionMode,
    /// Dataset whose training captions re-estimate BN statistics for the EMA weights (default:
    /// the one the RDG run trained on).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Batches of 64 training captions for that re-estimate; 0 keeps training's statistics.
    #[arg(long, default_value_t = CALIBRATION_BATCHES)]
    pub recalibration_batches: usize,
    /// Bundle id in the manifest (default: `<folder name>-<preset>-<date>`).
    #[arg(long)]
    pub bundle_id: Option<String>,
    /// Replace an existing bundle at --out.
    #[arg(long)]
    pub force: bool,
    /// Seed of the random check inputs and the recalibration noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write int8 files (integer convolutions, calibrated on training utterances of the
    /// dataset) beside the f32 ones, compared with them on test utterances.
    #[arg(long)]
    pub int8: bool,
}

impl ExportArgs {
    pub fn new(sen: &Path, rdg: &Path, out: &Path) -> Self {
        Self {
            sen: Some(sen.into()),
            rdg: Some(rdg.into()),
            out: Some(out.into()),
            verify: None,
            stages: None,
            condition: ConditionMode::Mean,
            data: None,
            recalibration_batches: CALIBRATION_BATCHES,
            bundle_id: None,
            force: false,
            seed: 0,
            int8: false,
        }
    }
}

pub fn run(args: &ExportArgs) -> Result<()> {
    if let Some(bundle) = &args.verify {
        let report = verify(bundle)?;
        println!("{report}");
        return Ok(());
    }
    let manifest = export(args)?;
    println!(
        "wrote bundle {} ({} files, preset {}); check it on a board with `s2i check --bundle {}`",
        args.out.as_ref().expect("clap requires --out").display(),
        manifest.files.len(),
        manifest.preset,
        args.out.as_ref().expect("clap requires --out").display()
    );
    Ok(())
}

/// What was written for one graph, for the manifest.
struct Written {
    file: ModelFile,
    max_relative_error: f64,
}

fn spec(name: &str, shape: Vec<Dim>) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape,
    }
}

/// One graph to write, with its interface as the manifest lists it.
struct GraphFile<'a> {
    file_name: &'a str,
    role: Role,
    graph: GraphBuilder,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

/// Writes `file`, then runs it under tract on each case's inputs against the case's tch outputs.
fn write_checked(
    dir: &Path,
    file: GraphFile,
    metadata: &[(&str, String)],
    cases: &[(Vec<Tensor>, Vec<Tensor>)],
) -> Result<Written> {
    let GraphFile {
        file_name,
        role,
        graph,
        inputs,
        outputs,
    } = file;
    let path = dir.join(file_name);
    write_model(&graph.finish(metadata), &path)?;
    let names: Vec<&str> = outputs.iter().map(|t| t.name.as_str()).collect();
    let plan = check::tract_plan(&path)?;
    let mut worst = 0f64;
    for (case_inputs, reference) in cases {
        let got = check::run(&plan, case_inputs)
            .with_context(|| format!("{}: tract could not run it", path.display()))?;
        worst = worst.max(check::compare(
            &path,
            &names,
            reference,
            &got,
            F32_TOLERANCE,
        )?);
    }
    Ok(Written {
        file: ModelFile {
            role,
            path: file_name.into(),
            sha256: sha256_file(&path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            precision: Precision::F32,
            inputs,
            outputs,
        },
        max_relative_error: worst,
    })
}

/// Exports a bundle; returns its manifest.
pub fn export(args: &ExportArgs) -> Result<Manifest> {
    let (sen_arg, rdg_arg, out) = match (&args.sen, &args.rdg, &args.out) {
        (Some(s), Some(r), Some(o)) => (s, r, o),
        _ => bail!("export needs --sen, --rdg and --out (or --verify BUNDLE)"),
    };
    if out.exists() && !args.force {
        bail!(
            "{}: already exists; pass --force to replace it (the old bundle stays until the new \
             one is complete)",
            out.display()
        );
    }
    let device = Device::Cpu;
    let sen = load_sen(sen_arg, device, None)?;
    let gen = LoadedGenerator::load(rdg_arg, device)?;
    if gen.sen_sha256() != Some(sen.sha256.as_str()) {
        bail!(
            "{}: this generator was trained on embeddings of SEN checkpoint {} (SHA-256 {}), not \
             {} (SHA-256 {}); export the SEN it was trained with",
            gen.path.display(),
            gen.sen_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            gen.sen_sha256().unwrap_or("unknown"),
            sen.path.display(),
            sen.sha256
        );
    }
    let stages = args.stages.unwrap_or(gen.config.stages);
    if stages == 0 || stages > gen.config.stages {
        bail!(
            "--stages {stages}: {} has stages 1..={}",
            gen.path.display(),
            gen.config.stages
        );
    }
    if args.int8 && args.condition == ConditionMode::Sample {
        bail!("--int8 is calibrated for --condition mean; export the sampling bundle in f32");
    }
    if args.recalibration_batches > 0 {
        recalibrate(args, &sen, &gen)?;
    }

    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a usable folder name", out.display()))?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).ok();
    }
    std::fs::create_dir(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let result = write_bundle(args, &sen, &gen, stages, name, &partial)
        .and_then(|m| install(&partial, out).map(|_| m));
    if result.is_err() {
        std::fs::remove_dir_all(&partial).ok();
    }
    result
}

/// The dataset the RDG run trained on (or --data), needed for `why`.
fn training_dataset(
    args: &ExportArgs,
    sen: &LoadedSen,
    gen: &LoadedGenerator,
    why: &str,
) -> Result<Dataset> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => gen.header["dataset"]["root"]
            .as_str()
            .map(PathBuf::from)
            .with_context(|| {
                format!(
                    "{}: the run does not record its dataset, needed {why}; pass --data",
                    gen.path.display()
                )
            })?,
    };
    crate::sen::trainer::load_dataset(&data, &sen.sen.config, false)
        .with_context(|| format!("{}: needed {why} (pass --data)", data.display()))
}

/// BN statistics for the EMA weights, from the RDG run's training captions.
fn recalibrate(args: &ExportArgs, sen: &LoadedSen, gen: &LoadedGenerator) -> Result<()> {
    let ds = training_dataset(
        args,
        sen,
        gen,
        "to re-estimate BN statistics (or pass --recalibration-batches 0)",
    )?;
    let embeddings = gen.header["embeddings"]
        .as_str()
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let run = sen.path.parent().unwrap_or(Path::new("."));
            run.join(crate::sen::extract::EMBEDDINGS_FILE)
        });
    let captions = CaptionEmbeddings::load(
        &embeddings,
        &sen.sha256,
        gen.config.embedding_dim,
        &ds,
        Device::Cpu,
    )?;
    let rows = recalibrate_from_captions(
        &gen.vs,
        &gen.g,
        &captions,
        ds.split(Split::Train),
        args.recalibration_batches,
        args.condition,
        args.seed as i64,
    );
    println!(
        "re-estimated BN statistics for the EMA weights: {} batches of {CALIBRATION_BATCH_SIZE} \
         from {rows} training captions",
        args.recalibration_batches
    );
    Ok(())
}

fn write_bundle(
    args: &ExportArgs,
    sen: &LoadedSen,
    gen: &LoadedGenerator,
    stages: usize,
    name: &str,
    dir: &Path,
) -> Result<Manifest> {
    let frontend = Frontend::default();
    let sed_cfg = &sen.sen.config.speech;
    let cfg = &gen.config;
    tch::manual_seed(args.seed as i64);
    let bundle_id = args
        .bundle_id
        .clone()
        .unwrap_or_else(|| format!("{name}-{}-{}", cfg.preset, today()));
    let metadata = |role: &str| {
        vec![
            ("bundle_id", bundle_id.clone()),
            ("preset", cfg.preset.clone()),
            ("role", role.to_string()),
        ]
    };

    // The speech encoder, checked at its shortest input and a few real lengths.
    let sed = &sen.sen.speech;
    // Unpadded, and padded as the board pads to its fixed lengths.
    let min = sed_cfg.min_frames();
    let cases: Vec<(Vec<Tensor>, Vec<Tensor>)> = [
        (min, min),
        (100, 100),
        (317, 317),
        (min, min + 23),
        (100, 180),
    ]
    .into_iter()
    .map(|(frames, padded_to)| {
        let x = Tensor::randn([1, sed_cfg.n_mels, frames], (Kind::Float, Device::Cpu));
        let e = tch::no_grad(|| sed.forward_t(&x, &[frames], false));
        (encoder_inputs(&x, padded_to), vec![e])
    })
    .collect();
    let encoder = GraphFile {
        file_name: SPEECH_ENCODER_FILE,
        role: Role::SpeechEncoder,
        graph: speech_encoder_graph(sed, ConvPrecision::F32),
        inputs: vec![
            spec(
                snames::FEATURES,
                vec![
                    Dim::Fixed(1),
                    Dim::Fixed(sed_cfg.n_mels as u64),
                    Dim::Symbol(snames::FRAMES.into()),
                ],
            ),
            spec(
                snames::FRAME_MASK,
                vec![
                    Dim::Fixed(1),
                    Dim::Fixed(1),
                    Dim::Symbol(snames::FRAMES.into()),
                ],
            ),
        ],
        outputs: vec![spec(
            snames::EMBEDDING,
            fixed(&[1, sed_cfg.embedding_dim()]),
        )],
    };
    let mut written = vec![write_checked(
        dir,
        encoder,
        &metadata("speech_encoder"),
        &cases,
    )?];

    for k in 1..=stages {
        let side = cfg.image_size(k);
        let mut inputs_spec = Vec::new();
        let mut outputs_spec = vec![
            spec(gnames::IMAGE, fixed(&[1, 3, side, side])),
            spec(
                gnames::FEATURES,
                fixed(&[1, cfg.feature_channels(k), side, side]),
            ),
        ];
        let graph = if k == 1 {
            inputs_spec.push(spec(gnames::EMBEDDING, fixed(&[1, cfg.embedding_dim])));
            inputs_spec.push(spec(gnames::NOISE, fixed(&[1, cfg.z_dim])));
            if args.condition == ConditionMode::Sample {
                inputs_spec.push(spec(gnames::EPSILON, fixed(&[1, cfg.condition_dim])));
            }
            outputs_spec.push(spec(gnames::CONDITION, fixed(&[1, cfg.condition_dim])));
            generator::stage1_graph(&gen.g, args.condition, ConvPrecision::F32)
        } else {
            let prev = cfg.image_size(k - 1);
            inputs_spec.push(spec(
                gnames::PREVIOUS_FEATURES,
                fixed(&[1, cfg.feature_channels(k - 1), prev, prev]),
            ));
            inputs_spec.push(spec(gnames::CONDITION, fixed(&[1, cfg.condition_dim])));
            generator::refine_graph(&gen.g, k, ConvPrecision::F32)
        };
        let cases: Vec<_> = (0..2)
            .map(|_| {
                let inputs = generator::random_inputs(&gen.g, k, args.condition);
                let reference = generator::reference_stage(&gen.g, k, &inputs);
                (inputs, reference)
            })
            .collect();
        let file_name = stage_file(k);
        let file = GraphFile {
            file_name: &file_name,
            role: stage_role(k)?,
            graph,
            inputs: inputs_spec,
            outputs: outputs_spec,
        };
        written.push(write_checked(
            dir,
            file,
            &metadata(&format!("generator_stage{k}")),
            &cases,
        )?);
    }

    let worst = written
        .iter()
        .map(|w| w.max_relative_error)
        .fold(0.0, f64::max);
    let mut metrics = evaluation_figures(sen, gen);
    metrics.insert("export_max_relative_error".into(), worst);
    let mut files: Vec<ModelFile> = written.into_iter().map(|w| w.file).collect();
    if args.int8 {
        let ds = training_dataset(args, sen, gen, "to calibrate int8 activations")?;
        let f32_files = files
            .iter()
            .map(|file| {
                Ok(F32File {
                    plan: check::tract_plan(&dir.join(&file.path))?,
                    file: file.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let int8 = write_int8(dir, sed, &gen.g, &f32_files, &ds, args.seed, &metadata)?;
        files.extend(int8.files);
        metrics.extend(int8.metrics);
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        bundle_id,
        preset: cfg.preset.clone(),
        frontend: FrontendStamp::of(&frontend),
        files,
        hyper_parameters: hyper_parameters(args, sen, gen, stages),
        provenance: Provenance {
            dataset: gen.header["dataset"]["root"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            seed: cfg.seed,
            steps: [
                (
                    "sen".to_string(),
                    sen.header["position"]["global_step"].as_u64(),
                ),
                (
                    "rdg".to_string(),
                    gen.header["position"]["global_step"].as_u64(),
                ),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
            exporter: format!("s2i-host {}", env!("CARGO_PKG_VERSION")),
            git_commit: git_commit(),
            created_at: Some(today()),
        },
        metrics,
    };
    manifest
        .validate(&dir.join(MANIFEST_FILE))
        .context("the exporter built an invalid manifest")?;
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, manifest.to_json_pretty() + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(manifest)
}

fn hyper_parameters(
    args: &ExportArgs,
    sen: &LoadedSen,
    gen: &LoadedGenerator,
    stages: usize,
) -> BTreeMap<String, Value> {
    let cfg = &gen.config;
    let s = &sen.sen.config.speech;
    BTreeMap::from([
        ("sen_preset".into(), json!(sen.sen.config.preset)),
        ("speech_encoder".into(), json!(s)),
        ("min_frames".into(), json!(s.min_frames())),
        ("generator".into(), json!(cfg)),
        ("stages".into(), json!(stages)),
        (
            "image_sizes".into(),
            json!((1..=stages).map(|k| cfg.image_size(k)).collect::<Vec<_>>()),
        ),
        (
            "condition".into(),
            json!(match args.condition {
                ConditionMode::Mean => "mean",
                ConditionMode::Sample => "sample",
            }),
        ),
        (
            "bn_recalibration_batches".into(),
            json!(args.recalibration_batches),
        ),
    ])
}

/// The figures the runs' own evaluations wrote (`sen eval`, `rdg eval`), flattened.
fn evaluation_figures(sen: &LoadedSen, gen: &LoadedGenerator) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let read = |p: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    let sen_eval = sen
        .path
        .parent()
        .map(|d| d.join("eval_test.json"))
        .and_then(read);
    if let Some(r) = sen_eval
        .as_ref()
        .filter(|v| v["checkpoint_sha256"] == json!(sen.sha256))
    {
        let r = &r["report"];
        for (key, value) in [
            ("sen_map", &r["sen_map"]),
            ("sen_map_chance", &r["sen_map_chance"]),
        ] {
            if let Some(v) = value.as_f64() {
                m.insert(key.to_string(), v);
            }
        }
        for (i, k) in [1, 5, 10].iter().enumerate() {
            if let Some(v) = r["recall"][i].as_f64() {
                m.insert(format!("sen_recall_at_{k}"), v);
            }
        }
    }
    let rdg_eval = gen
        .path
        .parent()
        .map(|d| d.join("eval_test.json"))
        .and_then(read);
    if let Some(r) = rdg_eval {
        let r = &r["report"];
        if let Some(attrs) = r["attribute_accuracy"].as_object() {
            for (attr, v) in attrs {
                for which in ["generated", "floor", "ceiling"] {
                    if let Some(x) = v[which].as_f64() {
                        m.insert(format!("{attr}_accuracy_{which}"), x);
                    }
                }
            }
        }
        for which in ["generated", "floor", "ceiling"] {
            if let Some(x) = r["ied_map"][which].as_f64() {
                m.insert(format!("ied_map_{which}"), x);
            }
        }
    }
    m
}

/// Moves a complete bundle into place; an existing one is set aside first and removed last.
fn install(partial: &Path, out: &Path) -> Result<()> {
    let aside = out.with_file_name(format!(
        ".{}.old-{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle"),
        std::process::id()
    ));
    let had_old = out.exists();
    if had_old {
        std::fs::rename(out, &aside)
            .with_context(|| format!("cannot move {} aside", out.display()))?;
    }
    if let Err(e) = std::fs::rename(partial, out) {
        if had_old {
            std::fs::rename(&aside, out).ok();
        }
        return Err(e).with_context(|| format!("cannot move the new bundle to {}", out.display()));
    }
    if had_old {
        std::fs::remove_dir_all(&aside).ok();
    }
    Ok(())
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// UTC date as YYYY-MM-DD (civil-from-days; no date crate for one string).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A bundle that passed `--verify`.
#[derive(Debug)]
pub struct VerifyReport {
    pub bundle: PathBuf,
    pub manifest: Manifest,
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        writeln!(
            f,
            "{}: bundle {} (preset {}, format {}) verified: front end {}, {} files",
            self.bundle.display(),
            m.bundle_id,
            m.preset,
            m.format_version,
            &m.frontend.table_hash[..12],
            m.files.len()
        )?;
        for file in &m.files {
            writeln!(
                f,
                "  {:<24} {:?} {:?} sha256 {}…",
                file.path,
                file.role,
                file.precision,
                &file.sha256[..12]
            )?;
        }
        Ok(())
    }
}

/// `--verify`: manifest structure and version, the front end against this build's, every
/// file's SHA-256, and that tract loads every graph with the manifest's inputs and outputs.
pub fn verify(bundle: &Path) -> Result<VerifyReport> {
    let manifest = Manifest::load_verified(bundle, &Frontend::default())?;
    for file in &manifest.files {
        let path = bundle.join(&file.path);
        let model = tract_onnx::onnx()
            .model_for_path(&path)
            .map_err(|e| anyhow::anyhow!("{}: not a loadable ONNX model: {e:#}", path.display()))?;
        let inputs: Vec<String> = model
            .input_outlets()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let outputs: Vec<String> = model
            .output_outlets()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| model.node(o.node).name.clone())
            })
            .collect();
        let listed =
            |specs: &[TensorSpec]| specs.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        if inputs != listed(&file.inputs) || outputs != listed(&file.outputs) {
            bail!(
                "{}: the model's inputs {inputs:?} and outputs {outputs:?} are not the manifest's \
                 {:?} and {:?}",
                path.display(),
                listed(&file.inputs),
                listed(&file.outputs)
            );
        }
    }
    Ok(VerifyReport {
        bundle: bundle.to_path_buf(),
        manifest,
    })
}
