//! `s2i-host rdg curve`: quality against CPU minutes for one or more RDG runs, from the EMA
//! snapshots their trainer kept (`--snapshot-every-cpu-minutes`). Each snapshot is evaluated
//! once (`rdg eval`, its report kept beside it) and the figures are drawn as one chart per
//! measure, a line per run: recipes compare at equal CPU minutes, not at equal steps.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::rdg::load::BnStatistics;
use crate::rdg::trainer::SNAPSHOTS;
use crate::report::{LineChart, Series};
use crate::train::DeviceChoice;

use super::gan::{self, GanEvalArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct CurveArgs {
    /// RDG run folders (each with snapshots/cpu_MMMM.safetensors).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    #[arg(long)]
    pub data: PathBuf,
    /// The attribute probe run (with its presence classifier).
    #[arg(long)]
    pub probe: PathBuf,
    /// Folder for the charts and curve.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Evaluate every this-many-th snapshot only (1 = all).
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub threads: Option<usize>,
}

/// One evaluated snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    pub cpu_minutes: f64,
    pub report: Value,
}

/// The snapshots of `run`, oldest first, with their CPU minutes.
pub fn snapshots(run: &Path) -> Result<Vec<(f64, PathBuf)>> {
    let dir = run.join(SNAPSHOTS);
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "{}: no snapshots (train with --snapshot-every-cpu-minutes)",
            dir.display()
        )
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let minutes = name
            .strip_prefix("cpu_")
            .and_then(|n| n.strip_suffix(".safetensors"))
            .and_then(|n| n.parse::<f64>().ok());
        if let Some(m) = minutes {
            found.push((m, path));
        }
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(found)
}

fn evaluate(args: &CurveArgs, snapshot: &Path) -> Result<Value> {
    let report = snapshot.with_extension("eval.json");
    if !report.exists() {
        let eval = GanEvalArgs {
            rdg: snapshot.to_path_buf(),
            data: args.data.clone(),
            probe: Some(args.probe.clone()),
            inception_weights: None,
            sen: None,
            embeddings: None,
            out: Some(report.clone()),
            seed: 100,
            bn: BnStatistics::Recalibrated,
            device: args.device,
            threads: args.threads,
        };
        gan::run(&eval)?;
    }
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("cannot read {}", report.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an rdg eval report", report.display()))?;
    Ok(v["report"].clone())
}

/// The measures drawn, as (file stem, title, pointer into a report).
const MEASURES: [(&str, &str, &str); 5] = [
    (
        "body",
        "body colour accuracy (captions that name it)",
        "/attribute_accuracy_named/body/generated",
    ),
    (
        "wing",
        "wing colour accuracy (captions that name it)",
        "/attribute_accuracy_named/wing/generated",
    ),
    ("map", "S2IGAN mAP (image encoder)", "/ied_map/generated"),
    ("present", "bird present", "/bird_present/generated"),
    (
        "frechet",
        "Fréchet distance (probe features)",
        "/probe_frechet/generated",
    ),
];

pub fn run(args: &CurveArgs) -> Result<Vec<(PathBuf, Vec<Point>)>> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut all = Vec::new();
    for run in &args.runs {
        let snaps = snapshots(run)?;
        if snaps.is_empty() {
            bail!("{}: no snapshots yet", run.join(SNAPSHOTS).display());
        }
        let mut points = Vec::new();
        for (i, (minutes, path)) in snaps.iter().enumerate() {
            let last = i + 1 == snaps.len();
            if i % args.every.max(1) != 0 && !last {
                continue;
            }
            println!("{}: {minutes} CPU minutes", path.display());
            points.push(Point {
                cpu_minutes: *minutes,
                report: evaluate(args, path)?,
            });
        }
        all.push((run.clone(), points));
    }
    for (stem, title, pointer) in MEASURES {
        let series = all
            .iter()
            .map(|(run, points)| {
                let name = run
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let pts = points
                    .iter()
                    .filter_map(|p| {
                        p.report
                            .pointer(pointer)
                            .and_then(Value::as_f64)
                            .map(|v| (p.cpu_minutes, v))
                    })
                    .collect();
                Series::new(name, pts)
            })
            .collect();
        LineChart {
            title: title.into(),
            x_label: "CPU minutes".into(),
            y_label: stem.into(),
            series,
            log_y: false,
        }
        .write_png(&args.out.join(format!("curve_{stem}.png")), 720, 420)?;
    }
    let table: Vec<Value> = all
        .iter()
        .map(|(run, points)| serde_json::json!({ "run": run, "points": points }))
        .collect();
    crate::train::checkpoint::write_atomically(
        &args.out.join("curve.json"),
        serde_json::to_string_pretty(&table)?.as_bytes(),
    )?;
    println!(
        "{:<28} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9}",
        "run", "CPU min", "body", "wing", "mAP", "present", "Fréchet"
    );
    for (run, points) in &all {
        for p in points {
            let get = |ptr: &str| {
                p.report
                    .pointer(ptr)
                    .and_then(Value::as_f64)
                    .map_or("—".to_string(), |v| format!("{v:.3}"))
            };
            println!(
                "{:<28} {:>8.0} {:>7} {:>7} {:>7} {:>8} {:>9}",
                run.display(),
                p.cpu_minutes,
                get(MEASURES[0].2),
                get(MEASURES[1].2),
                get(MEASURES[2].2),
                get(MEASURES[3].2),
                get(MEASURES[4].2)
            );
        }
    }
    println!("wrote {}", args.out.join("curve_*.png").display());
    Ok(all)
}
