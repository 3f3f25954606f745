//! `s2i-host rdg eval`: what the generator makes for the **test** split's spoken captions
//! (classes it never saw), measured against two references taken the same way: real test
//! images (the ceiling) and images generated from shuffled embeddings (the floor: right
//! pictures of the wrong captions).
//!
//! * The paper's S2IGAN mAP (§10.1): per test class two real query images; the gallery is the
//!   images generated from every caption of those images; relevant = same class. Features are
//!   the SEN's image encoder (and Inception-v3 when `--inception-weights` is given).
//! * On synthetic sets: the attribute probe's per-attribute accuracy on generated images against
//!   the caption's true attributes, and a Fréchet distance in the probe's feature space.
//! * With Inception weights: FID against the real test images and the Inception Score.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use tch::{Device, Kind, Tensor};

use crate::data::{Augment, Dataset, Split};
use crate::export::generator::ConditionMode;
use crate::export::recalibrate::{recalibrate_from_captions, CALIBRATION_BATCHES};
use crate::rdg::captions::CaptionEmbeddings;
use crate::rdg::grid::{caption_label, gaussian, to_rgb_images, write_stage_grid, GridCaptions};
use crate::rdg::load::{BnStatistics, LoadedGenerator};
use crate::rdg::sample::matching_sen;
use crate::rdg::trainer::load_dataset;
use crate::report::{GridRow, ImageGrid};
use crate::sen::inception::InceptionFeatures;
use crate::sen::retrieval::average_precision;
use crate::train::{resolve_device, DeviceChoice};

use super::frechet::frechet_distance;
use super::presence::{Presence, PRESENCE_FILE};
use super::probe::{accuracy, image_batch, LoadedProbe};

const BATCH: usize = 50;
/// Query images per test class (spec §10.1).
const QUERIES_PER_CLASS: usize = 2;

#[derive(Debug, Clone, clap::Args)]
pub struct GanEvalArgs {
    /// RDG run folder (its generator.safetensors) or generator file.
    #[arg(long)]
    pub rdg: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    /// The attribute probe (`s2i-host probe train`) for attribute accuracy and probe Fréchet.
    #[arg(long)]
    pub probe: Option<PathBuf>,
    /// Inception-v3 weights: Inception mAP, FID and IS.
    #[arg(long)]
    pub inception_weights: Option<PathBuf>,
    /// The SEN (default: the one the generator was trained with).
    #[arg(long)]
    pub sen: Option<PathBuf>,
    /// Caption embeddings (default: the file the generator was trained on).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// JSON report (default: <run>/eval_test.json); a picture goes beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of z (one per image, shared by its captions, spec §9) and of the shuffle.
    #[arg(long, default_value_t = 100)]
    pub seed: u64,
    /// The generator's BN statistics: `running` (training's averages, the paper's test mode) or
    /// `batch` (each batch of 50 mixed test captions, as in training).
    #[arg(long, value_enum, default_value_t = BnStatistics::Running)]
    pub bn: BnStatistics,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub threads: Option<usize>,
}

/// A figure for the generated images beside its floor and ceiling.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Compared {
    pub generated: f64,
    /// Generated from shuffled embeddings.
    pub floor: f64,
    /// Real test images.
    pub ceiling: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GanReport {
    pub split: String,
    /// Where the generator's BN statistics came from (`running` or `batch`).
    pub bn_statistics: String,
    pub test_classes: usize,
    pub test_images: usize,
    pub generated_images: usize,
    pub image_size: i64,
    /// S2IGAN mAP with the SEN's image encoder; chance is the mAP of a random ranking.
    pub ied_map: Compared,
    pub map_chance: f64,
    pub map_queries: usize,
    pub inception_map: Option<Compared>,
    /// Per attribute (probe on synthetic sets), over every caption.
    pub attribute_accuracy: BTreeMap<String, Compared>,
    /// Per attribute, over only the captions that name it: a caption that never mentions the
    /// wings cannot decide their colour. The quality targets use this figure.
    pub attribute_accuracy_named: BTreeMap<String, Compared>,
    /// Captions naming each attribute, of `generated_images`.
    pub captions_naming: BTreeMap<String, usize>,
    /// Probe-feature Fréchet distance to one half of the real test images (every class split
    /// between the halves), each set as large as the other half: generated and shuffled-caption
    /// images of that other half's items, and the other half itself (real vs real, the best a
    /// generator can do at this sample size).
    pub probe_frechet: Option<Compared>,
    /// Images per set in the Fréchet comparison.
    pub frechet_set_size: Option<usize>,
    /// Share of images the presence classifier calls "bird": generated for the test captions,
    /// drawn backgrounds and blobs (floor), real test images (ceiling).
    pub bird_present: Option<Compared>,
    pub fid: Option<f64>,
    pub inception_score: Option<(f64, f64)>,
    /// Why a figure is missing.
    pub unavailable: Vec<String>,
}

/// What is measured on every image set.
struct Measures {
    sen_images: crate::sen::load::LoadedSen,
    probe: Option<LoadedProbe>,
    presence: Option<Presence>,
    inception: Option<InceptionFeatures>,
    inception_classifier: Option<(Tensor, Tensor)>,
}

#[derive(Default)]
struct Measured {
    ied: Vec<Tensor>,
    probe_pred: Vec<Vec<Tensor>>,
    probe_feat: Vec<Tensor>,
    /// Images the presence classifier called "bird", per batch.
    present: Vec<f64>,
    inception: Vec<Tensor>,
    inception_probs: Vec<Tensor>,
}

impl Measured {
    fn add(&mut self, m: &Measures, images: &Tensor) {
        tch::no_grad(|| {
            self.ied.push(
                m.sen_images
                    .sen
                    .image
                    .forward_t(images, false)
                    .to_device(Device::Cpu),
            );
            if let Some(p) = &m.probe {
                self.probe_pred.push(p.predict(images));
                self.probe_feat.push(p.features(images));
            }
            if let Some(p) = &m.presence {
                self.present.push(p.rate(images) * images.size()[0] as f64);
            }
            if let Some(inc) = &m.inception {
                let f = inc.forward(images);
                if let Some((w, b)) = &m.inception_classifier {
                    self.inception_probs.push(
                        f.linear(w, Some(b))
                            .softmax(-1, Kind::Float)
                            .to_device(Device::Cpu),
                    );
                }
                self.inception.push(f.to_device(Device::Cpu));
            }
        });
    }

    /// Share of the images called "bird".
    fn presence_rate(&self, images: usize) -> f64 {
        self.present.iter().sum::<f64>() / images.max(1) as f64
    }

    fn ied(&self) -> Tensor {
        Tensor::cat(&self.ied, 0)
    }

    fn predictions(&self) -> Vec<Tensor> {
        if self.probe_pred.is_empty() {
            return Vec::new();
        }
        (0..self.probe_pred[0].len())
            .map(|a| {
                Tensor::cat(
                    &self
                        .probe_pred
                        .iter()
                        .map(|p| p[a].shallow_clone())
                        .collect::<Vec<_>>(),
                    0,
                )
            })
            .collect()
    }
}

/// One generated image per (test item, caption): rows in this order.
struct Rows {
    items: Vec<i64>,
    captions: Vec<i64>,
}

fn test_rows(ds: &Dataset) -> Rows {
    let mut items = Vec::new();
    let mut captions = Vec::new();
    for &i in ds.split(Split::Test) {
        for k in 0..ds.item(i).captions.len() {
            items.push(i as i64);
            captions.push(k as i64);
        }
    }
    Rows { items, captions }
}

/// `[rows, A]` true where the row's caption names attribute `a`. Synthetic sets record the
/// fields each caption names; for older sets the caption's text is searched for the value's word,
/// which can also count a colour that the caption gives to another part.
fn naming_mask(ds: &Dataset, rows: &Rows, names: &[String]) -> Tensor {
    let flat: Vec<bool> = rows
        .items
        .iter()
        .zip(&rows.captions)
        .flat_map(|(&item, &k)| {
            let attrs = ds.item(item as usize).attributes.as_ref();
            let caption = attrs.map(|a| &a["captions"][k as usize]);
            names.iter().map(move |name| {
                let Some(caption) = caption else {
                    return false;
                };
                if let Some(listed) = caption["names"].as_array() {
                    return listed.iter().any(|n| n.as_str() == Some(name));
                }
                let value = attrs.and_then(|a| a["species"][name.as_str()].as_str());
                let text = caption["text"].as_str().unwrap_or("");
                value.is_some_and(|v| {
                    text.split(|c: char| !c.is_alphanumeric())
                        .any(|w| w.eq_ignore_ascii_case(v))
                })
            })
        })
        .collect();
    Tensor::from_slice(&flat).view([rows.items.len() as i64, names.len() as i64])
}

/// The real test images split in two halves with every class in both (alternating within each
/// class), so a Fréchet distance compares sets of equal size: the distance's bias grows as the
/// sets shrink, and comparing 2 000 generated images with all real ones against two halves of the
/// real ones put real images further from real than generated ones.
struct FrechetHalves {
    /// Positions in `test_items` of the reference half.
    reference: Vec<i64>,
    /// Positions in `test_items` of the other half (the real side of real vs real).
    other: Vec<i64>,
    /// Rows of the generated set for the other half's items, one caption per item.
    other_rows: Vec<i64>,
}

/// Positions in `items` of two halves of equal size with every class in both: alternate items
/// of each class go to the first (reference) and the second half; the reference half is cut to
/// the other's length.
pub fn equal_halves(ds: &Dataset, items: &[usize]) -> (Vec<i64>, Vec<i64>) {
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let (mut reference, mut other) = (Vec::new(), Vec::new());
    for (pos, &item) in items.iter().enumerate() {
        let n = seen.entry(ds.item(item).class_id).or_default();
        *n += 1;
        if *n % 2 == 1 {
            reference.push(pos as i64);
        } else {
            other.push(pos as i64);
        }
    }
    reference.truncate(other.len());
    (reference, other)
}

impl FrechetHalves {
    fn new(ds: &Dataset, test_items: &[usize], rows: &Rows) -> Self {
        let (reference, other) = equal_halves(ds, test_items);
        // One caption per item, turning through the captions so all kinds appear.
        let other_rows = other
            .iter()
            .enumerate()
            .map(|(k, &pos)| {
                let item = test_items[pos as usize];
                let want = (k % ds.item(item).captions.len().max(1)) as i64;
                (0..rows.items.len())
                    .find(|&r| rows.items[r] as usize == item && rows.captions[r] == want)
                    .expect("every test item has a row per caption") as i64
            })
            .collect();
        Self {
            reference,
            other,
            other_rows,
        }
    }

    fn size(&self) -> usize {
        self.other.len()
    }

    fn compare(&self, generated: &Tensor, floor: &Tensor, real: &Tensor) -> Result<Compared> {
        let pick = |t: &Tensor, at: &[i64]| t.index_select(0, &Tensor::from_slice(at));
        let reference = pick(real, &self.reference);
        Ok(Compared {
            generated: frechet_distance(&pick(generated, &self.other_rows), &reference)?,
            floor: frechet_distance(&pick(floor, &self.other_rows), &reference)?,
            ceiling: frechet_distance(&pick(real, &self.other), &reference)?,
        })
    }
}

/// The paper's image-to-image mAP: cosine similarity of L2-normalised features.
pub fn retrieval_map(
    queries: &Tensor,
    query_classes: &[usize],
    gallery: &Tensor,
    gallery_classes: &[usize],
) -> f64 {
    let norm = |t: &Tensor| {
        let t = t.to_kind(Kind::Double) + 1e-10;
        &t / t.norm_scalaropt_dim(2.0, [-1].as_slice(), true)
    };
    let sims = norm(queries).matmul(&norm(gallery).transpose(0, 1));
    let order = sims.argsort(-1, true);
    let order: Vec<Vec<i64>> = Vec::<Vec<i64>>::try_from(&order).expect("2-D ranking");
    let aps: Vec<f64> = order
        .iter()
        .zip(query_classes)
        .map(|(ranked, &c)| {
            let rel: Vec<bool> = ranked
                .iter()
                .map(|&g| gallery_classes[g as usize] == c)
                .collect();
            average_precision(&rel)
        })
        .collect();
    aps.iter().sum::<f64>() / aps.len().max(1) as f64
}

/// Expected mAP of a random ranking, by simulation (seeded).
fn chance_map(query_classes: &[usize], gallery_classes: &[usize], rounds: usize) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut total = 0.0;
    let mut order: Vec<usize> = (0..gallery_classes.len()).collect();
    for _ in 0..rounds {
        for &c in query_classes {
            order.shuffle(&mut rng);
            let rel: Vec<bool> = order.iter().map(|&g| gallery_classes[g] == c).collect();
            total += average_precision(&rel);
        }
    }
    total / (rounds * query_classes.len()).max(1) as f64
}

/// Inception Score over `splits` equal parts: exp(E[KL(p(y|x) ‖ p(y))]), mean and std.
pub fn inception_score(probs: &Tensor, splits: i64) -> (f64, f64) {
    let probs = probs.to_kind(Kind::Double);
    let n = probs.size()[0];
    let splits = splits.clamp(1, n.max(1));
    let scores: Vec<f64> = (0..splits)
        .map(|s| {
            let part = probs.narrow(0, s * n / splits, (s + 1) * n / splits - s * n / splits);
            let py = part.mean_dim([0].as_slice(), true, Kind::Double);
            let kl = (&part * ((&part + 1e-12).log() - (py + 1e-12).log()))
                .sum_dim_intlist([1].as_slice(), false, Kind::Double)
                .mean(Kind::Double);
            kl.double_value(&[]).exp()
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / scores.len() as f64;
    (mean, var.sqrt())
}

fn first_of_each_class(ds: &Dataset, per_class: usize) -> Vec<usize> {
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    ds.split(Split::Test)
        .iter()
        .copied()
        .filter(|&i| {
            let c = count.entry(ds.item(i).class_id).or_default();
            *c += 1;
            *c <= per_class
        })
        .collect()
}

pub fn run(args: &GanEvalArgs) -> Result<GanReport> {
    let device = resolve_device(args.device, args.threads)?;
    let generator = LoadedGenerator::load(&args.rdg, device)?;
    let sen = matching_sen(&generator, args.sen.as_deref(), device, None)?;
    let ds = load_dataset(&args.data, &generator.config)?;
    if ds.split(Split::Test).is_empty() {
        bail!("{}: the test split is empty", args.data.display());
    }
    let embeddings_path = match (&args.embeddings, generator.header["embeddings"].as_str()) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => bail!(
            "{}: the generator does not record its embeddings file; pass --embeddings",
            generator.path.display()
        ),
    };
    let captions = CaptionEmbeddings::load(
        &embeddings_path,
        &sen.sha256,
        generator.config.embedding_dim,
        &ds,
        device,
    )?;
    if args.bn == BnStatistics::Recalibrated {
        recalibrate_from_captions(
            &generator.vs,
            &generator.g,
            &captions,
            ds.split(Split::Train),
            CALIBRATION_BATCHES,
            ConditionMode::Mean,
            args.seed as i64,
        );
    }
    let probe = args
        .probe
        .as_deref()
        .map(|p| LoadedProbe::load(p, device))
        .transpose()?;
    let (inception, inception_classifier) = match &args.inception_weights {
        Some(w) => {
            let inc = InceptionFeatures::load(w, device)?;
            let cls = InceptionFeatures::classifier(w, device)?;
            (Some(inc), cls)
        }
        None => (None, None),
    };
    let presence = match &args.probe {
        Some(p) => {
            let dir = if p.is_dir() {
                p.as_path()
            } else {
                p.parent().unwrap_or(Path::new("."))
            };
            let file = dir.join(PRESENCE_FILE);
            file.is_file()
                .then(|| Presence::load(&file, device).map(|pr| (pr, file)))
                .transpose()?
        }
        None => None,
    };
    let presence_floor = presence
        .as_ref()
        .and_then(|(_, f)| crate::train::Checkpoint::load(f).ok())
        .and_then(|ck| ck.header["report"]["negative_rate"].as_f64());
    let measures = Measures {
        sen_images: sen,
        probe,
        presence: presence.map(|(p, _)| p),
        inception,
        inception_classifier,
    };

    let rows = test_rows(&ds);
    let n = rows.items.len();
    // One z per test image, shared by its captions (spec §9).
    let z_dim = generator.config.z_dim;
    let z_table = Tensor::from_slice(&gaussian(ds.items().len() * z_dim as usize, args.seed))
        .view([ds.items().len() as i64, z_dim])
        .to_device(device);
    let mut shuffled: Vec<usize> = (0..n).collect();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(args.seed));

    let bar = crate::train::progress::training_bar(2 * n as u64, 0);
    bar.set_message("generating for test captions and shuffled captions");
    let mut generated = Measured::default();
    let mut floor = Measured::default();
    let mut keep_for_picture: Vec<(usize, Tensor, Tensor)> = Vec::new();
    let picture_rows: Vec<usize> = first_of_each_class(&ds, 1)
        .iter()
        .filter_map(|&item| {
            (0..n).find(|&r| rows.items[r] as usize == item && rows.captions[r] == 0)
        })
        .take(8)
        .collect();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let z = z_table.index_select(
            0,
            &Tensor::from_slice(&rows.items[start..end]).to_device(device),
        );
        let own = captions.rows(&rows.items[start..end], &rows.captions[start..end]);
        let (si, sc): (Vec<i64>, Vec<i64>) = (start..end)
            .map(|r| (rows.items[shuffled[r]], rows.captions[shuffled[r]]))
            .unzip();
        let other = captions.rows(&si, &sc);
        let img = generator.generate_with(&own, &z, args.bn).pop().unwrap();
        let img_floor = generator.generate_with(&other, &z, args.bn).pop().unwrap();
        generated.add(&measures, &img);
        floor.add(&measures, &img_floor);
        for &r in picture_rows.iter().filter(|&&r| (start..end).contains(&r)) {
            let k = (r - start) as i64;
            keep_for_picture.push((r, img.get(k), img_floor.get(k)));
        }
        bar.inc(2 * (end - start) as u64);
    }
    bar.finish_and_clear();

    // Real test images, one per item (every caption of an item has the same true attributes and
    // the same real picture, so per-item figures equal per-caption ones).
    let test_items: Vec<usize> = ds.split(Split::Test).to_vec();
    let mut real = Measured::default();
    for chunk in test_items.chunks(BATCH) {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let images = image_batch(&ds, chunk, Augment::Deterministic, &mut rng)?.to_device(device);
        real.add(&measures, &images);
    }

    let class_of = |i: usize| ds.item(i).class_id;
    let mut unavailable = Vec::new();

    // S2IGAN mAP: queries are real, the gallery the images of those queries' captions.
    let queries = first_of_each_class(&ds, QUERIES_PER_CLASS);
    let query_pos: Vec<i64> = queries
        .iter()
        .map(|q| test_items.iter().position(|i| i == q).unwrap() as i64)
        .collect();
    let query_classes: Vec<usize> = queries.iter().map(|&q| class_of(q)).collect();
    let gallery_rows: Vec<i64> = (0..n)
        .filter(|&r| queries.contains(&(rows.items[r] as usize)))
        .map(|r| r as i64)
        .collect();
    let gallery_classes: Vec<usize> = gallery_rows
        .iter()
        .map(|&r| class_of(rows.items[r as usize] as usize))
        .collect();
    // The ceiling's gallery: as many real images per query as it has captions, from the other
    // test images of its class.
    let per_query = gallery_rows.len() / queries.len().max(1);
    let mut ceiling_pos = Vec::new();
    let query_class_set: std::collections::BTreeSet<usize> =
        query_classes.iter().copied().collect();
    for &c in &query_class_set {
        let queries_of_class = query_classes.iter().filter(|&&q| q == c).count();
        let others: Vec<i64> = test_items
            .iter()
            .enumerate()
            .filter(|(_, &i)| class_of(i) == c && !queries.contains(&i))
            .map(|(p, _)| p as i64)
            .take(per_query * queries_of_class)
            .collect();
        ceiling_pos.extend(others);
    }
    let ceiling_classes: Vec<usize> = ceiling_pos
        .iter()
        .map(|&p| class_of(test_items[p as usize]))
        .collect();
    let idx = |v: &[i64]| Tensor::from_slice(v);
    let map_with = |gen: &Tensor, flo: &Tensor, rea: &Tensor| Compared {
        generated: retrieval_map(
            &rea.index_select(0, &idx(&query_pos)),
            &query_classes,
            &gen.index_select(0, &idx(&gallery_rows)),
            &gallery_classes,
        ),
        floor: retrieval_map(
            &rea.index_select(0, &idx(&query_pos)),
            &query_classes,
            &flo.index_select(0, &idx(&gallery_rows)),
            &gallery_classes,
        ),
        ceiling: retrieval_map(
            &rea.index_select(0, &idx(&query_pos)),
            &query_classes,
            &rea.index_select(0, &idx(&ceiling_pos)),
            &ceiling_classes,
        ),
    };
    let ied_map = map_with(&generated.ied(), &floor.ied(), &real.ied());
    let map_chance = chance_map(&query_classes, &gallery_classes, 200);
    let inception_map = if measures.inception.is_some() {
        let cat = |m: &Measured| Tensor::cat(&m.inception, 0);
        Some(map_with(&cat(&generated), &cat(&floor), &cat(&real)))
    } else {
        unavailable.push(
            "Inception mAP, FID and IS: no --inception-weights given (torchvision's \
             inception_v3_google converted for tch)"
                .into(),
        );
        None
    };

    let mut attribute_accuracy = BTreeMap::new();
    let mut attribute_accuracy_named = BTreeMap::new();
    let mut captions_naming = BTreeMap::new();
    let mut probe_frechet = None;
    let mut frechet_set_size = None;
    if let Some(p) = &measures.probe {
        let row_items: Vec<usize> = rows.items.iter().map(|&i| i as usize).collect();
        let labels_rows = p.schema.labels(&ds, &row_items);
        let labels_real = p.schema.labels(&ds, &test_items);
        let named = naming_mask(&ds, &rows, &p.schema.names);
        let labels_named = labels_rows.where_self(&named, &labels_rows.full_like(-1));
        let acc_real = accuracy(&real.predictions(), &labels_real);
        for (labels, table) in [
            (&labels_rows, &mut attribute_accuracy),
            (&labels_named, &mut attribute_accuracy_named),
        ] {
            let acc_gen = accuracy(&generated.predictions(), labels);
            let acc_floor = accuracy(&floor.predictions(), labels);
            for (a, name) in p.schema.names.iter().enumerate() {
                if let (Some(g), Some(f), Some(c)) = (acc_gen[a], acc_floor[a], acc_real[a]) {
                    table.insert(
                        name.clone(),
                        Compared {
                            generated: g,
                            floor: f,
                            ceiling: c,
                        },
                    );
                }
            }
        }
        for (a, name) in p.schema.names.iter().enumerate() {
            let count = named.select(1, a as i64).sum(Kind::Int64).int64_value(&[]);
            captions_naming.insert(name.clone(), count as usize);
        }
        let halves = FrechetHalves::new(&ds, &test_items, &rows);
        let feats = |m: &Measured| Tensor::cat(&m.probe_feat, 0);
        let real_feat = feats(&real);
        probe_frechet = Some(halves.compare(&feats(&generated), &feats(&floor), &real_feat)?);
        frechet_set_size = Some(halves.size());
    } else {
        unavailable.push(
            "attribute accuracy and probe Fréchet distance: no --probe given (s2i-host probe \
             train, synthetic sets only)"
                .into(),
        );
    }

    let bird_present = if measures.presence.is_some() {
        Some(Compared {
            generated: generated.presence_rate(n),
            floor: presence_floor.unwrap_or(f64::NAN),
            ceiling: real.presence_rate(test_items.len()),
        })
    } else {
        unavailable.push(
            "bird present: no presence.safetensors beside the probe (retrain it with \
             `s2i-host probe train`)"
                .into(),
        );
        None
    };

    let fid = if measures.inception.is_some() {
        Some(frechet_distance(
            &Tensor::cat(&generated.inception, 0),
            &Tensor::cat(&real.inception, 0),
        )?)
    } else {
        None
    };
    let inception_score = if !generated.inception_probs.is_empty() {
        Some(inception_score(
            &Tensor::cat(&generated.inception_probs, 0),
            10,
        ))
    } else {
        if measures.inception.is_some() {
            unavailable.push("IS: the Inception weights file has no 1000-class `fc` head".into());
        }
        None
    };

    let classes: std::collections::BTreeSet<usize> =
        test_items.iter().map(|&i| class_of(i)).collect();
    let report = GanReport {
        split: "test".into(),
        bn_statistics: format!("{:?}", args.bn).to_lowercase(),
        test_classes: classes.len(),
        test_images: test_items.len(),
        generated_images: n,
        image_size: *generator.config.image_sizes().last().unwrap(),
        ied_map,
        map_chance,
        map_queries: queries.len(),
        inception_map,
        attribute_accuracy,
        attribute_accuracy_named,
        captions_naming,
        probe_frechet,
        frechet_set_size,
        bird_present,
        fid,
        inception_score,
        unavailable,
    };

    let out = args.out.clone().unwrap_or_else(|| {
        generator
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("eval_test.json")
    });
    let json = json!({
        "report": report,
        "generator": generator.path,
        "generator_config": generator.config,
        "data": ds.root(),
        "probe": args.probe,
        "seed": args.seed,
        "bn_statistics": format!("{:?}", args.bn).to_lowercase(),
    });
    crate::train::checkpoint::write_atomically(
        &out,
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
    .with_context(|| format!("cannot write {}", out.display()))?;
    print!("{}", table(&report));
    println!("wrote {}", out.display());

    // A picture: each test class's first caption, generated, from a shuffled caption, and real.
    keep_for_picture.sort_by_key(|k| picture_rows.iter().position(|&r| r == k.0));
    let mut grid_rows = Vec::new();
    for (r, gen, flo) in &keep_for_picture {
        let item = rows.items[*r] as usize;
        let real_img = ds.crop_image(
            item,
            Augment::Deterministic,
            &mut ChaCha8Rng::seed_from_u64(0),
        )?;
        let pair = to_rgb_images(&Tensor::stack(&[gen, flo], 0))?;
        grid_rows.push(GridRow {
            label: caption_label(&ds, item, 0),
            images: vec![pair[0].clone(), pair[1].clone(), real_img],
        });
    }
    if !grid_rows.is_empty() {
        let picture = out.with_extension("png");
        ImageGrid {
            title: "test captions: generated / from a shuffled caption / real".into(),
            column_titles: vec!["generated".into(), "shuffled".into(), "real".into()],
            rows: grid_rows,
            cell: report.image_size as u32,
            label_chars: 28,
        }
        .write_png(&picture)?;
        println!("wrote {}", picture.display());
    }

    // The training-style grid (8 test captions × every stage × real), drawn as evaluated.
    let grid_captions = GridCaptions::choose(&ds, &captions, 8, z_dim, device)?;
    let stages = generator.generate_with(&grid_captions.embeddings, &grid_captions.z, args.bn);
    let grid_path = out.with_file_name(format!(
        "{}_stages.png",
        out.file_stem().and_then(|s| s.to_str()).unwrap_or("eval")
    ));
    let title = format!(
        "{}, BN statistics: {}, unseen test classes",
        generator.path.display(),
        format!("{:?}", args.bn).to_lowercase()
    );
    write_stage_grid(&stages, &grid_captions, &title, &grid_path)?;
    println!("wrote {}", grid_path.display());
    Ok(report)
}

/// The printed summary.
pub fn table(r: &GanReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "RDG on {} unseen test classes, {} images, {} generated ({}², BN statistics: {})",
        r.test_classes, r.test_images, r.generated_images, r.image_size, r.bn_statistics
    );
    let _ = writeln!(
        s,
        "{:<22} {:>10} {:>10} {:>10} {:>9}",
        "figure", "generated", "floor", "ceiling", "gen/floor"
    );
    let line = |s: &mut String, name: &str, c: &Compared| {
        let _ = writeln!(
            s,
            "{:<22} {:>10.4} {:>10.4} {:>10.4} {:>8.2}×",
            name,
            c.generated,
            c.floor,
            c.ceiling,
            c.generated / c.floor.max(1e-12)
        );
    };
    line(
        &mut s,
        &format!("mAP (IED, {} q)", r.map_queries),
        &r.ied_map,
    );
    let _ = writeln!(s, "{:<22} {:>10.4}", "  mAP chance", r.map_chance);
    if let Some(m) = &r.inception_map {
        line(&mut s, "mAP (Inception)", m);
    }
    for (name, c) in &r.attribute_accuracy {
        line(&mut s, &format!("accuracy: {name}"), c);
    }
    for (name, c) in &r.attribute_accuracy_named {
        let n = r.captions_naming.get(name).copied().unwrap_or(0);
        line(&mut s, &format!("named ({n}): {name}"), c);
    }
    if let Some(f) = &r.probe_frechet {
        let _ = writeln!(
            s,
            "{:<22} {:>10.3} {:>10.3} {:>10.3}   (lower is better; ceiling = real vs real; {} \
             images per set)",
            "Fréchet (probe)",
            f.generated,
            f.floor,
            f.ceiling,
            r.frechet_set_size.unwrap_or(0)
        );
    }
    if let Some(b) = &r.bird_present {
        line(&mut s, "bird present", b);
    }
    if let Some(fid) = r.fid {
        let _ = writeln!(s, "{:<22} {:>10.2}", "FID (Inception)", fid);
    }
    if let Some((m, sd)) = r.inception_score {
        let _ = writeln!(s, "{:<22} {:>10.2} ± {:.2}", "IS", m, sd);
    }
    for u in &r.unavailable {
        let _ = writeln!(s, "unavailable: {u}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrieval_map_of_a_perfect_and_a_reversed_gallery() {
        let q = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let g = Tensor::from_slice(&[1.0f32, 0.1, 0.9, 0.0, 0.0, 1.0, 0.1, 0.9]).view([4, 2]);
        assert!((retrieval_map(&q, &[0, 1], &g, &[0, 0, 1, 1]) - 1.0).abs() < 1e-12);
        // Gallery classes swapped: the two relevant items rank 3rd and 4th → AP = (1/3 + 2/4)/2.
        let ap = (1.0 / 3.0 + 2.0 / 4.0) / 2.0;
        assert!((retrieval_map(&q, &[0, 1], &g, &[1, 1, 0, 0]) - ap).abs() < 1e-12);
        let chance = chance_map(&[0, 1], &[0, 0, 1, 1], 2000);
        assert!(chance > 0.5 && chance < 0.85, "{chance}");
    }

    #[test]
    fn inception_score_of_confident_and_uniform_predictions() {
        // Ten images, each certain of its own class: IS = number of classes.
        let confident = Tensor::eye(10, (Kind::Float, Device::Cpu));
        let (m, _) = inception_score(&confident, 1);
        assert!((m - 10.0).abs() < 1e-6, "{m}");
        // Every image undecided: IS = 1.
        let uniform = Tensor::full([10, 4], 0.25, (Kind::Float, Device::Cpu));
        let (m, sd) = inception_score(&uniform, 2);
        assert!((m - 1.0).abs() < 1e-9 && sd < 1e-9);
    }
}
