//! `s2i-host sen train`: the SEN training loop (spec §4.3) with exact resume, validation-split
//! model selection, a metrics log and loss curves.
//!
//! A run folder holds `run.json` (what was asked), `last.safetensors` (model, optimiser and the
//! position in the data: written at every epoch end and on Ctrl-C), `best.safetensors` (the model
//! with the best validation mAP), `metrics.jsonl` and `loss.png`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tch::{nn::VarStore, Device};

use crate::data::{
    batch_rng, BatchPlan, Dataset, Draw, ImageOptions, LoadOptions, Split, SplitBy, SplitOptions,
};
use crate::report::{LineChart, Series};
use crate::train::checkpoint::named_variables;
use crate::train::metrics_log::{self, MetricsLog};
use crate::train::progress::{say, training_bar};
use crate::train::{resolve_device, Adam, Checkpoint, DeviceChoice, Interrupt};

use super::config::SenConfig;
use super::embed::embed_split;
use super::inception::InceptionFeatures;
use super::model::Sen;
use super::retrieval::{recall_at_k, sen_map, Embeddings};
use super::spec_augment::SpeechAugment;

pub const LAST: &str = "last.safetensors";
pub const BEST: &str = "best.safetensors";
pub const CHECKPOINT_KIND: &str = "s2i-sen";
/// Mixed into the seed of the augmentation's random stream.
const AUGMENT_STREAM: u64 = 0xa06e_5eed;

/// Options of `sen train`; unset schedule options keep the preset's values.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Dataset folder (official S2IGAN layout or a collection manifest).
    #[arg(long)]
    pub data: PathBuf,
    /// `edge` (board-sized) or `paper` (the spec's sizes).
    #[arg(long, default_value = "edge")]
    pub preset: String,
    /// Run folder for checkpoints, logs and plots.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint, exactly where it stopped.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// CPU threads for libtorch (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub epochs: Option<u64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub beta1: Option<f64>,
    #[arg(long)]
    pub beta2: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Multiply the learning rate by --lr-decay every --lr-decay-every epochs.
    #[arg(long)]
    pub lr_decay: Option<f64>,
    #[arg(long)]
    pub lr_decay_every: Option<u64>,
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Switch the distinctive (class) loss off (the paper's "SEN w/o L_d" ablation).
    #[arg(long)]
    pub no_distinctive: bool,
    #[arg(long)]
    pub validate_every: Option<u64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// A frozen Inception-v3 image backbone from this weights file instead of the small CNN.
    #[arg(long)]
    pub inception_weights: Option<PathBuf>,
    /// Stop (with a checkpoint and a final validation) after this many minutes of training.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Share of each training class's images held out for validation (model selection), or
    /// of the training classes with `--val-split class`.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// What validation holds out: images of the training classes, or whole training classes,
    /// which matches the test split's unseen classes (selecting on seen classes rewards
    /// memorising their colour pairs).
    #[arg(long, value_enum, default_value_t = SplitBy::Image)]
    pub val_split: SplitBy,
    /// Feature augmentation in training: `off`, or `voices` (speed ±15 %, SpecAugment's
    /// frequency and time masks) for voices the training set never had. Default: the preset's.
    #[arg(long, value_enum)]
    pub speech_augment: Option<SpeechAugmentChoice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpeechAugmentChoice {
    Off,
    Voices,
}

impl TrainArgs {
    pub fn new(data: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            data: data.into(),
            preset: "edge".into(),
            out: out.into(),
            resume: false,
            device: DeviceChoice::Auto,
            threads: None,
            epochs: None,
            batch_size: None,
            lr: None,
            beta1: None,
            beta2: None,
            weight_decay: None,
            lr_decay: None,
            lr_decay_every: None,
            gamma: None,
            no_distinctive: false,
            validate_every: None,
            seed: None,
            inception_weights: None,
            max_minutes: None,
            val_fraction: 0.1,
            val_split: SplitBy::Image,
            speech_augment: None,
        }
    }

    pub fn config(&self) -> Result<SenConfig> {
        let mut c = SenConfig::preset(&self.preset).map_err(anyhow::Error::msg)?;
        let s = &mut c.schedule;
        macro_rules! set {
            ($field:expr, $value:expr) => {
                if let Some(v) = $value {
                    $field = v;
                }
            };
        }
        set!(s.epochs, self.epochs);
        set!(s.batch_size, self.batch_size);
        set!(s.adam.lr, self.lr);
        set!(s.adam.beta1, self.beta1);
        set!(s.adam.beta2, self.beta2);
        set!(s.adam.weight_decay, self.weight_decay);
        set!(s.lr_decay, self.lr_decay);
        set!(s.lr_decay_every, self.lr_decay_every);
        set!(s.validate_every, self.validate_every);
        set!(s.seed, self.seed);
        set!(c.loss.gamma, self.gamma);
        if self.no_distinctive {
            c.loss.distinctive = false;
        }
        match self.speech_augment {
            Some(SpeechAugmentChoice::Off) => c.augment = SpeechAugment::off(),
            Some(SpeechAugmentChoice::Voices) => c.augment = SpeechAugment::voices(),
            None => {}
        }
        c.validate().map_err(anyhow::Error::msg)?;
        Ok(c)
    }
}

/// Where training stands; saved in every checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The epoch being run (1-based, as the paper's schedule counts).
    pub epoch: u64,
    /// Batches of that epoch already done.
    pub step_in_epoch: u64,
    pub global_step: u64,
    pub best_val_map: Option<f64>,
    pub best_epoch: Option<u64>,
}

/// Loss values of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    pub total: f64,
    pub matching: f64,
    pub distinctive: f64,
}

/// The model, its optimiser and the position: everything a checkpoint holds.
pub struct SenTrainer {
    pub vs: VarStore,
    pub sen: Sen,
    pub adam: Adam,
    pub position: Position,
    pub device: Device,
}

/// Loads a dataset the way SEN training wants it (images and features kept in memory).
pub fn load_dataset(data: &Path, config: &SenConfig, inception: bool) -> Result<Dataset> {
    load_dataset_with(data, config, inception, SplitOptions::default())
}

/// [`load_dataset`] with another validation split.
pub fn load_dataset_with(
    data: &Path,
    config: &SenConfig,
    inception: bool,
    split: SplitOptions,
) -> Result<Dataset> {
    let image = if inception {
        ImageOptions::paper()
    } else {
        ImageOptions::for_crop(config.image.input_size as u32)
    };
    let opts = LoadOptions {
        image,
        keep_images_in_memory: true,
        keep_features_in_memory: true,
        progress: true,
        split,
        ..Default::default()
    };
    let ds = Dataset::load(data, &opts)
        .with_context(|| format!("{}: cannot load the dataset", data.display()))?;
    if !ds.has_classes() {
        bail!(
            "{}: SEN training needs classes (class_info.pickle or a class column)",
            data.display()
        );
    }
    Ok(ds)
}

impl SenTrainer {
    pub fn new(
        config: &SenConfig,
        num_classes: i64,
        inception: Option<InceptionFeatures>,
        device: Device,
    ) -> Self {
        tch::manual_seed(config.schedule.seed as i64);
        let vs = VarStore::new(device);
        let sen = Sen::new(&vs.root(), config, num_classes, inception);
        let adam = Adam::new(&vs, config.schedule.adam);
        Self {
            vs,
            sen,
            adam,
            position: Position {
                epoch: 1,
                step_in_epoch: 0,
                global_step: 0,
                best_val_map: None,
                best_epoch: None,
            },
            device,
        }
    }

    pub fn config(&self) -> &SenConfig {
        &self.sen.config
    }

    /// One optimisation step on the batch `(epoch, step)` of `indices`.
    pub fn train_step(
        &mut self,
        ds: &Dataset,
        indices: &[usize],
        epoch: u64,
        step: u64,
    ) -> Result<StepLosses> {
        let seed = self.config().schedule.seed;
        let batch = ds.sen_batch(indices, Draw::train(), &mut batch_rng(seed, epoch, step))?;
        let lengths = Vec::<i64>::try_from(&batch.lengths)?;
        // Its own stream: switching augmentation on leaves the batches' draws as they were.
        let mut aug_rng = batch_rng(seed ^ AUGMENT_STREAM, epoch, step);
        let (speech, lengths) = self
            .config()
            .augment
            .apply(&batch.speech, &lengths, &mut aug_rng);
        self.adam.set_lr(self.config().schedule.lr_at(epoch));
        let losses = self.sen.losses(
            &speech.to_device(self.device),
            &lengths,
            &batch.images.to_device(self.device),
            &batch.class_ids.to_device(self.device),
            true,
        );
        let total = f64::try_from(&losses.total)?;
        if !total.is_finite() {
            bail!(
                "the loss became {total} at epoch {epoch} step {step} (global step {}); the last \
                 checkpoint is intact — try a lower --lr",
                self.position.global_step + 1
            );
        }
        self.adam.backward_step(&losses.total);
        Ok(StepLosses {
            total,
            matching: f64::try_from(&losses.matching)?,
            distinctive: f64::try_from(&losses.distinctive)?,
        })
    }

    fn header(&self, extra: Value) -> Value {
        let backbone = match self.sen.image.backbone {
            super::image_encoder::Backbone::SmallCnn(_) => "small_cnn",
            super::image_encoder::Backbone::Inception(_) => "inception_v3",
        };
        let mut h = json!({
            "kind": CHECKPOINT_KIND,
            "format": 1,
            "config": self.sen.config,
            "num_classes": self.sen.num_classes,
            "image_backbone": backbone,
            "position": self.position,
        });
        if let (Value::Object(h), Value::Object(extra)) = (&mut h, extra) {
            h.extend(extra);
        }
        h
    }

    /// The full training state (model, optimiser, position).
    pub fn checkpoint(&self, extra: Value) -> Checkpoint {
        let mut ck = Checkpoint::new(self.header(extra));
        ck.extend(named_variables("model/", &self.vs));
        ck.extend(self.adam.state("optim/"));
        ck
    }

    /// The model alone, for `best.safetensors`.
    pub fn model_checkpoint(&self, extra: Value) -> Checkpoint {
        let mut ck = Checkpoint::new(self.header(extra));
        ck.extend(named_variables("model/", &self.vs));
        ck
    }

    /// Restores a [`SenTrainer::checkpoint`] written by a run with the same config.
    pub fn restore(&mut self, path: &Path, ck: &Checkpoint) -> Result<()> {
        check_header(path, &ck.header, Some(&self.sen.config))?;
        ck.load_into(path, "model/", &self.vs)?;
        self.adam
            .load_state("optim/", &ck.tensors)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        self.position = serde_json::from_value(ck.header["position"].clone())
            .with_context(|| format!("{}: the checkpoint has no position", path.display()))?;
        Ok(())
    }
}

/// Checks that a checkpoint is an SEN checkpoint (and of `expected`'s config when given).
pub fn check_header(
    path: &Path,
    header: &Value,
    expected: Option<&SenConfig>,
) -> Result<SenConfig> {
    if header["kind"] != CHECKPOINT_KIND {
        bail!(
            "{}: not an SEN checkpoint (kind {})",
            path.display(),
            header["kind"]
        );
    }
    let config: SenConfig =
        serde_json::from_value(header["config"].clone()).with_context(|| {
            format!(
                "{}: unreadable SEN config in the checkpoint",
                path.display()
            )
        })?;
    if let Some(expected) = expected {
        // A resumed run may be given more (or fewer) epochs; everything else must match.
        let mut same_epochs = config.clone();
        same_epochs.schedule.epochs = expected.schedule.epochs;
        if &same_epochs != expected {
            bail!(
                "{}: the checkpoint was trained with preset `{}` and another configuration than \
                 this run's (preset `{}`); resume with the options it was started with",
                path.display(),
                config.preset,
                expected.preset
            );
        }
    }
    Ok(config)
}

/// Validation figures on the carved validation split (model selection never sees test).
pub fn validate(trainer: &SenTrainer, ds: &Dataset, split: Split) -> Result<(f64, Vec<f64>)> {
    let e = embed_split(&trainer.sen, ds, split, 64, trainer.device)?;
    let s = Embeddings {
        data: &e.speech,
        dim: e.dim,
    };
    let v = Embeddings {
        data: &e.images,
        dim: e.dim,
    };
    Ok((
        sen_map(&s, &v, &e.class_ids),
        recall_at_k(&s, &v, &[1, 5, 10]),
    ))
}

/// Runs `sen train`, stopping cleanly on Ctrl-C.
pub fn run(args: &TrainArgs) -> Result<()> {
    run_with(args, Interrupt::install()).map(|_| ())
}

/// How a training run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSummary {
    pub position: Position,
    pub interrupted: bool,
    pub time_limit: bool,
}

/// Runs `sen train` with the given stop flag (tests pass one they control).
pub fn run_with(args: &TrainArgs, interrupt: Interrupt) -> Result<TrainSummary> {
    let config = args.config()?;
    let device = resolve_device(args.device, args.threads)?;
    let out = &args.out;
    let last = out.join(LAST);
    crate::train::run_folder::check(out, &last, args.resume)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let inception = match &args.inception_weights {
        Some(p) => Some(InceptionFeatures::load(p, device)?),
        None => None,
    };
    let split = SplitOptions {
        by: args.val_split,
        val_fraction: args.val_fraction,
        ..Default::default()
    };
    let ds = load_dataset_with(&args.data, &config, inception.is_some(), split)?;
    let train_items = ds.split(Split::Train).len();
    if config.schedule.batch_size > train_items {
        bail!(
            "--batch-size {} is larger than the training split of {} ({} images)",
            config.schedule.batch_size,
            args.data.display(),
            train_items
        );
    }
    if ds.split(Split::Val).is_empty() {
        bail!("{}: the validation split is empty", args.data.display());
    }
    let num_classes = ds.num_train_classes() as i64;
    let mut trainer = SenTrainer::new(&config, num_classes, inception, device);
    let dataset_info = json!({
        "root": ds.root(),
        "table_hash": ds.report().table_hash,
        "items": ds.items().len(),
        "train": train_items,
        "val": ds.split(Split::Val).len(),
        "val_split": match args.val_split {
            SplitBy::Image => "images of the training classes",
            SplitBy::Class => "whole training classes",
        },
        "test": ds.split(Split::Test).len(),
        "train_classes": num_classes,
    });
    let extra = json!({ "dataset": dataset_info });

    let mut log = if args.resume {
        let ck = Checkpoint::load(&last)?;
        trainer.restore(&last, &ck)?;
        // The position may come from a run with another epoch count; the new count rules.
        trainer.sen.config.schedule.epochs = config.schedule.epochs;
        if ck.header["dataset"]["table_hash"] != dataset_info["table_hash"] {
            bail!(
                "{}: the run was trained on features of another front end ({}), this build computes {}",
                last.display(),
                ck.header["dataset"]["table_hash"],
                dataset_info["table_hash"]
            );
        }
        println!(
            "resuming {} at epoch {} step {}",
            out.display(),
            trainer.position.epoch,
            trainer.position.step_in_epoch
        );
        MetricsLog::resume(&out.join("metrics.jsonl"), trainer.position.global_step)?
    } else {
        let run = json!({ "config": config, "dataset": dataset_info, "device": format!("{device:?}"),
            "inception_weights": args.inception_weights });
        crate::train::checkpoint::write_atomically(
            &out.join("run.json"),
            serde_json::to_string_pretty(&run)?.as_bytes(),
        )?;
        MetricsLog::create(&out.join("metrics.jsonl"))?
    };

    let steps_per_epoch = ds
        .epoch_batches(
            Split::Train,
            BatchPlan::train(config.schedule.batch_size),
            0,
            1,
        )?
        .len() as u64;
    let total_steps = steps_per_epoch * config.schedule.epochs;
    println!(
        "SEN {} on {:?}: {} train / {} val images, {} classes, {} steps per epoch, {} epochs, \
         embedding {}, L_d {}",
        config.preset,
        device,
        train_items,
        ds.split(Split::Val).len(),
        num_classes,
        steps_per_epoch,
        config.schedule.epochs,
        config.embedding_dim(),
        if config.loss.distinctive { "on" } else { "off" },
    );
    let bar = training_bar(total_steps, trainer.position.global_step);
    let started = Instant::now();
    let deadline = args.max_minutes.map(|m| m * 60.0);
    let outcome = train_loop(
        &mut trainer,
        &ds,
        &mut log,
        &bar,
        &interrupt,
        |t| deadline.is_some_and(|d| t.elapsed().as_secs_f64() >= d),
        started,
        out,
        &extra,
    );
    bar.finish_and_clear();
    let stop = outcome?;
    plot_losses(out)?;
    match stop {
        Stop::Finished => println!("finished {} epochs", config.schedule.epochs),
        Stop::Interrupted => println!(
            "interrupted: saved {} at epoch {} step {}; continue with --resume",
            last.display(),
            trainer.position.epoch,
            trainer.position.step_in_epoch
        ),
        Stop::TimeLimit => println!(
            "time limit reached after {:.1} min: saved {} at epoch {} step {}",
            started.elapsed().as_secs_f64() / 60.0,
            last.display(),
            trainer.position.epoch,
            trainer.position.step_in_epoch
        ),
    }
    if let (Some(m), Some(e)) = (trainer.position.best_val_map, trainer.position.best_epoch) {
        println!(
            "best validation mAP {m:.4} at epoch {e}: {}",
            out.join(BEST).display()
        );
    }
    Ok(TrainSummary {
        position: trainer.position,
        interrupted: stop == Stop::Interrupted,
        time_limit: stop == Stop::TimeLimit,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Finished,
    Interrupted,
    TimeLimit,
}

#[allow(clippy::too_many_arguments)]
fn train_loop(
    trainer: &mut SenTrainer,
    ds: &Dataset,
    log: &mut MetricsLog,
    bar: &indicatif::ProgressBar,
    interrupt: &Interrupt,
    out_of_time: impl Fn(&Instant) -> bool,
    started: Instant,
    out: &Path,
    extra: &Value,
) -> Result<Stop> {
    let sched = trainer.config().schedule.clone();
    let plan = BatchPlan::train(sched.batch_size);
    let mut validated_at = None;
    while trainer.position.epoch <= sched.epochs {
        let epoch = trainer.position.epoch;
        let batches = ds.epoch_batches(Split::Train, plan, sched.seed, epoch)?;
        let mut sums = (0.0, 0.0, 0.0, 0usize);
        for (step, idx) in batches
            .iter()
            .enumerate()
            .skip(trainer.position.step_in_epoch as usize)
        {
            let l = trainer.train_step(ds, idx, epoch, step as u64)?;
            trainer.position.step_in_epoch = step as u64 + 1;
            trainer.position.global_step += 1;
            sums = (
                sums.0 + l.total,
                sums.1 + l.matching,
                sums.2 + l.distinctive,
                sums.3 + 1,
            );
            log.write(&json!({
                "step": trainer.position.global_step, "epoch": epoch, "loss": l.total,
                "matching": l.matching, "distinctive": l.distinctive, "lr": trainer.adam.lr(),
            }))?;
            bar.set_position(trainer.position.global_step);
            bar.set_message(format!(
                "epoch {epoch} loss {:.3} (L_m {:.3} L_d {:.3}) lr {:.1e}",
                l.total,
                l.matching,
                l.distinctive,
                trainer.adam.lr()
            ));
            if interrupt.requested() || out_of_time(&started) {
                trainer.checkpoint(extra.clone()).save(&out.join(LAST))?;
                let stop = if interrupt.requested() {
                    Stop::Interrupted
                } else {
                    Stop::TimeLimit
                };
                if stop == Stop::TimeLimit && validated_at != Some(trainer.position.global_step) {
                    validation(trainer, ds, log, bar, out, extra)?;
                    trainer.checkpoint(extra.clone()).save(&out.join(LAST))?;
                }
                return Ok(stop);
            }
        }
        if sums.3 > 0 {
            let n = sums.3 as f64;
            say(
                bar,
                format!(
                    "epoch {epoch}: loss {:.4} (L_m {:.4}, L_d {:.4}) lr {:.1e} [{:.1} min]",
                    sums.0 / n,
                    sums.1 / n,
                    sums.2 / n,
                    trainer.adam.lr(),
                    started.elapsed().as_secs_f64() / 60.0
                ),
            );
        }
        trainer.position.epoch += 1;
        trainer.position.step_in_epoch = 0;
        if epoch.is_multiple_of(sched.validate_every) || epoch == sched.epochs {
            validation(trainer, ds, log, bar, out, extra)?;
            validated_at = Some(trainer.position.global_step);
        }
        trainer.checkpoint(extra.clone()).save(&out.join(LAST))?;
        plot_losses(out)?;
    }
    Ok(Stop::Finished)
}

fn validation(
    trainer: &mut SenTrainer,
    ds: &Dataset,
    log: &mut MetricsLog,
    bar: &indicatif::ProgressBar,
    out: &Path,
    extra: &Value,
) -> Result<()> {
    let (map, recall) = validate(trainer, ds, Split::Val)?;
    let epoch = trainer.position.epoch - u64::from(trainer.position.step_in_epoch == 0);
    log.write(&json!({
        "step": trainer.position.global_step, "epoch": epoch, "val_map": map,
        "val_r1": recall[0], "val_r5": recall[1], "val_r10": recall[2],
    }))?;
    let better = trainer.position.best_val_map.is_none_or(|b| map > b);
    say(
        bar,
        format!(
            "validation after epoch {epoch}: mAP {map:.4}, R@1/5/10 {:.3}/{:.3}/{:.3}{}",
            recall[0],
            recall[1],
            recall[2],
            if better { "  (new best)" } else { "" }
        ),
    );
    if better {
        trainer.position.best_val_map = Some(map);
        trainer.position.best_epoch = Some(epoch);
        let mut extra = extra.clone();
        extra["validation"] =
            json!({"map": map, "r1": recall[0], "r5": recall[1], "r10": recall[2], "epoch": epoch});
        trainer.model_checkpoint(extra).save(&out.join(BEST))?;
    }
    Ok(())
}

/// `loss.png`: per-epoch mean losses and the validation mAP, from `metrics.jsonl`.
pub fn plot_losses(out: &Path) -> Result<()> {
    let path = out.join("metrics.jsonl");
    if !path.exists() {
        return Ok(());
    }
    let lines = metrics_log::read(&path)?;
    let mut per_epoch: std::collections::BTreeMap<u64, [f64; 4]> = Default::default();
    let mut val = Vec::new();
    for v in &lines {
        let Some(epoch) = v["epoch"].as_u64() else {
            continue;
        };
        if let Some(m) = v["val_map"].as_f64() {
            val.push((epoch as f64, m));
        } else if let Some(l) = v["loss"].as_f64() {
            let e = per_epoch.entry(epoch).or_default();
            e[0] += l;
            e[1] += v["matching"].as_f64().unwrap_or(f64::NAN);
            e[2] += v["distinctive"].as_f64().unwrap_or(f64::NAN);
            e[3] += 1.0;
        }
    }
    let series = |name: &str, k: usize| Series {
        name: name.into(),
        points: per_epoch
            .iter()
            .map(|(&e, s)| (e as f64, s[k] / s[3]))
            .collect(),
    };
    LineChart {
        title: "SEN training loss (epoch means)".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        series: vec![
            series("total", 0),
            series("matching L_m", 1),
            series("distinctive L_d", 2),
        ],
        log_y: false,
    }
    .write_png(&out.join("loss.png"), 800, 500)?;
    LineChart {
        title: "SEN validation mAP".into(),
        x_label: "epoch".into(),
        y_label: "mAP".into(),
        series: vec![Series {
            name: "val mAP".into(),
            points: val,
        }],
        log_y: false,
    }
    .write_png(&out.join("val_map.png"), 800, 500)?;
    Ok(())
}
