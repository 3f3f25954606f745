//! `s2i-host sen eval`: the paper's SEN mAP (spec §4.4) and speech→image R@1/5/10 on the test
//! split, each beside its chance level, as a table and JSON; and the embedding projection PNG.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::data::Split;
use crate::train::{resolve_device, DeviceChoice};

use super::embed::embed_split;
use super::load::load_sen;
use super::projection::write_projection;
use super::retrieval::{
    all_queries_map, class_average_precisions, recall_at_k, sen_map_chance, within_modality_map,
    Embeddings,
};
use super::trainer::load_dataset;

#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// SEN run folder (uses its best.safetensors) or a checkpoint file.
    #[arg(long)]
    pub sen: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    /// JSON report (default: <run>/eval.json beside the checkpoint).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Projection PNG (default: <run>/projection.png).
    #[arg(long)]
    pub projection: Option<PathBuf>,
    /// Which split to evaluate (test by default; val for a quick look during training).
    #[arg(long, default_value = "test", value_parser = ["test", "val"])]
    pub split: String,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub inception_weights: Option<PathBuf>,
}

/// What `sen eval` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SenReport {
    pub split: String,
    pub images: usize,
    pub classes: usize,
    pub sen_map: f64,
    pub sen_map_chance: f64,
    /// Each class's AP under the paper's one-query protocol, by class label.
    pub class_ap: Vec<(String, f64)>,
    /// Every utterance as a query (same chance level): steadier than one query per class.
    pub all_queries_map: f64,
    /// Image → image and speech → speech mAP (self excluded): which side separates the classes.
    pub image_image_map: f64,
    pub speech_speech_map: f64,
    pub recall: [f64; 3],
    pub recall_chance: [f64; 3],
}

pub fn run(args: &EvalArgs) -> Result<SenReport> {
    let device = resolve_device(args.device, args.threads)?;
    let loaded = load_sen(&args.sen, device, args.inception_weights.as_deref())?;
    let ds = load_dataset(
        &args.data,
        &loaded.sen.config,
        args.inception_weights.is_some(),
    )?;
    let split = if args.split == "val" {
        Split::Val
    } else {
        Split::Test
    };
    let e = embed_split(&loaded.sen, &ds, split, 64, device)?;
    if e.items.is_empty() {
        anyhow::bail!("{}: the {split} split is empty", args.data.display());
    }
    let s = Embeddings {
        data: &e.speech,
        dim: e.dim,
    };
    let v = Embeddings {
        data: &e.images,
        dim: e.dim,
    };
    let n = e.items.len();
    let ks = [1usize, 5, 10];
    let recall = recall_at_k(&s, &v, &ks);
    let mut classes = e.class_ids.clone();
    classes.sort();
    classes.dedup();
    let class_ap = class_average_precisions(&s, &v, &e.class_ids);
    let report = SenReport {
        split: split.to_string(),
        images: n,
        classes: classes.len(),
        sen_map: class_ap.iter().map(|(_, ap)| ap).sum::<f64>() / class_ap.len().max(1) as f64,
        class_ap: class_ap
            .iter()
            .map(|&(c, ap)| (ds.classes()[c].label.clone(), ap))
            .collect(),
        all_queries_map: all_queries_map(&s, &v, &e.class_ids),
        image_image_map: within_modality_map(&v, &e.class_ids),
        speech_speech_map: within_modality_map(&s, &e.class_ids),
        sen_map_chance: sen_map_chance(&e.class_ids, 200),
        recall: [recall[0], recall[1], recall[2]],
        recall_chance: ks.map(|k| (k.min(n) as f64) / n as f64),
    };

    let run_dir = loaded.path.parent().map(PathBuf::from).unwrap_or_default();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| run_dir.join(format!("eval_{split}.json")));
    let json = json!({
        "report": report,
        "checkpoint": loaded.path,
        "checkpoint_sha256": loaded.sha256,
        "preset": loaded.sen.config.preset,
        "distinctive_loss": loaded.sen.config.loss.distinctive,
        "dataset": args.data,
        "protocol": "spec §4.4: one speech query per class (its first item, caption 0), all split images ranked by cosine, relevant = same class; R@k: own image in the top k; chance: shuffled rankings",
    });
    crate::train::checkpoint::write_atomically(
        &out,
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
    .with_context(|| format!("cannot write {}", out.display()))?;

    // Projection of speech embeddings for (up to) 10 classes.
    let chosen: Vec<usize> = classes.iter().copied().take(10).collect();
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (k, &c) in e.class_ids.iter().enumerate() {
        if chosen.contains(&c) {
            rows.extend_from_slice(&e.speech[k * e.dim..(k + 1) * e.dim]);
            labels.push(ds.classes()[c].label.clone());
        }
    }
    let projection = args
        .projection
        .clone()
        .unwrap_or_else(|| run_dir.join(format!("projection_{split}.png")));
    write_projection(
        &projection,
        &format!(
            "SEN speech embeddings, {split} split, {} classes (PCA)",
            chosen.len()
        ),
        &rows,
        e.dim,
        &labels,
    )?;

    println!(
        "SEN evaluation on the {split} split of {} ({} images, {} classes)",
        args.data.display(),
        n,
        classes.len()
    );
    println!("  checkpoint {}", loaded.path.display());
    println!(
        "  {:<12} {:>9} {:>9} {:>9}",
        "figure", "model", "chance", "× chance"
    );
    let row = |name: &str, m: f64, c: f64| {
        println!("  {name:<12} {m:>9.4} {c:>9.4} {:>9.1}", m / c.max(1e-12));
    };
    row("SEN mAP", report.sen_map, report.sen_map_chance);
    row("mAP, all q.", report.all_queries_map, report.sen_map_chance);
    row("image→image", report.image_image_map, report.sen_map_chance);
    row(
        "speech→speech",
        report.speech_speech_map,
        report.sen_map_chance,
    );
    for (i, k) in ks.iter().enumerate() {
        row(&format!("R@{k}"), report.recall[i], report.recall_chance[i]);
    }
    let weakest: Vec<String> = {
        let mut v = report.class_ap.clone();
        v.sort_by(|a, b| a.1.total_cmp(&b.1));
        v.iter()
            .take(4)
            .map(|(c, ap)| format!("{c} {ap:.3}"))
            .collect()
    };
    println!("  weakest queries: {}", weakest.join(", "));
    println!("  wrote {} and {}", out.display(), projection.display());
    Ok(report)
}
