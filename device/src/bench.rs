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
    pub speech_ms: f64,
    pub timings: Vec<Timing>,
    /// Peak resident memory of the process (VmHWM), when the OS reports it.
    pub peak_memory_bytes: Option<u64>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "bundle {}, {:.0} ms of speech, {} runs",
            self.bundle_id,
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

/// Runs the whole pipeline on `wav` `runs` times (after `warmup` runs) and times each step.
pub fn bench(
    pipeline: &Pipeline,
    frontend: &Frontend,
    wav: &Path,
    runs: usize,
    warmup: usize,
) -> Result<BenchReport, InferError> {
    let source = wav.display().to_string();
    let mut timings: Vec<Timing> = ["front end", "speech encoder"]
        .iter()
        .map(|s| s.to_string())
        .chain((1..=pipeline.stages()).map(|k| format!("generator stage {k}")))
        .chain(std::iter::once("end to end".to_string()))
        .map(|name| Timing {
            name,
            runs: Vec::with_capacity(runs),
        })
        .collect();
    let mut speech_ms = 0.0;
    for i in 0..warmup + runs {
        let start = Instant::now();
        let features = frontend
            .features_from_wav_file(wav)
            .map_err(|e| InferError::Input(e.to_string()))?;
        let front_end = start.elapsed();
        speech_ms = features.frames as f64 * 10.0;
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
            for (t, d) in timings.iter_mut().zip(steps) {
                t.runs.push(d);
            }
        }
    }
    Ok(BenchReport {
        bundle_id: pipeline.manifest.bundle_id.clone(),
        speech_ms,
        timings,
        peak_memory_bytes: peak_memory_bytes(),
    })
}
