//! SEN end to end on a small real synthetic set (espeak-ng speech, drawn birds): training lowers
//! the loss, resume is exact, Ctrl-C leaves a resumable checkpoint, eval and extraction write
//! their files, and bad input gets clear errors.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use s2i_host::data::synth::{generate, Kind, SynthConfig};
use s2i_host::data::{BatchPlan, Split, SplitBy, SplitOptions};
use s2i_host::sen::config::{ImageEncoderConfig, SenConfig};
use s2i_host::sen::trainer::{self, load_dataset, SenTrainer, TrainArgs};
use s2i_host::sen::{eval, extract, load_sen};
use s2i_host::train::{Checkpoint, Interrupt};
use tch::Device;

/// 120 birds (2 per class), 2 captions each, made once per test binary.
fn dataset() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let mut cfg = SynthConfig::new(Kind::Birds, dir.join("birds"), 240);
        cfg.captions = 2;
        generate(&cfg).expect("the synthetic generator failed (is espeak-ng installed?)");
        dir.join("birds")
    })
}

/// The edge layout at toy width, so a step takes milliseconds.
fn tiny_config() -> SenConfig {
    let mut c = SenConfig::edge();
    c.preset = "tiny".into();
    c.speech.gru_hidden = 24;
    c.speech.attention_hidden = 16;
    c.speech.conv_channels = [16, 24];
    c.image = ImageEncoderConfig {
        input_size: 32,
        channels: vec![8, 16, 32],
    };
    c.schedule.batch_size = 16;
    c.schedule.adam.lr = 1e-2;
    c
}

fn first_batch(ds: &s2i_host::data::Dataset, c: &SenConfig) -> Vec<usize> {
    ds.epoch_batches(Split::Train, BatchPlan::train(c.schedule.batch_size), 7, 1)
        .unwrap()
        .remove(0)
}

#[test]
fn a_tiny_training_run_lowers_the_loss() {
    let c = tiny_config();
    let ds = load_dataset(dataset(), &c, false).unwrap();
    let mut t = SenTrainer::new(&c, ds.num_train_classes() as i64, None, Device::Cpu);
    let batches = ds
        .epoch_batches(Split::Train, BatchPlan::train(c.schedule.batch_size), 1, 1)
        .unwrap();
    // The class loss on unit vectors falls slowly by design (bounded logits); the matching
    // loss is the one that shows learning within a few steps.
    let mut losses = Vec::new();
    for epoch in 1..=10u64 {
        for (step, idx) in batches.iter().take(4).enumerate() {
            let l = t.train_step(&ds, idx, epoch, step as u64).unwrap();
            assert!(l.total.is_finite());
            losses.push(l.matching);
        }
    }
    let first: f64 = losses[..4].iter().sum::<f64>() / 4.0;
    let last: f64 = losses[losses.len() - 4..].iter().sum::<f64>() / 4.0;
    println!("mean matching loss over the first 4 steps {first:.3}, over the last 4 {last:.3}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(last < 0.85 * first, "{first} → {last}");
}

#[test]
fn resume_from_a_checkpoint_gives_the_identical_next_step() {
    let c = tiny_config();
    let ds = load_dataset(dataset(), &c, false).unwrap();
    let n = ds.num_train_classes() as i64;
    let idx = first_batch(&ds, &c);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("last.safetensors");

    let mut a = SenTrainer::new(&c, n, None, Device::Cpu);
    a.train_step(&ds, &idx, 1, 0).unwrap();
    a.train_step(&ds, &idx, 1, 1).unwrap();
    a.position.step_in_epoch = 2;
    a.checkpoint(serde_json::json!({})).save(&path).unwrap();
    let next_a = a.train_step(&ds, &idx, 1, 2).unwrap();

    // A fresh trainer with another seed, so nothing but the checkpoint can make it agree.
    let mut other = c.clone();
    other.schedule.seed += 1;
    let mut b = SenTrainer::new(&other, n, None, Device::Cpu);
    b.sen.config = c.clone();
    b.restore(&path, &Checkpoint::load(&path).unwrap()).unwrap();
    assert_eq!(b.position.step_in_epoch, 2);
    assert_eq!(b.adam.steps_taken(), 2);
    let next_b = b.train_step(&ds, &idx, 1, 2).unwrap();
    assert_eq!(next_a, next_b);
}

fn args(out: &Path) -> TrainArgs {
    let mut a = TrainArgs::new(dataset(), out);
    a.epochs = Some(2);
    a.batch_size = Some(32);
    a.validate_every = Some(1);
    a.device = s2i_host::train::DeviceChoice::Cpu;
    a.val_fraction = 0.3;
    a
}

/// `--val-split class` holds out whole training classes, as the test split's classes are unseen.
#[test]
fn validation_can_hold_out_whole_training_classes() {
    let dir = tempfile::tempdir().unwrap();
    let dataset_of = |split: SplitBy| {
        let run = dir.path().join(format!("{split:?}"));
        let mut a = args(&run);
        a.val_split = split;
        let stop = Interrupt::never();
        stop.request();
        trainer::run_with(&a, stop).unwrap();
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
        info["dataset"].clone()
    };
    let by_image = dataset_of(SplitBy::Image);
    let by_class = dataset_of(SplitBy::Class);
    assert_eq!(by_image["val_split"], "images of the training classes");
    assert_eq!(by_class["val_split"], "whole training classes");
    let classes = |d: &serde_json::Value| d["train_classes"].as_i64().unwrap();
    // 30 % of the classes leave training for validation.
    assert!(
        classes(&by_class) < classes(&by_image),
        "{by_class} vs {by_image}"
    );
    assert!(by_class["val"].as_i64().unwrap() > 0);
}

/// The CLI path with the real edge preset: train (interrupted, then resumed), eval, extract.
#[test]
fn train_interrupt_resume_eval_extract() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");

    // Ctrl-C already pressed: the run stops after its first step and saves a checkpoint.
    let stop = Interrupt::never();
    stop.request();
    let s = trainer::run_with(&args(&run), stop).unwrap();
    assert!(s.interrupted);
    assert_eq!(s.position.global_step, 1);
    let ck = Checkpoint::load(&run.join(trainer::LAST)).unwrap();
    assert_eq!(ck.header["position"]["step_in_epoch"], 1);

    // Starting again without --resume is refused; with it the run finishes.
    let e = trainer::run_with(&args(&run), Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--resume"), "{e}");
    let mut resume = args(&run);
    resume.resume = true;
    let s = trainer::run_with(&resume, Interrupt::never()).unwrap();
    assert!(!s.interrupted);
    assert_eq!(s.position.epoch, 3);
    for f in [
        "run.json",
        "last.safetensors",
        "best.safetensors",
        "metrics.jsonl",
        "loss.png",
        "val_map.png",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let steps: Vec<u64> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l).ok()?["loss"]
                .as_f64()
                .map(|_| 0)
        })
        .collect();
    let split = SplitOptions {
        val_fraction: 0.3,
        ..Default::default()
    };
    let per_epoch = trainer::load_dataset_with(dataset(), &SenConfig::edge(), false, split)
        .unwrap()
        .epoch_batches(Split::Train, BatchPlan::train(32), 0, 1)
        .unwrap()
        .len();
    assert_eq!(
        steps.len(),
        2 * per_epoch,
        "each step logged once across the resume"
    );

    // Evaluation: JSON with the figures, and the projection picture.
    let report = eval::run(&eval::EvalArgs {
        sen: run.clone(),
        data: dataset().to_path_buf(),
        out: None,
        projection: None,
        split: "test".into(),
        device: s2i_host::train::DeviceChoice::Cpu,
        threads: None,
        inception_weights: None,
    })
    .unwrap();
    assert_eq!(report.classes, 12);
    assert!(report.sen_map > 0.0 && report.sen_map <= 1.0);
    assert!(report.sen_map_chance > 0.05 && report.sen_map_chance < 0.3);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval_test.json")).unwrap())
            .unwrap();
    assert_eq!(json["report"]["images"], report.images);
    let png = image::open(run.join("projection_test.png")).unwrap();
    assert!(png.width() > 100);

    // Extraction: every caption, stamped with the checkpoint; a stale file is refused.
    let out = extract::run(&extract::ExtractArgs {
        sen: run.clone(),
        data: dataset().to_path_buf(),
        out: None,
        device: s2i_host::train::DeviceChoice::Cpu,
        threads: None,
        inception_weights: None,
    })
    .unwrap();
    let loaded = load_sen(&run, Device::Cpu, None).unwrap();
    let e = extract::load(&out, Some(&loaded.sha256)).unwrap();
    assert_eq!(e.keys.len(), 240);
    assert_eq!(e.offsets[240], 480);
    let norm: f32 = e.item(0)[..e.dim].iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    let stale = extract::load(&out, Some(&"0".repeat(64)))
        .unwrap_err()
        .to_string();
    assert!(stale.contains("another SEN checkpoint"), "{stale}");

    // A corrupted checkpoint is named.
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let e = load_sen(&bad, Device::Cpu, None).err().unwrap().to_string();
    assert!(e.contains("broken.safetensors"), "{e}");

    // A checkpoint of another preset is refused by name.
    let mut paper = SenTrainer::new(&SenConfig::paper(), 48, None, Device::Cpu);
    let last = run.join(trainer::LAST);
    let e = paper
        .restore(&last, &Checkpoint::load(&last).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("preset `edge`") && e.contains("last.safetensors"),
        "{e}"
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("not-a-dataset");
    std::fs::create_dir(&empty).unwrap();
    let mut a = TrainArgs::new(&empty, dir.path().join("run1"));
    a.device = s2i_host::train::DeviceChoice::Cpu;
    let e = format!(
        "{:#}",
        trainer::run_with(&a, Interrupt::never()).unwrap_err()
    );
    assert!(e.contains("not-a-dataset"), "{e}");

    let mut a = args(&dir.path().join("run2"));
    a.batch_size = Some(100_000);
    let e = trainer::run_with(&a, Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--batch-size 100000") && e.contains("training split"),
        "{e}"
    );

    let mut a = args(&dir.path().join("run3"));
    a.preset = "huge".into();
    let e = trainer::run_with(&a, Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown SEN preset `huge`"), "{e}");

    if !tch::Cuda::is_available() {
        let mut a = args(&dir.path().join("run4"));
        a.device = s2i_host::train::DeviceChoice::Cuda;
        let e = trainer::run_with(&a, Interrupt::never())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--device cuda"), "{e}");
    }

    let e = load_sen(&dir.path().join("nowhere"), Device::Cpu, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nowhere"), "{e}");
}
