//! Front-end speed on one core for a 5 s utterance, as a multiple of real time, side by side with
//! the f64 reference (rustfft) in the same run. Run with `cargo bench -p s2i-shared --bench frontend`.
//!
//! Criterion measures each path; afterwards an interleaved loop (fixed, reference, fixed, …)
//! prints the real-time multiples and the ratio, so noise on a shared machine hits both alike.

#[path = "../tests/common/reference.rs"]
mod reference;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use s2i_shared::frontend::{wav, Audio, Frontend};

const SECONDS: usize = 5;

fn utterance(rate_file: &str) -> Audio {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wav")
        .join(rate_file);
    let one = wav::read_wav_file(&path, 20_000).expect("committed wav");
    let n = SECONDS * one.sample_rate as usize;
    Audio {
        sample_rate: one.sample_rate,
        samples: one.samples.iter().copied().cycle().take(n).collect(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let frontend = Frontend::default();
    let _ = frontend.table_hash(); // build every resampler outside the timings
    let reference = reference::Reference::new(frontend.config());
    let at16 = utterance("yellow_bird_16k_s16.wav");
    let at48 = utterance("grey_bird_48k_s24.wav");

    let mut c = Criterion::default().configure_from_args().sample_size(30);
    let mut g = c.benchmark_group("frontend_5s");
    g.throughput(Throughput::Elements((SECONDS * 16_000) as u64));
    g.bench_function("fixed_log_mel_16k", |b| {
        b.iter(|| frontend.log_mel(black_box(&at16.samples)))
    });
    g.bench_function("f64_reference_log_mel_16k", |b| {
        b.iter(|| reference.log_mel(black_box(&at16.samples)))
    });
    g.bench_function("fixed_full_pipeline_16k", |b| {
        b.iter(|| {
            frontend
                .features_from_audio(black_box(&at16), "bench")
                .unwrap()
        })
    });
    g.bench_function("fixed_full_pipeline_48k", |b| {
        b.iter(|| {
            frontend
                .features_from_audio(black_box(&at48), "bench")
                .unwrap()
        })
    });
    g.finish();
    c.final_summary();

    // Side by side, interleaved.
    let rounds = 40;
    let (mut fixed, mut float, mut full16, mut full48) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(frontend.log_mel(&at16.samples));
        fixed.push(t.elapsed());
        let t = Instant::now();
        black_box(reference.log_mel(&at16.samples));
        float.push(t.elapsed());
        let t = Instant::now();
        black_box(frontend.features_from_audio(&at16, "bench").unwrap());
        full16.push(t.elapsed());
        let t = Instant::now();
        black_box(frontend.features_from_audio(&at48, "bench").unwrap());
        full48.push(t.elapsed());
    }
    let audio = Duration::from_secs(SECONDS as u64);
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<44} {:>9.3} ms  {:>7.0}x real time",
            d.as_secs_f64() * 1e3,
            audio.as_secs_f64() / d.as_secs_f64()
        );
    };
    println!(
        "\nfront end, {SECONDS} s utterance, one core, median of {rounds} interleaved rounds:"
    );
    let (fixed, float) = (median(fixed), median(float));
    row("integer log-mel (16 kHz input)", fixed);
    row("f64 reference log-mel, rustfft (16 kHz input)", float);
    row(
        "integer full pipeline: trim + log-mel + CMVN",
        median(full16),
    );
    row(
        "integer full pipeline from 48 kHz (resampling)",
        median(full48),
    );
    println!(
        "integer / f64 reference speed ratio: {:.2}x",
        float.as_secs_f64() / fixed.as_secs_f64()
    );
}
