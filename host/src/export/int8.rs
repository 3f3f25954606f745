//! The int8 half of a bundle (`export --int8`): every network again, with convolutions in
//! tract's integer form ([`super::quantize`]), calibrated on training utterances and measured
//! against the f32 files on test utterances.
//!
//! Calibration runs the bundle's own f32 files under tract, the way the board chains them:
//! training utterance → front end → speech encoder → stage 1 (noise from the board's seeded
//! generator) → stage 2 …, so every activation scale is taken on the inputs the network
//! really meets.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use s2i_shared::bundle::{sha256_file, ModelFile, Precision};
use tch::Tensor;

use super::check::{self, Plan};
use super::generator::{self, ConditionMode};
use super::onnx::{write_model, GraphBuilder};
use super::quantize::{calibrate, cosine, psnr, ConvPrecision};
use super::speech_encoder::{encoder_inputs, speech_encoder_graph};
use crate::data::{Dataset, Split};
use crate::doctor::features_tensor;
use crate::rdg::generator::Generator;
use crate::sen::speech_encoder::SpeechEncoder;

/// Training utterances that set the activation scales.
pub const CALIBRATION_UTTERANCES: usize = 48;
/// Test utterances on which int8 is compared with f32.
pub const COMPARISON_UTTERANCES: usize = 32;

pub fn int8_file(f32_file: &str) -> String {
    match f32_file.strip_suffix(".onnx") {
        Some(stem) => format!("{stem}.int8.onnx"),
        None => format!("{f32_file}.int8"),
    }
}

/// One f32 file of the bundle, as the int8 export sees it.
pub struct F32File {
    pub file: ModelFile,
    pub plan: Plan,
}

/// What `--int8` adds to a bundle.
pub struct Int8Files {
    pub files: Vec<ModelFile>,
    /// int8 vs f32 on test utterances: `int8_embedding_cosine_min`, `int8_stageK_psnr_db_mean`…
    pub metrics: BTreeMap<String, f64>,
}

/// `[1, n_mels, frames]` features of up to `count` utterances of `split`, one caption per item
/// in turn (deterministic).
fn utterances(ds: &Dataset, split: Split, count: usize) -> Result<Vec<Tensor>> {
    let items = ds.split(split);
    let stride = (items.len() / count.max(1)).max(1);
    items
        .iter()
        .step_by(stride)
        .take(count)
        .enumerate()
        .map(|(i, &item)| {
            let captions = ds.item(item).captions.len().max(1);
            let f = ds
                .features(item, i % captions)
                .with_context(|| format!("features of {} item {item}", split.name()))?;
            Ok(features_tensor(&f).unsqueeze(0))
        })
        .collect()
}

/// Inputs of every network for one utterance, by running the f32 plans in chain; entry 0 is the
/// encoder's, entry k stage k's.
fn chain_inputs(
    f32_files: &[F32File],
    gen: &Generator,
    features: &Tensor,
    seed: u64,
) -> Result<Vec<Vec<Tensor>>> {
    let mut inputs = vec![encoder_inputs(features, features.size()[2])];
    let e = check::run(&f32_files[0].plan, &inputs[0])?.remove(0);
    let z = s2i_shared::noise::gaussian(gen.config.z_dim as usize, seed);
    let z = Tensor::from_slice(&z).view([1, gen.config.z_dim]);
    inputs.push(vec![e, z]);
    let mut condition = None;
    for k in 1..f32_files.len() {
        let out = check::run(&f32_files[k].plan, &inputs[k])?;
        if k == 1 {
            condition = Some(out[2].shallow_clone());
        }
        if k + 1 < f32_files.len() {
            let c = condition.as_ref().expect("stage 1 ran").shallow_clone();
            inputs.push(vec![out[1].shallow_clone(), c]);
        }
    }
    Ok(inputs)
}

/// The graph of network `index` (0 = encoder, k = stage k) in `precision`.
fn graph(
    sed: &SpeechEncoder,
    gen: &Generator,
    index: usize,
    precision: ConvPrecision,
) -> GraphBuilder {
    match index {
        0 => speech_encoder_graph(sed, precision),
        1 => generator::stage1_graph(gen, ConditionMode::Mean, precision),
        k => generator::refine_graph(gen, k, precision),
    }
}

/// Writes the int8 file of every f32 file in `f32_files` (encoder first, then stages in order).
#[allow(clippy::too_many_arguments)]
pub fn write_int8(
    dir: &Path,
    sed: &SpeechEncoder,
    gen: &Generator,
    f32_files: &[F32File],
    ds: &Dataset,
    seed: u64,
    metadata: &dyn Fn(&str) -> Vec<(&'static str, String)>,
) -> Result<Int8Files> {
    let train = utterances(ds, Split::Train, CALIBRATION_UTTERANCES)?;
    let test = utterances(ds, Split::Test, COMPARISON_UTTERANCES)?;
    let mut calibration: Vec<Vec<Vec<Tensor>>> = (0..f32_files.len()).map(|_| Vec::new()).collect();
    for (i, f) in train.iter().enumerate() {
        for (k, inputs) in chain_inputs(f32_files, gen, f, seed + i as u64)?
            .into_iter()
            .enumerate()
        {
            calibration[k].push(inputs);
        }
    }
    println!(
        "int8: calibrating on {} training utterances, comparing on {} test utterances",
        train.len(),
        test.len()
    );

    let mut files = Vec::new();
    let mut plans = Vec::new();
    for (index, f32_file) in f32_files.iter().enumerate() {
        let name = int8_file(&f32_file.file.path);
        let observing = graph(sed, gen, index, ConvPrecision::Observe);
        let scales = calibrate(observing, dir, &name, &calibration[index])?;
        let role = match index {
            0 => "speech_encoder".to_string(),
            k => format!("generator_stage{k}"),
        };
        let int8 = graph(sed, gen, index, ConvPrecision::Int8(scales)).finish(&metadata(&role));
        let path = dir.join(&name);
        write_model(&int8, &path)?;
        plans.push(check::tract_plan(&path)?);
        files.push(ModelFile {
            precision: Precision::Int8,
            path: name.clone(),
            sha256: sha256_file(&path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            ..f32_file.file.clone()
        });
    }

    // int8 in chain (each network fed by the int8 one before it, as on the board) vs f32.
    let mut cosines = Vec::new();
    let mut psnrs = vec![Vec::new(); f32_files.len()];
    for (i, f) in test.iter().enumerate() {
        let reference = chain_inputs(f32_files, gen, f, seed + 10_000 + i as u64)?;
        let mut e = check::run(&plans[0], &encoder_inputs(f, f.size()[2]))?.remove(0);
        cosines.push(cosine(&reference[1][0], &e));
        let mut previous: Option<(Tensor, Tensor)> = None;
        for k in 1..f32_files.len() {
            let inputs = match &previous {
                None => vec![
                    std::mem::replace(&mut e, Tensor::new()),
                    reference[1][1].shallow_clone(),
                ],
                Some((h, c)) => vec![h.shallow_clone(), c.shallow_clone()],
            };
            let reference_out = check::run(&f32_files[k].plan, &reference[k])?;
            let out = check::run(&plans[k], &inputs)?;
            psnrs[k].push(psnr(&reference_out[0], &out[0]));
            let c = match &previous {
                None => out[2].shallow_clone(),
                Some((_, c)) => c.shallow_clone(),
            };
            previous = Some((out[1].shallow_clone(), c));
        }
    }
    let mut metrics = BTreeMap::new();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    metrics.insert("int8_embedding_cosine_min".into(), min(&cosines));
    metrics.insert("int8_embedding_cosine_mean".into(), mean(&cosines));
    println!(
        "int8 vs f32 on {} test utterances: embedding cosine mean {:.4}, min {:.4}",
        test.len(),
        mean(&cosines),
        min(&cosines)
    );
    for (k, p) in psnrs.iter().enumerate().skip(1) {
        metrics.insert(format!("int8_stage{k}_psnr_db_mean"), mean(p));
        metrics.insert(format!("int8_stage{k}_psnr_db_min"), min(p));
        println!(
            "  stage {k} image PSNR mean {:.1} dB, min {:.1} dB",
            mean(p),
            min(p)
        );
    }
    Ok(Int8Files { files, metrics })
}
