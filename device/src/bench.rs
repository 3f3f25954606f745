//! `s2i bench`: where the time goes on this board (front end, speech encoder, each generator
//! stage, end to end) and the process's peak memory. Medians over repeated runs of the same
//! utterance after a warm-up; nothing else should run meanwhile.

use std::path::Path;
use std::time::{Duration, Instant};

use s2i_shared::frontend::Frontend;

use crate::infer::{InferError, Pipeline};

/// Timings of one step over all runs.
#[derive(Debug, Clone)]
pub struct Timing {
    pub name: String,
    pub runs: Vec<Duration>,
}

impl Timing {
    pub fn median_ms(&self) -> f64 {
        let mut v: Vec<f64> = self.runs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min_ms(&self) -> f64 {
        self.runs
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .fold(f64::INFINITY, f64::min)
    }
}

#[derive(Debug)]
pub struct BenchReport {
    pub bundle_id: String,
    /// "f32" or "int8".
    pub precision: &'static str,
    pub speech_ms: f64,
    pub timings: Vec<Timing>,
    /// Peak resident memory of the process (VmHWM), when the OS reports it.
    pub peak_memory_bytes: Option<u64>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "bundle {} ({}), {:.0} ms of speech, {} runs",
            self.bundle_id,
            self.precision,
            self.speech_ms,
            self.timings.first().map_or(0, |t| t.runs.len())
        )?;
        writeln!(f, "{:<22} {:>10} {:>10}", "step", "median ms", "min ms")?;
        for t in &self.timings {
            writeln!(
                f,
                "{:<22} {:>10.2} {:>10.2}",
                t.name,
                t.median_ms(),
                t.min_ms()
            )?;
        }
        match self.peak_memory_bytes {
            Some(b) => writeln!(f, "peak memory {:.1} MiB", b as f64 / (1 << 20) as f64),
            None => writeln!(f, "peak memory: not reported by this OS"),
        }
    }
}

/// Peak resident set size from `/proc/self/status` (Linux).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs each pipeline on `wav` `runs` times (after `warmup` runs) and times each step. The
/// pipelines take turns, in alternating order, so a shared machine's load drifts hit them alike
/// and their figures can be compared.
pub fn bench(
    pipelines: &[Pipeline],
    frontend: &Frontend,
    wav: &Path,
    runs: usize,
    warmup: usize,
) -> Result<Vec<BenchReport>, InferError> {
    let source = wav.display().to_string();
    let mut reports: Vec<BenchReport> = pipelines
        .iter()
        .map(|p| BenchReport {
            bundle_id: p.manifest.bundle_id.clone(),
            precision: p.precision.name(),
            speech_ms: 0.0,
            timings: ["front end", "speech encoder"]
                .iter()
                .map(|s| s.to_string())
                .chain((1..=p.stages()).map(|k| format!("generator stage {k}")))
                .chain(std::iter::once("end to end".to_string()))
                .map(|name| Timing {
                    name,
                    runs: Vec::with_capacity(runs),
                })
                .collect(),
            peak_memory_bytes: None,
        })
        .collect();
    for i in 0..warmup + runs {
        let order: Vec<usize> = if i % 2 == 0 {
            (0..pipelines.len()).collect()
        } else {
            (0..pipelines.len()).rev().collect()
        };
        for j in order {
            let (pipeline, report) = (&pipelines[j], &mut reports[j]);
            let start = Instant::now();
            let features = frontend
                .features_from_wav_file(wav)
                .map_err(|e| InferError::Input(e.to_string()))?;
            let front_end = start.elapsed();
            report.speech_ms = features.frames as f64 * 10.0;
            let encode_start = Instant::now();
            pipeline.embed(&features, &source)?;
            let encoder = encode_start.elapsed();
            // generate() runs the encoder again; the stage times come from its own clock.
            let images = pipeline.generate(&features, &source, 0, None, |_| {})?;
            let total = front_end + encoder + images.iter().map(|s| s.elapsed).sum::<Duration>();
            if i >= warmup {
                let mut steps = vec![front_end, encoder];
                steps.extend(images.iter().map(|s| s.elapsed));
                steps.push(total);
                for (t, d) in report.timings.iter_mut().zip(steps) {
                    t.runs.push(d);
                }
            }
        }
    }
    let peak = peak_memory_bytes();
    for r in &mut reports {
        r.peak_memory_bytes = peak;
    }
    Ok(reports)
}

/// One table for several reports of the same bundle (f32, int8): medians side by side, and
/// each later column's ratio to the first.
pub fn side_by_side(reports: &[BenchReport]) -> String {
    use std::fmt::Write;
    let Some(first) = reports.first() else {
        return String::new();
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bundle {}, {:.0} ms of speech, {} runs each, medians in ms (pipelines interleaved)",
        first.bundle_id,
        first.speech_ms,
        first.timings.first().map_or(0, |t| t.runs.len())
    );
    let _ = write!(out, "{:<22}", "step");
    for r in reports {
        let _ = write!(out, " {:>10}", r.precision);
    }
    for r in &reports[1..] {
        let _ = write!(
            out,
            " {:>12}",
            format!("{}/{}", first.precision, r.precision)
        );
    }
    out.push('\n');
    for (i, t) in first.timings.iter().enumerate() {
        let _ = write!(out, "{:<22}", t.name);
        for r in reports {
            let _ = write!(out, " {:>10.2}", r.timings[i].median_ms());
        }
        for r in &reports[1..] {
            let _ = write!(out, " {:>11.2}x", t.median_ms() / r.timings[i].median_ms());
        }
        out.push('\n');
    }
    match first.peak_memory_bytes {
        Some(b) => {
            let _ = writeln!(
                out,
                "peak memory {:.1} MiB (the process, all pipelines loaded)",
                b as f64 / (1 << 20) as f64
            );
        }
        None => out.push_str("peak memory: not reported by this OS\n"),
    }
    out
}
