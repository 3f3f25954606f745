//! `s2i-host rdg train`: the GAN loop of spec §8 (G forward once → each D's step → the RS step
//! → the G step → EMA), with exact resume, a metrics log, loss curves and sample grids.
//!
//! A run folder holds `run.json`, `last.safetensors` (every network, optimiser, the EMA and the
//! position; written at every epoch end, on Ctrl-C and at the time limit), `generator.safetensors`
//! (the EMA generator alone, for sampling and export), `metrics.jsonl`, `loss.png` and
//! `samples/step_NNNNNN.png` grids (fixed test captions × stages, the real image beside them).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::data::{
    batch_rng, image_pipeline, BatchPlan, Dataset, Draw, ImageOptions, LoadOptions, Split,
    SplitOptions,
};
use crate::report::{LineChart, Series};
use crate::sen::load::{load_sen, LoadedSen};
use crate::train::checkpoint::{named_variables, write_atomically};
use crate::train::metrics_log::{self, MetricsLog};
use crate::train::progress::{say, training_bar};
use crate::train::{resolve_device, Adam, AdamConfig, Checkpoint, DeviceChoice, Interrupt};

use super::augment::augment;
use super::captions::CaptionEmbeddings;
use super::config::AdversarialLoss;
use super::config::{Architecture, AugmentPolicy, DiscriminatorKind, RdgConfig};
use super::critic::Critic;
use super::ema::Ema;
use super::generator::Generator;
use super::grid::{self, GridCaptions};
use super::init::init_weights;
use super::losses::{
    discriminator_loss, generator_loss, hinge_discriminator_loss, matching_aware_penalty,
};
use super::relation::{
    generator_relation_loss, supervisor_loss, RelationEmbeddings, RelationSupervisor,
};
use crate::train::cpu_time::process_cpu_seconds;

pub const LAST: &str = "last.safetensors";
pub const GENERATOR: &str = "generator.safetensors";
pub const CHECKPOINT_KIND: &str = "s2i-rdg";
pub const GENERATOR_KIND: &str = "s2i-rdg-generator";
/// Where the generator's tensors sit in `generator.safetensors`.
pub const GENERATOR_PREFIX: &str = "generator/";

/// Options of `rdg train`; unset options keep the preset's values.
#[derive(Debug, Clone, clap::Args)]
pub struct RdgTrainArgs {
    /// Dataset folder (official S2IGAN layout or a collection manifest).
    #[arg(long)]
    pub data: PathBuf,
    /// The SEN run folder (its best.safetensors) or checkpoint: its image encoder feeds RS.
    #[arg(long)]
    pub sen: PathBuf,
    /// Caption embeddings from `sen extract` (default: <SEN run>/embeddings.safetensors).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// `edge` (board-sized) or `paper` (the spec's sizes).
    #[arg(long, default_value = "edge")]
    pub preset: String,
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
    /// 1 (64²), 2 (to 128²) or 3 (to 256²).
    #[arg(long)]
    pub stages: Option<usize>,
    #[arg(long)]
    pub ngf: Option<i64>,
    #[arg(long)]
    pub ndf: Option<i64>,
    #[arg(long)]
    pub residual_blocks: Option<usize>,
    /// Factor on the speech embeddings before conditioning augmentation (spec: 1; √D gives the
    /// unit SEN vectors unit-sized components).
    #[arg(long)]
    pub embedding_scale: Option<f64>,
    #[arg(long)]
    pub lr_g: Option<f64>,
    #[arg(long)]
    pub lr_d: Option<f64>,
    /// StackGAN-v2 refinement stages (the "w/o Dense" ablation).
    #[arg(long)]
    pub no_dense: bool,
    /// Train without the relation supervisor (the "w/o RS" ablation).
    #[arg(long)]
    pub no_rs: bool,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write a sample grid every this many steps (and at the end).
    #[arg(long, default_value_t = 500)]
    pub sample_every: u64,
    /// Stop (with a checkpoint and a final grid) after this many minutes of training.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Stop once the run has used this many CPU minutes (all threads, across resumes): the
    /// budget at which recipes are compared.
    #[arg(long)]
    pub max_cpu_minutes: Option<f64>,
    /// Keep the EMA generator every this many CPU minutes as
    /// `snapshots/cpu_MMMM.safetensors`, for quality curves (`rdg curve`).
    #[arg(long)]
    pub snapshot_every_cpu_minutes: Option<f64>,
    /// Recipe: generator architecture.
    #[arg(long, value_enum)]
    pub architecture: Option<Architecture>,
    /// Recipe: discriminator kind.
    #[arg(long, value_enum)]
    pub discriminator: Option<DiscriminatorKind>,
    /// Recipe: adversarial loss.
    #[arg(long, value_enum)]
    pub loss: Option<AdversarialLoss>,
    /// Recipe: augmentation of what D sees.
    #[arg(long, value_enum)]
    pub augment: Option<AugmentPolicy>,
    /// Recipe: weight of the matching-aware gradient penalty (0 = off).
    #[arg(long)]
    pub ma_gp_weight: Option<f64>,
    /// Recipe: weight of the paired low-resolution reconstruction (0 = off).
    #[arg(long)]
    pub pair_weight: Option<f64>,
    /// Recipe: Adam betas as `b1,b2`.
    #[arg(long, value_parser = parse_betas)]
    pub betas: Option<(f64, f64)>,
    /// Recipe: train the relation supervisor (on or off; default: the preset's).
    #[arg(long)]
    pub rs: Option<bool>,
    /// The SEN's Inception-v3 weights, when it was trained with that image backbone.
    #[arg(long)]
    pub inception_weights: Option<PathBuf>,
}

impl RdgTrainArgs {
    pub fn new(data: impl Into<PathBuf>, sen: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            data: data.into(),
            sen: sen.into(),
            embeddings: None,
            preset: "edge".into(),
            out: out.into(),
            resume: false,
            device: DeviceChoice::Auto,
            threads: None,
            epochs: None,
            batch_size: None,
            stages: None,
            ngf: None,
            ndf: None,
            residual_blocks: None,
            embedding_scale: None,
            lr_g: None,
            lr_d: None,
            no_dense: false,
            no_rs: false,
            seed: None,
            sample_every: 500,
            max_minutes: None,
            max_cpu_minutes: None,
            snapshot_every_cpu_minutes: None,
            architecture: None,
            discriminator: None,
            loss: None,
            augment: None,
            ma_gp_weight: None,
            pair_weight: None,
            betas: None,
            rs: None,
            inception_weights: None,
        }
    }

    pub fn config(&self) -> Result<RdgConfig> {
        let mut c = RdgConfig::preset(&self.preset).map_err(anyhow::Error::msg)?;
        macro_rules! set {
            ($field:expr, $value:expr) => {
                if let Some(v) = $value {
                    $field = v;
                }
            };
        }
        set!(c.epochs, self.epochs);
        set!(c.batch_size, self.batch_size);
        set!(c.stages, self.stages);
        set!(c.ngf, self.ngf);
        set!(c.ndf, self.ndf);
        set!(c.residual_blocks, self.residual_blocks);
        set!(c.embedding_scale, self.embedding_scale);
        set!(c.lr_g, self.lr_g);
        set!(c.lr_d, self.lr_d);
        set!(c.seed, self.seed);
        set!(c.architecture, self.architecture);
        set!(c.discriminator, self.discriminator);
        set!(c.loss, self.loss);
        set!(c.augment, self.augment);
        set!(c.ma_gp_weight, self.ma_gp_weight);
        set!(c.pair_weight, self.pair_weight);
        set!(c.betas, self.betas);
        set!(c.rs, self.rs);
        c.dense &= !self.no_dense;
        c.rs &= !self.no_rs;
        c.validate().map_err(anyhow::Error::msg)?;
        Ok(c)
    }

    pub fn embeddings_path(&self) -> PathBuf {
        self.embeddings.clone().unwrap_or_else(|| {
            if self.sen.is_dir() {
                self.sen.join(crate::sen::extract::EMBEDDINGS_FILE)
            } else {
                self.sen
                    .with_file_name(crate::sen::extract::EMBEDDINGS_FILE)
            }
        })
    }
}

fn parse_betas(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("`{s}`: expected two numbers as b1,b2"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<f64>()
            .map_err(|e| format!("`{x}` in --betas: {e}"))
    };
    Ok((num(a)?, num(b)?))
}

/// Where training stands; saved in every checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The epoch being run (1-based).
    pub epoch: u64,
    /// Batches of that epoch already done.
    pub step_in_epoch: u64,
    pub global_step: u64,
    /// CPU seconds (all threads) spent training so far, carried across resumes.
    #[serde(default)]
    pub cpu_seconds: f64,
}

/// Every loss of one step, for the log and the bar.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLosses {
    /// One per scale, smallest first.
    pub d: Vec<f64>,
    /// RS's own loss (None without RS).
    pub rs: Option<f64>,
    pub g_total: f64,
    pub g_adversarial: f64,
    pub g_relation: Option<f64>,
    pub kl: f64,
    /// The matching-aware gradient penalty summed over the scales, before weighting.
    pub gradient_penalty: Option<f64>,
    /// The paired reconstruction, before weighting.
    pub pair: Option<f64>,
}

/// Mean over the stages of L1 between each generated image and its caption's real image, both
/// averaged down to `side`² (images in [-1, 1]).
pub fn paired_reconstruction(generated: &[Tensor], real: &[Tensor], side: i64) -> Tensor {
    let pool = |x: &Tensor| x.adaptive_avg_pool2d([side, side]);
    let n = generated.len() as f64;
    generated
        .iter()
        .zip(real)
        .map(|(g, r)| (pool(g) - pool(r)).abs().mean(Kind::Float))
        .reduce(|a, b| a + b)
        .expect("at least one stage")
        / n
}

/// The image sizes a generator of `config` trains on: the crop is its last stage's side, the
/// real-image pyramid one image per stage.
pub fn image_options(config: &RdgConfig) -> ImageOptions {
    let sizes: Vec<u32> = config.image_sizes().iter().map(|&s| s as u32).collect();
    let crop = *sizes.last().expect("at least one stage");
    ImageOptions {
        load_size: crop * 76 / 64,
        crop_size: crop,
        pyramid: sizes,
    }
}

/// Loads a dataset for GAN training and checks its images are large enough for the last stage
/// (an upscaled small image would teach the generator blur).
pub fn load_dataset(data: &Path, config: &RdgConfig) -> Result<Dataset> {
    let image = image_options(config);
    let opts = LoadOptions {
        image: image.clone(),
        keep_images_in_memory: true,
        keep_features_in_memory: false,
        progress: true,
        split: SplitOptions::default(),
        ..Default::default()
    };
    let ds = Dataset::load(data, &opts)
        .with_context(|| format!("{}: cannot load the dataset", data.display()))?;
    for item in ds.items() {
        let (w, h) = image_pipeline::probe_dimensions(&item.image)?;
        if w.min(h) < image.crop_size {
            bail!(
                "{}: {}×{} pixels, but a {}-stage generator trains on {}² crops; use fewer \
                 --stages or larger images",
                item.image.display(),
                w,
                h,
                config.stages,
                image.crop_size
            );
        }
    }
    if ds.split(Split::Train).len() < config.batch_size {
        bail!(
            "--batch-size {} is larger than the training split of {} ({} images)",
            config.batch_size,
            data.display(),
            ds.split(Split::Train).len()
        );
    }
    Ok(ds)
}

fn adam(vs: &VarStore, config: &RdgConfig, lr: f64) -> Adam {
    Adam::new(vs, AdamConfig::new(lr, config.betas.0, config.betas.1, 0.0))
}

/// A step's noise seed: a pure function of (seed, step), so resuming draws the same z and CA noise.
fn step_seed(seed: u64, global_step: u64) -> i64 {
    let mut x = seed ^ global_step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((x ^ (x >> 31)) >> 1) as i64
}

/// The networks, their optimisers, the EMA, the frozen image encoder and the position.
pub struct RdgTrainer {
    pub config: RdgConfig,
    pub device: Device,
    pub g_vs: VarStore,
    pub g: Generator,
    pub d_vs: Vec<VarStore>,
    pub d: Vec<Critic>,
    pub rs_vs: VarStore,
    pub rs: RelationSupervisor,
    pub opt_g: Adam,
    pub opt_d: Vec<Adam>,
    pub opt_rs: Adam,
    pub ema: Ema,
    /// The SEN whose image encoder (frozen, eval mode) embeds images for RS.
    pub sen: LoadedSen,
    pub position: Position,
}

impl RdgTrainer {
    pub fn new(config: &RdgConfig, mut sen: LoadedSen, device: Device) -> Result<Self> {
        let sen_dim = sen.sen.config.embedding_dim();
        if sen_dim != config.embedding_dim {
            bail!(
                "{}: the SEN embeds into {sen_dim} dimensions, but the `{}` generator expects {}; \
                 train the generator with the preset that matches the SEN (edge ↔ edge, paper ↔ \
                 paper)",
                sen.path.display(),
                config.preset,
                config.embedding_dim
            );
        }
        sen.vs.freeze();
        tch::manual_seed(config.seed as i64);
        let g_vs = VarStore::new(device);
        let g = Generator::new(g_vs.root() / "g", config);
        init_weights(&g_vs);
        g.finish_init();
        let mut d_vs = Vec::new();
        let mut d = Vec::new();
        for size in config.image_sizes() {
            let vs = VarStore::new(device);
            d.push(Critic::new(vs.root() / format!("d{size}"), config, size));
            init_weights(&vs);
            d_vs.push(vs);
        }
        let rs_vs = VarStore::new(device);
        let rs = RelationSupervisor::new(rs_vs.root() / "rs", config.embedding_dim);
        init_weights(&rs_vs);
        Ok(Self {
            opt_g: adam(&g_vs, config, config.lr_g),
            opt_d: d_vs
                .iter()
                .map(|vs| adam(vs, config, config.lr_d))
                .collect(),
            opt_rs: adam(&rs_vs, config, config.lr_rs),
            ema: Ema::new(&g_vs, config.ema_decay),
            config: config.clone(),
            device,
            g_vs,
            g,
            d_vs,
            d,
            rs_vs,
            rs,
            sen,
            position: Position {
                epoch: 1,
                step_in_epoch: 0,
                global_step: 0,
                cpu_seconds: 0.0,
            },
        })
    }

    /// The frozen image encoder: `[B, 3, S, S]` in [-1, 1] → unit vectors.
    fn embed_images(&self, images: &Tensor) -> Tensor {
        self.sen.sen.image.forward_t(images, false)
    }

    /// One step of spec §8 on the batch `(epoch, step)` of `indices`.
    pub fn train_step(
        &mut self,
        ds: &Dataset,
        captions: &CaptionEmbeddings,
        indices: &[usize],
        epoch: u64,
        step: u64,
    ) -> Result<StepLosses> {
        let cfg = self.config.clone();
        let at = self.position.global_step + 1;
        let batch = ds.gan_batch(
            Split::Train,
            indices,
            Draw::train(),
            &mut batch_rng(cfg.seed, epoch, step),
        )?;
        tch::manual_seed(step_seed(cfg.seed, at));
        let dev = self.device;
        let emb = captions.rows(
            &Vec::<i64>::try_from(&batch.image_ids)?,
            &Vec::<i64>::try_from(&batch.caption_ids)?,
        );
        let real: Vec<Tensor> = batch.images.iter().map(|t| t.to_device(dev)).collect();
        let wrong: Vec<Tensor> = batch
            .wrong_images
            .iter()
            .map(|t| t.to_device(dev))
            .collect();
        let b = indices.len() as i64;
        let z = Tensor::randn([b, cfg.z_dim], (Kind::Float, dev));
        let out = self.g.forward_t(&emb, &z, true, true);

        let check = |name: &str, loss: &Tensor| -> Result<f64> {
            let v = f64::try_from(loss)?;
            if !v.is_finite() {
                bail!(
                    "the {name} loss became {v} at epoch {epoch} step {step} (global step {at}); \
                     training stopped and the last checkpoint is intact — try a lower learning \
                     rate or check the embeddings"
                );
            }
            Ok(v)
        };

        // D's condition: μ for the stacked D (detached in its own step), the embedding for the
        // residual one.
        let scaled = &emb * cfg.embedding_scale;
        let d_condition = Critic::condition(cfg.discriminator, &out.mu, &scaled);
        let aug = |x: &Tensor| augment(x, cfg.augment);

        let mut d_losses = Vec::with_capacity(cfg.stages);
        let mut penalty = None;
        for (i, d) in self.d.iter().enumerate() {
            let cond = d_condition.detach();
            let (real_in, cond_in) = if cfg.ma_gp_weight > 0.0 {
                (
                    aug(&real[i]).detach().set_requires_grad(true),
                    cond.set_requires_grad(true),
                )
            } else {
                (aug(&real[i]), cond)
            };
            let real_logits = d.forward_t(&real_in, &cond_in, true);
            let wrong_logits = d.forward_t(&aug(&wrong[i]), &cond_in.detach(), true);
            let fake_logits = d.forward_t(&aug(&out.images[i].detach()), &cond_in.detach(), true);
            let mut loss = match cfg.loss {
                AdversarialLoss::Bce => {
                    discriminator_loss(&real_logits, &wrong_logits, &fake_logits, cfg.uncond_weight)
                }
                AdversarialLoss::Hinge => hinge_discriminator_loss(
                    &real_logits,
                    &wrong_logits,
                    &fake_logits,
                    cfg.uncond_weight,
                ),
            };
            if cfg.ma_gp_weight > 0.0 {
                let gp = matching_aware_penalty(&real_logits.cond, &real_in, &cond_in);
                *penalty.get_or_insert(0.0) += check("gradient penalty", &gp)?;
                loss += gp * cfg.ma_gp_weight;
            }
            let size = cfg.image_size(i + 1);
            d_losses.push(check(&format!("D{size}"), &loss)?);
            self.opt_d[i].backward_step(&loss);
        }

        let final_fake = out.images.last().expect("at least one stage");
        let (rs_loss, real_embedding) = if cfg.rs {
            let (real_e, same_e, wrong_e, gen_e) = tch::no_grad(|| {
                (
                    self.embed_images(real.last().unwrap()),
                    self.embed_images(&batch.same_class_images.to_device(dev)),
                    self.embed_images(wrong.last().unwrap()),
                    self.embed_images(&final_fake.detach()),
                )
            });
            let e = RelationEmbeddings {
                real: &real_e,
                same_class: &same_e,
                generated: &gen_e,
                wrong: &wrong_e,
            };
            let loss = supervisor_loss(&self.rs, &e, ds.has_classes());
            let v = check("RS", &loss)?;
            self.opt_rs.backward_step(&loss);
            (Some(v), Some(real_e))
        } else {
            (None, None)
        };

        let fakes: Vec<_> = self
            .d
            .iter()
            .zip(&out.images)
            .map(|(d, x)| d.forward_t(&aug(x), &d_condition, true))
            .collect();
        let relation = real_embedding.map(|real_e| {
            generator_relation_loss(&self.rs, &real_e, &self.embed_images(final_fake))
        });
        let mut gl = generator_loss(&cfg, &fakes, relation, &out.mu, &out.logvar);
        let pair = if cfg.pair_weight > 0.0 {
            let l = paired_reconstruction(&out.images, &real, cfg.pair_side);
            gl.total = &gl.total + &l * cfg.pair_weight;
            Some(check("paired reconstruction", &l)?)
        } else {
            None
        };
        let g_total = check("generator", &gl.total)?;
        self.opt_g.backward_step(&gl.total);
        self.ema.update(&self.g_vs);
        Ok(StepLosses {
            d: d_losses,
            rs: rs_loss,
            g_total,
            g_adversarial: f64::try_from(&gl.adversarial)?,
            g_relation: gl.relation.as_ref().map(f64::try_from).transpose()?,
            kl: f64::try_from(&gl.kl)?,
            gradient_penalty: penalty,
            pair,
        })
    }

    fn header(&self, extra: &Value) -> Value {
        let mut h = json!({
            "kind": CHECKPOINT_KIND,
            "format": 1,
            "config": self.config,
            "position": self.position,
            "sen": { "path": self.sen.path, "sha256": self.sen.sha256,
                     "preset": self.sen.sen.config.preset },
        });
        if let (Value::Object(h), Value::Object(extra)) = (&mut h, extra.clone()) {
            h.extend(extra);
        }
        h
    }

    fn d_prefix(&self, i: usize) -> String {
        format!("d{}", self.config.image_size(i + 1))
    }

    /// Everything: networks, optimisers, EMA, position.
    pub fn checkpoint(&self, extra: &Value) -> Checkpoint {
        let mut ck = Checkpoint::new(self.header(extra));
        ck.extend(named_variables("model/g/", &self.g_vs));
        for (i, vs) in self.d_vs.iter().enumerate() {
            ck.extend(named_variables(&format!("model/{}/", self.d_prefix(i)), vs));
            ck.extend(self.opt_d[i].state(&format!("optim/{}/", self.d_prefix(i))));
        }
        ck.extend(named_variables("model/rs/", &self.rs_vs));
        ck.extend(self.opt_g.state("optim/g/"));
        ck.extend(self.opt_rs.state("optim/rs/"));
        ck.extend(
            self.ema
                .named_averages()
                .into_iter()
                .map(|(n, t)| (format!("ema/{n}"), t)),
        );
        ck
    }

    /// The EMA generator alone (EMA parameters, the live BN statistics: spec §14.18).
    pub fn generator_checkpoint(&mut self, extra: &Value) -> Checkpoint {
        let mut header = self.header(extra);
        header["kind"] = json!(GENERATOR_KIND);
        header["weights"] = json!("ema");
        let mut ck = Checkpoint::new(header);
        let g_vs = &self.g_vs;
        // named_variables gives views of the live storage: copy before the live weights return.
        let named: Vec<(String, Tensor)> = self.ema.with_averaged(g_vs, || {
            named_variables(GENERATOR_PREFIX, g_vs)
                .into_iter()
                .map(|(n, t)| (n, t.copy()))
                .collect()
        });
        ck.extend(named);
        ck
    }

    pub fn restore(&mut self, path: &Path, ck: &Checkpoint) -> Result<()> {
        check_header(path, &ck.header, CHECKPOINT_KIND, Some(&self.config))?;
        if ck.header["sen"]["sha256"] != json!(self.sen.sha256) {
            bail!(
                "{}: this run was trained with another SEN checkpoint than {}; resume with the \
                 --sen it was started with",
                path.display(),
                self.sen.path.display()
            );
        }
        ck.load_into(path, "model/g/", &self.g_vs)?;
        for (i, vs) in self.d_vs.iter().enumerate() {
            ck.load_into(path, &format!("model/{}/", self.d_prefix(i)), vs)?;
        }
        ck.load_into(path, "model/rs/", &self.rs_vs)?;
        let bad = |e: String| anyhow::anyhow!("{}: {e}", path.display());
        self.opt_g
            .load_state("optim/g/", &ck.tensors)
            .map_err(bad)?;
        self.opt_rs
            .load_state("optim/rs/", &ck.tensors)
            .map_err(bad)?;
        for i in 0..self.opt_d.len() {
            let prefix = format!("optim/{}/", self.d_prefix(i));
            self.opt_d[i]
                .load_state(&prefix, &ck.tensors)
                .map_err(bad)?;
        }
        let ema: Vec<(String, Tensor)> = ck
            .tensors
            .iter()
            .filter_map(|(n, t)| {
                n.strip_prefix("ema/")
                    .map(|n| (n.to_string(), t.to_device(self.device)))
            })
            .collect();
        self.ema.load_averages(&ema).map_err(bad)?;
        self.position = serde_json::from_value(ck.header["position"].clone())
            .with_context(|| format!("{}: the checkpoint has no position", path.display()))?;
        Ok(())
    }

    /// Generated images of every stage with the EMA weights in eval mode, c = μ (no CA noise):
    /// what sampling and the grids show.
    pub fn sample_ema(&mut self, embeddings: &Tensor, z: &Tensor) -> Vec<Tensor> {
        let (g_vs, g) = (&self.g_vs, &self.g);
        self.ema.with_averaged(g_vs, || {
            tch::no_grad(|| g.forward_t(embeddings, z, false, false).images)
        })
    }
}

/// Checks a checkpoint's kind (and config, when given; the epoch count may differ on resume).
pub fn check_header(
    path: &Path,
    header: &Value,
    kind: &str,
    expected: Option<&RdgConfig>,
) -> Result<RdgConfig> {
    if header["kind"] != kind {
        bail!(
            "{}: not an RDG {} (kind {})",
            path.display(),
            if kind == CHECKPOINT_KIND {
                "training checkpoint"
            } else {
                "generator"
            },
            header["kind"]
        );
    }
    let config: RdgConfig = serde_json::from_value(header["config"].clone())
        .with_context(|| format!("{}: unreadable RDG config", path.display()))?;
    if let Some(expected) = expected {
        let mut same = config.clone();
        same.epochs = expected.epochs;
        if &same != expected {
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

/// Runs `rdg train`, stopping cleanly on Ctrl-C.
pub fn run(args: &RdgTrainArgs) -> Result<()> {
    run_with(args, Interrupt::install()).map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Finished,
    Interrupted,
    TimeLimit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSummary {
    pub position: Position,
    pub stop: Stop,
}

/// Runs `rdg train` with the given stop flag (tests pass one they control).
pub fn run_with(args: &RdgTrainArgs, interrupt: Interrupt) -> Result<TrainSummary> {
    let config = args.config()?;
    let device = resolve_device(args.device, args.threads)?;
    let out = &args.out;
    let last = out.join(LAST);
    crate::train::run_folder::check(out, &last, args.resume)?;
    let sen = load_sen(&args.sen, device, args.inception_weights.as_deref())?;
    let mut trainer = RdgTrainer::new(&config, sen, device)?;
    let ds = load_dataset(&args.data, &config)?;
    let embeddings_path = args.embeddings_path();
    let captions = CaptionEmbeddings::load(
        &embeddings_path,
        &trainer.sen.sha256,
        config.embedding_dim,
        &ds,
        device,
    )?;
    std::fs::create_dir_all(out.join("samples"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let dataset_info = json!({
        "root": ds.root(),
        "table_hash": ds.report().table_hash,
        "train": ds.split(Split::Train).len(),
        "test": ds.split(Split::Test).len(),
    });
    let extra = json!({ "dataset": dataset_info, "embeddings": embeddings_path });

    let mut log = if args.resume {
        let ck = Checkpoint::load(&last)?;
        trainer.restore(&last, &ck)?;
        trainer.config.epochs = config.epochs;
        println!(
            "resuming {} at epoch {} step {}",
            out.display(),
            trainer.position.epoch,
            trainer.position.step_in_epoch
        );
        MetricsLog::resume(&out.join("metrics.jsonl"), trainer.position.global_step)?
    } else {
        let run = json!({
            "config": config, "dataset": dataset_info, "device": format!("{device:?}"),
            "sen": trainer.sen.path, "sen_sha256": trainer.sen.sha256,
            "embeddings": embeddings_path,
            "generator_macs": config.generator_macs(),
            "generator_params": config.generator_params(),
        });
        write_atomically(
            &out.join("run.json"),
            serde_json::to_string_pretty(&run)?.as_bytes(),
        )?;
        MetricsLog::create(&out.join("metrics.jsonl"))?
    };

    let grid_captions = GridCaptions::choose(&ds, &captions, 8, config.z_dim, device)?;
    let plan = BatchPlan::train(config.batch_size);
    let steps_per_epoch = ds.epoch_batches(Split::Train, plan, 0, 1)?.len() as u64;
    let total = steps_per_epoch * config.epochs;
    println!(
        "RDG {} on {:?}: {} stages ({}), ngf {}, ndf {}, {} train images, {} steps per epoch, {} \
         epochs, dense {}, RS {}; generator {:.1} M parameters, {:.0} MMAC per image",
        config.preset,
        device,
        config.stages,
        config
            .image_sizes()
            .iter()
            .map(|s| format!("{s}²"))
            .collect::<Vec<_>>()
            .join("→"),
        config.ngf,
        config.ndf,
        ds.split(Split::Train).len(),
        steps_per_epoch,
        config.epochs,
        if config.dense { "on" } else { "off" },
        if config.rs { "on" } else { "off" },
        config.generator_params() as f64 / 1e6,
        config.generator_macs() as f64 / 1e6,
    );
    let bar = training_bar(total, trainer.position.global_step);
    let started = Instant::now();
    let deadline = args.max_minutes.map(|m| m * 60.0);
    let cpu_budget = args.max_cpu_minutes.map(|m| m * 60.0);
    let ctx = LoopContext {
        ds: &ds,
        captions: &captions,
        grid: &grid_captions,
        out,
        extra: &extra,
        sample_every: args.sample_every.max(1),
        snapshot_every_cpu_seconds: args.snapshot_every_cpu_minutes.map(|m| m * 60.0),
    };
    let outcome = train_loop(
        &mut trainer,
        &ctx,
        &mut log,
        &bar,
        &interrupt,
        |position: &Position| {
            deadline.is_some_and(|d| started.elapsed().as_secs_f64() >= d)
                || cpu_budget.is_some_and(|b| position.cpu_seconds >= b)
        },
    );
    bar.finish_and_clear();
    let stop = outcome?;
    plot_losses(out)?;
    match stop {
        Stop::Finished => println!("finished {} epochs", config.epochs),
        Stop::Interrupted => println!(
            "interrupted: saved {} at epoch {} step {}; continue with --resume",
            last.display(),
            trainer.position.epoch,
            trainer.position.step_in_epoch
        ),
        Stop::TimeLimit => println!(
            "time limit reached after {:.1} min ({:.1} CPU minutes in all): saved {} at epoch {} \
             step {}",
            started.elapsed().as_secs_f64() / 60.0,
            trainer.position.cpu_seconds / 60.0,
            last.display(),
            trainer.position.epoch,
            trainer.position.step_in_epoch
        ),
    }
    println!(
        "generator: {}; latest samples: {}",
        out.join(GENERATOR).display(),
        out.join("samples").join("latest.png").display()
    );
    Ok(TrainSummary {
        position: trainer.position,
        stop,
    })
}

struct LoopContext<'a> {
    ds: &'a Dataset,
    captions: &'a CaptionEmbeddings,
    grid: &'a GridCaptions,
    out: &'a Path,
    extra: &'a Value,
    sample_every: u64,
    snapshot_every_cpu_seconds: Option<f64>,
}

/// Where the quality-curve snapshots of a run go.
pub const SNAPSHOTS: &str = "snapshots";

fn save_snapshot(trainer: &mut RdgTrainer, ctx: &LoopContext, minutes: u64) -> Result<()> {
    let dir = ctx.out.join(SNAPSHOTS);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("cpu_{minutes:04}.safetensors"));
    trainer
        .generator_checkpoint(ctx.extra)
        .save(&path)
        .with_context(|| format!("cannot save {}", path.display()))
}

fn save_all(trainer: &mut RdgTrainer, ctx: &LoopContext) -> Result<()> {
    trainer
        .checkpoint(ctx.extra)
        .save(&ctx.out.join(LAST))
        .with_context(|| format!("cannot save {}", ctx.out.join(LAST).display()))?;
    trainer
        .generator_checkpoint(ctx.extra)
        .save(&ctx.out.join(GENERATOR))
        .with_context(|| format!("cannot save {}", ctx.out.join(GENERATOR).display()))?;
    Ok(())
}

fn write_grid(trainer: &mut RdgTrainer, ctx: &LoopContext) -> Result<PathBuf> {
    let step = trainer.position.global_step;
    let path = ctx.out.join("samples").join(format!("step_{step:06}.png"));
    let title = format!(
        "step {step} (epoch {}), EMA generator, unseen test classes",
        trainer.position.epoch - u64::from(trainer.position.step_in_epoch == 0)
    );
    grid::write_sample_grid(trainer, ctx.grid, &title, &path)?;
    std::fs::copy(&path, ctx.out.join("samples").join("latest.png"))
        .with_context(|| format!("cannot copy {}", path.display()))?;
    Ok(path)
}

fn train_loop(
    trainer: &mut RdgTrainer,
    ctx: &LoopContext,
    log: &mut MetricsLog,
    bar: &indicatif::ProgressBar,
    interrupt: &Interrupt,
    out_of_time: impl Fn(&Position) -> bool,
) -> Result<Stop> {
    let cfg = trainer.config.clone();
    let plan = BatchPlan::train(cfg.batch_size);
    let started = Instant::now();
    let cpu_base = trainer.position.cpu_seconds - process_cpu_seconds();
    while trainer.position.epoch <= cfg.epochs {
        let epoch = trainer.position.epoch;
        let batches = ctx.ds.epoch_batches(Split::Train, plan, cfg.seed, epoch)?;
        let mut sums = [0.0f64; 3]; // D (all scales), G, count
        for (step, idx) in batches
            .iter()
            .enumerate()
            .skip(trainer.position.step_in_epoch as usize)
        {
            let l = trainer.train_step(ctx.ds, ctx.captions, idx, epoch, step as u64)?;
            let cpu_before = trainer.position.cpu_seconds;
            trainer.position.step_in_epoch = step as u64 + 1;
            trainer.position.global_step += 1;
            trainer.position.cpu_seconds = cpu_base + process_cpu_seconds();
            let gs = trainer.position.global_step;
            if let Some(every) = ctx.snapshot_every_cpu_seconds {
                let crossed =
                    (trainer.position.cpu_seconds / every).floor() > (cpu_before / every).floor();
                if crossed {
                    let minutes = (trainer.position.cpu_seconds / 60.0).round() as u64;
                    save_snapshot(trainer, ctx, minutes)?;
                }
            }
            let d_sum: f64 = l.d.iter().sum();
            sums[0] += d_sum;
            sums[1] += l.g_total;
            sums[2] += 1.0;
            let mut record = json!({
                "step": gs, "epoch": epoch, "g": l.g_total, "g_adv": l.g_adversarial,
                "kl": l.kl, "rs": l.rs, "g_rs": l.g_relation, "gp": l.gradient_penalty,
                "pair": l.pair, "cpu_s": trainer.position.cpu_seconds,
            });
            for (i, v) in l.d.iter().enumerate() {
                record[format!("d{}", cfg.image_size(i + 1))] = json!(v);
            }
            log.write(&record)?;
            bar.set_position(gs);
            bar.set_message(format!(
                "ep {epoch} D {} RS {} G {:.2} (adv {:.2} rs {} kl {:.3})",
                l.d.iter()
                    .map(|v| format!("{v:.2}"))
                    .collect::<Vec<_>>()
                    .join("/"),
                l.rs.map_or("-".into(), |v| format!("{v:.2}")),
                l.g_total,
                l.g_adversarial,
                l.g_relation.map_or("-".into(), |v| format!("{v:.2}")),
                l.kl
            ));
            if gs.is_multiple_of(ctx.sample_every) {
                write_grid(trainer, ctx)?;
            }
            let stop = if interrupt.requested() {
                Some(Stop::Interrupted)
            } else if out_of_time(&trainer.position) {
                Some(Stop::TimeLimit)
            } else {
                None
            };
            if let Some(stop) = stop {
                save_all(trainer, ctx)?;
                write_grid(trainer, ctx)?;
                return Ok(stop);
            }
        }
        if sums[2] > 0.0 {
            say(
                bar,
                format!(
                    "epoch {epoch}: D {:.3} G {:.3} [{:.1} min]",
                    sums[0] / sums[2],
                    sums[1] / sums[2],
                    started.elapsed().as_secs_f64() / 60.0
                ),
            );
        }
        trainer.position.epoch += 1;
        trainer.position.step_in_epoch = 0;
        save_all(trainer, ctx)?;
        plot_losses(ctx.out)?;
    }
    write_grid(trainer, ctx)?;
    Ok(Stop::Finished)
}

/// `loss.png`: per-epoch means of every loss, from `metrics.jsonl`.
pub fn plot_losses(out: &Path) -> Result<()> {
    let path = out.join("metrics.jsonl");
    if !path.exists() {
        return Ok(());
    }
    let lines = metrics_log::read(&path)?;
    let mut names: Vec<String> = Vec::new();
    let mut per_epoch: std::collections::BTreeMap<(String, u64), (f64, f64)> = Default::default();
    for v in &lines {
        let (Some(epoch), Some(obj)) = (v["epoch"].as_u64(), v.as_object()) else {
            continue;
        };
        for (k, x) in obj {
            if k == "step" || k == "epoch" {
                continue;
            }
            let Some(x) = x.as_f64() else { continue };
            if !names.contains(k) {
                names.push(k.clone());
            }
            let e = per_epoch.entry((k.clone(), epoch)).or_default();
            e.0 += x;
            e.1 += 1.0;
        }
    }
    let label = |k: &str| match k {
        "g" => "G total".to_string(),
        "g_adv" => "G adversarial".into(),
        "g_rs" => "G relation".into(),
        "kl" => "KL".into(),
        "gp" => "gradient penalty".into(),
        "pair" => "paired L1".into(),
        "rs" => "RS".into(),
        d => d.to_uppercase(),
    };
    let series = names
        .iter()
        .filter(|k| k.as_str() != "cpu_s")
        .map(|k| Series {
            name: label(k),
            points: per_epoch
                .iter()
                .filter(|((n, _), _)| n == k)
                .map(|((_, e), (s, c))| (*e as f64, s / c))
                .collect(),
        })
        .collect();
    LineChart {
        title: "RDG training losses (epoch means)".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        series,
        log_y: false,
    }
    .write_png(&out.join("loss.png"), 900, 520)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_seeds_differ_and_repeat() {
        assert_eq!(step_seed(200, 5), step_seed(200, 5));
        assert_ne!(step_seed(200, 5), step_seed(200, 6));
        assert_ne!(step_seed(200, 5), step_seed(201, 5));
        assert!(step_seed(7, u64::MAX) >= 0);
    }

    #[test]
    fn image_options_follow_the_stages() {
        let mut c = RdgConfig::edge();
        let o = image_options(&c);
        assert_eq!((o.crop_size, o.load_size), (128, 152));
        assert_eq!(o.pyramid, [64, 128]);
        c.stages = 3;
        assert_eq!(image_options(&c).pyramid, [64, 128, 256]);
    }

    #[test]
    fn ablation_flags_reach_the_config() {
        let mut a = RdgTrainArgs::new("d", "s", "o");
        assert!(a.config().unwrap().dense && a.config().unwrap().rs);
        a.no_dense = true;
        a.no_rs = true;
        a.ngf = Some(8);
        let c = a.config().unwrap();
        assert!(!c.dense && !c.rs);
        assert_eq!(c.ngf, 8);
        a.stages = Some(4);
        assert!(a.config().unwrap_err().to_string().contains("stages"));
    }
}
