//! The `Dataset` the SEN and RDG trainers draw from: items (an image, its spoken captions, a
//! class), train/val/test splits, per-draw caption choice, image preprocessing, batching into tch
//! tensors, and the wrong-image and same-class-image draws of spec §7–§8.
//!
//! **Splits.** The official layout's test list is the test split. Validation is carved from the
//! training list: by default a fraction of each training class's images (`SplitBy::Image`), so
//! the SEN's classifier still covers every training class and a museum collection with few
//! classes keeps all of them; `SplitBy::Class` holds out whole classes instead (closer to CUB's
//! unseen-class test). The paper picked checkpoints on the test split (spec §14.8); a carved
//! validation split avoids that leak. A collection manifest has no official test list, so test is
//! carved the same way. Which items land where depends only on the seed and each item's key (a
//! hash order), so adding items to a collection moves few others. Every class keeps at least
//! two training images where it has two (one where it has one), so same-class draws work.
//!
//! **Class ids.** Classes with training images come first, in sorted order (official ids
//! numerically, manifest labels as text), as the paper re-indexes CUB's 150 training classes to
//! 0…149; the other classes follow, also sorted. Flickr/Places-style sets without
//! `class_info.pickle` give each image its own class and `has_classes()` is false.
//!
//! **Randomness.** Nothing draws from a global RNG: the epoch order comes from
//! `(seed, epoch)` and each batch's draws from [`batch_rng`]`(seed, epoch, step)`, so a run
//! resumed at (epoch, step) sees exactly the batches it would have seen.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use s2i_shared::frontend::{Features, Frontend, FrontendConfig};
use sha2::{Digest, Sha256};
use tch::Tensor;

use super::error::{BadItem, BadItems, DataError};
use super::feature_cache::{read_features, CacheStats, FeatureCache, DEFAULT_CACHE_DIR};
use super::image_pipeline::{self, Augment, BBox, ImageOptions};
use super::{collection, official};

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How held-out items are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SplitBy {
    /// A fraction of each class's images (the default; right for collections with few classes).
    #[default]
    Image,
    /// A fraction of whole classes.
    Class,
}

/// Split sizes and the seed that picks the members.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitOptions {
    pub by: SplitBy,
    /// Share of the training images (or classes) held out for validation.
    pub val_fraction: f64,
    /// Share held out for test; collections only (the official layout has a test list).
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            by: SplitBy::Image,
            val_fraction: 0.1,
            test_fraction: 0.2,
            seed: 200,
        }
    }
}

/// How a dataset is loaded. The default: stop at the first bad item, cache under the dataset,
/// the product front end, the paper's image sizes, 10 % validation per class.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Skip and report bad items (missing or unreadable files, rejected wavs, bad rows) instead
    /// of stopping at the first.
    pub skip_bad: bool,
    /// Feature cache root; default `<dataset root>/.s2i-cache`.
    pub cache_dir: Option<PathBuf>,
    pub frontend: FrontendConfig,
    pub image: ImageOptions,
    pub split: SplitOptions,
    /// Decode every image (crop and resize included) at load and keep it in memory: epochs skip
    /// the JPEG decode, and a damaged image is found at load, not mid-training (small sets).
    pub keep_images_in_memory: bool,
    /// Read every caption's features into memory at load instead of per batch from the cache.
    pub keep_features_in_memory: bool,
    /// Require two training images in every class (relation-supervisor training draws a second
    /// image of the same class); a class with one is an error, or skipped with `skip_bad`.
    pub require_same_class_pairs: bool,
    /// Show a progress bar while features are computed.
    pub progress: bool,
}

/// Which layout a dataset was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The official S2IGAN layout; `img_root` holds `images/` and `audio/`.
    Official { img_root: PathBuf },
    /// A CSV or JSONL collection manifest.
    Collection { manifest: PathBuf },
}

#[derive(Debug, Clone)]
pub(crate) enum RawClass {
    /// `class_info.pickle` id, with a readable label.
    Id { id: i64, label: String },
    /// A manifest's text label.
    Label(String),
    /// No class list: the image is its own class.
    OwnImage,
}

#[derive(Debug, Clone)]
pub(crate) struct RawItem {
    pub key: String,
    pub image: PathBuf,
    pub wavs: Vec<PathBuf>,
    pub class: RawClass,
    pub split: Option<Split>,
    pub bbox: Option<BBox>,
    pub attributes: Option<serde_json::Value>,
    /// How messages name the item: the key, or the manifest line.
    pub origin: String,
}

pub(crate) struct RawDataset {
    pub layout: Layout,
    /// Folder relative paths and the default cache live under.
    pub root: PathBuf,
    pub items: Vec<RawItem>,
    pub has_classes: bool,
    pub meta: Option<serde_json::Value>,
}

/// One spoken caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    pub wav: PathBuf,
    /// Feature frames (10 ms each) after the front end.
    pub frames: usize,
    /// The feature cache file.
    pub cache: PathBuf,
}

/// One image with its captions.
#[derive(Debug, Clone)]
pub struct Item {
    /// `filenames.pickle` key, or the image path as the manifest wrote it.
    pub key: String,
    pub image: PathBuf,
    pub captions: Vec<Caption>,
    /// Dense class id (see the module notes).
    pub class_id: usize,
    pub split: Split,
    /// CUB box, when the dataset has `bounding_boxes.txt`.
    pub bbox: Option<BBox>,
    /// `attributes/<key>.json` (synthetic sets) or a JSONL row's `attributes`.
    pub attributes: Option<serde_json::Value>,
}

/// A class and how many images each split holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassInfo {
    pub label: String,
    /// The id in `class_info.pickle` (1-based), for the official layout.
    pub original_id: Option<i64>,
    /// Images per split, indexed train, val, test.
    pub counts: [usize; 3],
}

/// What loading found besides the items.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Everything `skip_bad` left out, with the reason; empty without `skip_bad` (the first
    /// problem stops the load instead).
    pub skipped: Vec<BadItem>,
    pub cache: CacheStats,
    /// `<cache root>/<table hash>`.
    pub cache_dir: PathBuf,
    pub table_hash: String,
}

/// Size and draw rules for one epoch's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    pub batch_size: usize,
    pub drop_last: bool,
    pub shuffle: bool,
}

impl BatchPlan {
    /// Training: shuffled, incomplete last batch dropped (the matching loss assumes full batches).
    pub fn train(batch_size: usize) -> Self {
        Self {
            batch_size,
            drop_last: true,
            shuffle: true,
        }
    }

    /// Evaluation: file order, every item once.
    pub fn eval(batch_size: usize) -> Self {
        Self {
            batch_size,
            drop_last: false,
            shuffle: false,
        }
    }
}

/// Per-draw choices: which caption and which image transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// A uniformly random caption per draw; otherwise caption 0 (spec §4.1).
    pub random_caption: bool,
    pub augment: Augment,
}

impl Draw {
    pub fn train() -> Self {
        Self {
            random_caption: true,
            augment: Augment::Random,
        }
    }

    pub fn eval() -> Self {
        Self {
            random_caption: false,
            augment: Augment::Deterministic,
        }
    }

    pub fn for_split(split: Split) -> Self {
        if split == Split::Train {
            Self::train()
        } else {
            Self::eval()
        }
    }
}

/// A batch for the speech embedding network, sorted by utterance length, longest first.
#[derive(Debug)]
pub struct SenBatch {
    /// `[B, n_mels, T]` f32, zero-padded after each utterance to the longest in the batch.
    pub speech: Tensor,
    /// `[B]` i64 valid frames.
    pub lengths: Tensor,
    /// `[B, 3, crop, crop]` f32 in [-1, 1].
    pub images: Tensor,
    /// `[B]` i64 dense class ids.
    pub class_ids: Tensor,
    /// `[B]` i64 item indices (the same as `indices`).
    pub image_ids: Tensor,
    /// Item indices in batch order (after the length sort).
    pub indices: Vec<usize>,
    /// The caption drawn for each row.
    pub caption_ids: Vec<usize>,
}

/// A batch for the generator stage: real images at every pyramid size, a wrong image and a
/// same-class image per row, and which caption embedding conditions each row.
#[derive(Debug)]
pub struct GanBatch {
    /// One `[B, 3, s, s]` tensor per pyramid size, smallest first.
    pub images: Vec<Tensor>,
    /// The wrong images at the same sizes (independent random transforms).
    pub wrong_images: Vec<Tensor>,
    /// `[B, 3, crop, crop]`: another image of the same class (spec §7), crop size only.
    pub same_class_images: Tensor,
    /// `[B]` i64 dense class ids of the real images.
    pub class_ids: Tensor,
    /// `[B]` i64 caption index per row (into the extracted embeddings of that image).
    pub caption_ids: Tensor,
    /// `[B]` i64 item indices.
    pub image_ids: Tensor,
    pub indices: Vec<usize>,
    pub wrong_indices: Vec<usize>,
    pub same_class_indices: Vec<usize>,
}

/// The RNG for one batch: a pure function of (seed, epoch, step).
pub fn batch_rng(seed: u64, epoch: u64, step: u64) -> ChaCha8Rng {
    derived_rng(b"batch", seed, epoch, step)
}

fn derived_rng(purpose: &[u8], seed: u64, a: u64, b: u64) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"s2i-data:");
    h.update(purpose);
    h.update(seed.to_le_bytes());
    h.update(a.to_le_bytes());
    h.update(b.to_le_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// A loaded dataset.
#[derive(Debug)]
pub struct Dataset {
    root: PathBuf,
    layout: Layout,
    items: Vec<Item>,
    classes: Vec<ClassInfo>,
    num_train_classes: usize,
    has_classes: bool,
    splits: [Vec<usize>; 3],
    /// Per split, per class id: the split's items of that class.
    class_pools: [Vec<Vec<usize>>; 3],
    image: ImageOptions,
    n_mels: usize,
    meta: Option<serde_json::Value>,
    report: LoadReport,
    features: Option<Vec<Vec<Arc<Features>>>>,
    image_cache: Option<Vec<OnceLock<Arc<RgbImage>>>>,
}

/// Where a class sorts: official ids numerically, labels as text, own-image classes by key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ClassKey {
    Id(i64),
    Label(String),
    Own(String),
}

/// What either layout needs, for "not a dataset" messages.
fn expected() -> String {
    format!("{} or {}", official::EXPECTED, collection::EXPECTED)
}

impl Dataset {
    /// Loads a dataset with the front end `opts.frontend`. `path` is a folder in the official
    /// layout, a manifest file, or a folder holding `manifest.csv`/`manifest.jsonl`.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Self, DataError> {
        let frontend =
            Frontend::new(opts.frontend.clone()).map_err(|e| DataError::Frontend(e.to_string()))?;
        Self::load_with_frontend(path, opts, &frontend)
    }

    /// Loads with an existing front end (`opts.frontend` is ignored).
    pub fn load_with_frontend(
        path: &Path,
        opts: &LoadOptions,
        frontend: &Frontend,
    ) -> Result<Self, DataError> {
        opts.image.validate()?;
        validate_split(&opts.split)?;
        let mut bad = BadItems::new(opts.skip_bad);
        let raw = open_raw(path, &mut bad)?;
        let RawDataset {
            layout,
            root,
            items,
            has_classes,
            meta,
        } = raw;

        // Every listed file exists and every image header reads, before any feature work. Images
        // kept in memory are decoded in full here, so a damaged one cannot stop training later.
        let preload = opts.keep_images_in_memory.then_some(opts.image.load_size);
        let checks: Vec<Result<Option<Arc<RgbImage>>, DataError>> = items
            .par_iter()
            .map(|item| check_files(item, preload))
            .collect();
        let mut kept = Vec::with_capacity(items.len());
        let mut preloaded: HashMap<String, Arc<RgbImage>> = HashMap::new();
        for (item, check) in items.into_iter().zip(checks) {
            match check {
                Ok(image) => {
                    if let Some(image) = image {
                        preloaded.insert(item.origin.clone(), image);
                    }
                    kept.push(item)
                }
                Err(e) => bad.record(item.origin.clone(), e)?,
            }
        }

        let cache_root = opts
            .cache_dir
            .clone()
            .unwrap_or_else(|| root.join(DEFAULT_CACHE_DIR));
        let cache = FeatureCache::new(&cache_root, &root, frontend.table_hash())?;
        let wavs: Vec<PathBuf> = kept.iter().flat_map(|i| i.wavs.iter().cloned()).collect();
        let (results, stats) = cache.ensure_all(frontend, &wavs, opts.progress);
        let mut results = results.into_iter();
        let mut with_captions = Vec::with_capacity(kept.len());
        for item in kept {
            let mut captions = Vec::with_capacity(item.wavs.len());
            for (k, wav) in item.wavs.iter().enumerate() {
                let result = results
                    .next()
                    .ok_or_else(|| DataError::Invalid("feature results out of step".into()))?;
                match result {
                    Ok(c) if c.frames > 0 => captions.push(Caption {
                        wav: wav.clone(),
                        frames: c.frames,
                        cache: c.path,
                    }),
                    Ok(_) => bad.record(
                        format!("{} caption {k}", item.origin),
                        DataError::BadWav {
                            path: wav.clone(),
                            reason: "the front end produced no frames".into(),
                        },
                    )?,
                    // A cache that cannot be written is the machine's problem, not the item's.
                    Err(e @ DataError::Cache { .. }) => return Err(e),
                    Err(e) => bad.record(
                        format!("{} caption {k}", item.origin),
                        with_context(e, &item.origin),
                    )?,
                }
            }
            if captions.is_empty() {
                bad.record(
                    item.origin.clone(),
                    DataError::Invalid(format!(
                        "{}: every spoken caption was skipped",
                        item.origin
                    )),
                )?;
                continue;
            }
            with_captions.push((item, captions));
        }

        let mut splits_of: Vec<Split> =
            assign_splits(&with_captions, has_classes, &opts.split, &layout);

        // Classes, and the single-image check for same-class sampling.
        let class_key = |item: &RawItem| match &item.class {
            RawClass::Id { id, .. } => ClassKey::Id(*id),
            RawClass::Label(l) => ClassKey::Label(l.clone()),
            RawClass::OwnImage => ClassKey::Own(item.key.clone()),
        };
        let mut keep = vec![true; with_captions.len()];
        if opts.require_same_class_pairs && has_classes {
            let mut train_members: BTreeMap<ClassKey, Vec<usize>> = BTreeMap::new();
            for (i, (item, _)) in with_captions.iter().enumerate() {
                if splits_of[i] == Split::Train {
                    train_members.entry(class_key(item)).or_default().push(i);
                }
            }
            for members in train_members.values().filter(|m| m.len() == 1) {
                let item = &with_captions[members[0]].0;
                let err = DataError::SingleImageClass {
                    class: class_label(item),
                    item: item.origin.clone(),
                };
                bad.record(item.origin.clone(), err)?;
                keep[members[0]] = false;
            }
        }
        let with_captions: Vec<(RawItem, Vec<Caption>)> = with_captions
            .into_iter()
            .zip(keep.iter())
            .filter_map(|(x, &k)| k.then_some(x))
            .collect();
        splits_of = splits_of
            .into_iter()
            .zip(keep)
            .filter_map(|(s, k)| k.then_some(s))
            .collect();

        if with_captions.is_empty() {
            let mut msg = format!("{}: no usable items", path.display());
            if !bad.items.is_empty() {
                msg.push_str(&format!(
                    " ({} skipped; first: {})",
                    bad.items.len(),
                    bad.items[0]
                ));
            }
            return Err(DataError::Invalid(msg));
        }

        // Dense ids: classes with training images first, then the rest, each in sorted order.
        let mut class_map: BTreeMap<(bool, ClassKey), (String, Option<i64>)> = BTreeMap::new();
        let mut in_train: BTreeMap<ClassKey, bool> = BTreeMap::new();
        for (i, (item, _)) in with_captions.iter().enumerate() {
            *in_train.entry(class_key(item)).or_default() |= splits_of[i] == Split::Train;
        }
        for (item, _) in &with_captions {
            let key = class_key(item);
            let original = match &item.class {
                RawClass::Id { id, .. } => Some(*id),
                _ => None,
            };
            class_map
                .entry((!in_train[&key], key))
                .or_insert_with(|| (class_label(item), original));
        }
        let num_train_classes = class_map.keys().filter(|(not_train, _)| !not_train).count();
        let mut class_ids: BTreeMap<ClassKey, usize> = BTreeMap::new();
        let mut classes = Vec::with_capacity(class_map.len());
        for (id, ((_, key), (label, original_id))) in class_map.into_iter().enumerate() {
            class_ids.insert(key, id);
            classes.push(ClassInfo {
                label,
                original_id,
                counts: [0; 3],
            });
        }

        let mut items = Vec::with_capacity(with_captions.len());
        let mut image_slots = Vec::with_capacity(with_captions.len());
        let mut splits: [Vec<usize>; 3] = Default::default();
        let mut class_pools: [Vec<Vec<usize>>; 3] =
            std::array::from_fn(|_| vec![Vec::new(); classes.len()]);
        for (i, ((raw, captions), split)) in with_captions.into_iter().zip(splits_of).enumerate() {
            let class_id = class_ids[&class_key(&raw)];
            classes[class_id].counts[split.index()] += 1;
            splits[split.index()].push(i);
            class_pools[split.index()][class_id].push(i);
            image_slots.push(match preloaded.remove(&raw.origin) {
                Some(image) => OnceLock::from(image),
                None => OnceLock::new(),
            });
            items.push(Item {
                key: raw.key,
                image: raw.image,
                captions,
                class_id,
                split,
                bbox: raw.bbox,
                attributes: raw.attributes,
            });
        }

        let n_mels = frontend.config().n_mels;
        let features = if opts.keep_features_in_memory {
            let loaded: Result<Vec<Vec<Arc<Features>>>, DataError> = items
                .par_iter()
                .map(|item| {
                    item.captions
                        .iter()
                        .map(|c| read_features(&c.cache).map(Arc::new))
                        .collect()
                })
                .collect();
            Some(loaded?)
        } else {
            None
        };
        let image_cache = opts.keep_images_in_memory.then_some(image_slots);

        Ok(Self {
            root,
            layout,
            items,
            classes,
            num_train_classes,
            has_classes,
            splits,
            class_pools,
            image: opts.image.clone(),
            n_mels,
            meta,
            report: LoadReport {
                skipped: bad.items,
                cache: stats,
                cache_dir: cache.dir().to_path_buf(),
                table_hash: frontend.table_hash().to_string(),
            },
            features,
            image_cache,
        })
    }

    /// The dataset folder (a manifest's folder for collections).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn item(&self, index: usize) -> &Item {
        &self.items[index]
    }

    /// Item indices of a split, in file order.
    pub fn split(&self, split: Split) -> &[usize] {
        &self.splits[split.index()]
    }

    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// Classes with training images: their ids are `0..num_train_classes()` (the classifier's size).
    pub fn num_train_classes(&self) -> usize {
        self.num_train_classes
    }

    /// False when there is no class list and each image is its own class (Flickr/Places).
    pub fn has_classes(&self) -> bool {
        self.has_classes
    }

    pub fn image_options(&self) -> &ImageOptions {
        &self.image
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// `dataset.json` of a synthetic set.
    pub fn meta(&self) -> Option<&serde_json::Value> {
        self.meta.as_ref()
    }

    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// The items of `split` whose class is `class_id`.
    pub fn class_members(&self, split: Split, class_id: usize) -> &[usize] {
        self.class_pools[split.index()]
            .get(class_id)
            .map_or(&[], |v| v.as_slice())
    }

    /// Features of one caption (from memory, or read from the cache).
    pub fn features(&self, item: usize, caption: usize) -> Result<Arc<Features>, DataError> {
        if let Some(f) = &self.features {
            return Ok(f[item][caption].clone());
        }
        let c = &self.items[item].captions[caption];
        let f = read_features(&c.cache)?;
        if f.n_mels != self.n_mels || f.frames != c.frames {
            return Err(DataError::Cache {
                path: c.cache.clone(),
                reason: format!(
                    "holds {}×{} features, {}×{} were cached at load (was the cache changed while training?)",
                    f.n_mels, f.frames, self.n_mels, c.frames
                ),
            });
        }
        Ok(Arc::new(f))
    }

    /// The decoded image after the CUB crop and the shorter-side resize (cached in memory when
    /// `keep_images_in_memory` is set).
    pub fn base_image(&self, item: usize) -> Result<Arc<RgbImage>, DataError> {
        let load = || {
            let it = &self.items[item];
            image_pipeline::load_base_image(&it.image, it.bbox, self.image.load_size).map(Arc::new)
        };
        match &self.image_cache {
            Some(cache) => {
                if let Some(img) = cache[item].get() {
                    return Ok(img.clone());
                }
                let img = load()?;
                Ok(cache[item].get_or_init(|| img).clone())
            }
            None => load(),
        }
    }

    /// The `crop`×`crop` image of one draw.
    pub fn crop_image<R: Rng + ?Sized>(
        &self,
        item: usize,
        augment: Augment,
        rng: &mut R,
    ) -> Result<RgbImage, DataError> {
        let base = self.base_image(item)?;
        Ok(image_pipeline::crop_and_flip(
            &base,
            self.image.crop_size,
            augment,
            rng,
        ))
    }

    /// One epoch's batches of item indices. Shuffled plans permute with an RNG derived from
    /// (seed, epoch); others keep file order.
    pub fn epoch_batches(
        &self,
        split: Split,
        plan: BatchPlan,
        seed: u64,
        epoch: u64,
    ) -> Result<Vec<Vec<usize>>, DataError> {
        if plan.batch_size == 0 {
            return Err(DataError::Invalid("batch size must be positive".into()));
        }
        let mut order = self.split(split).to_vec();
        if order.is_empty() {
            return Err(DataError::Invalid(format!(
                "{}: the {split} split is empty",
                self.root.display()
            )));
        }
        if plan.shuffle {
            order.shuffle(&mut derived_rng(
                b"epoch-order",
                seed,
                epoch,
                split.index() as u64,
            ));
        }
        let mut batches: Vec<Vec<usize>> = order
            .chunks(plan.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        if plan.drop_last && batches.last().is_some_and(|b| b.len() < plan.batch_size) {
            batches.pop();
        }
        Ok(batches)
    }

    /// The "wrong" image for item `i` (spec §7): uniform over the split, re-drawn once if it has
    /// the same class (so it may still share it, as in the paper).
    pub fn draw_wrong_image<R: Rng + ?Sized>(&self, split: Split, i: usize, rng: &mut R) -> usize {
        let pool = self.split(split);
        let mut j = pool[rng.gen_range(0..pool.len())];
        if self.items[j].class_id == self.items[i].class_id {
            j = pool[rng.gen_range(0..pool.len())];
        }
        j
    }

    /// Another image of item `i`'s class in the split, uniformly; `i` itself when the class has
    /// no other image there (datasets without classes: a fresh crop of the same image, §7).
    pub fn draw_same_class_image<R: Rng + ?Sized>(
        &self,
        split: Split,
        i: usize,
        rng: &mut R,
    ) -> usize {
        let pool = self.class_members(split, self.items[i].class_id);
        if pool.len() < 2 {
            return i;
        }
        // Uniform over the pool without i: draw from all but the last slot, and let i's slot
        // stand for the last one.
        let j = pool[rng.gen_range(0..pool.len() - 1)];
        if j == i {
            pool[pool.len() - 1]
        } else {
            j
        }
    }

    fn caption_for<R: Rng + ?Sized>(&self, i: usize, draw: Draw, rng: &mut R) -> usize {
        if draw.random_caption {
            rng.gen_range(0..self.items[i].captions.len())
        } else {
            0
        }
    }

    fn check_indices(&self, indices: &[usize]) -> Result<(), DataError> {
        if indices.is_empty() {
            return Err(DataError::Invalid("a batch needs at least one item".into()));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.items.len()) {
            return Err(DataError::Invalid(format!(
                "item index {bad} is out of range ({} items)",
                self.items.len()
            )));
        }
        Ok(())
    }

    /// A SEN batch: per row one caption (random or caption 0), the image at crop size, sorted by
    /// utterance length descending (ties keep the given order), speech zero-padded.
    pub fn sen_batch<R: Rng + ?Sized>(
        &self,
        indices: &[usize],
        draw: Draw,
        rng: &mut R,
    ) -> Result<SenBatch, DataError> {
        self.check_indices(indices)?;
        let captions: Vec<usize> = indices
            .iter()
            .map(|&i| self.caption_for(i, draw, rng))
            .collect();
        let seeds: Vec<u64> = indices.iter().map(|_| rng.gen()).collect();
        let crop = self.image.crop_size as usize;
        let plane = 3 * crop * crop;
        let rows: Vec<(Arc<Features>, Vec<f32>)> = indices
            .par_iter()
            .zip(&captions)
            .zip(&seeds)
            .map(|((&i, &k), &seed)| {
                let features = self.features(i, k)?;
                let img = self.crop_image(i, draw.augment, &mut ChaCha8Rng::seed_from_u64(seed))?;
                let mut pixels = vec![0f32; plane];
                image_pipeline::write_chw(&img, &mut pixels);
                Ok((features, pixels))
            })
            .collect::<Result<_, DataError>>()?;

        let mut order: Vec<usize> = (0..indices.len()).collect();
        order.sort_by_key(|&r| std::cmp::Reverse(rows[r].0.frames));
        let b = indices.len();
        let t_max = rows.iter().map(|r| r.0.frames).max().unwrap_or(0);
        let m = self.n_mels;
        let mut speech = vec![0f32; b * m * t_max];
        let mut images = Vec::with_capacity(b * plane);
        for (row, &r) in order.iter().enumerate() {
            let f = &rows[r].0;
            for band in 0..m {
                let dst = (row * m + band) * t_max;
                speech[dst..dst + f.frames]
                    .copy_from_slice(&f.data[band * f.frames..(band + 1) * f.frames]);
            }
            images.extend_from_slice(&rows[r].1);
        }
        let sorted_indices: Vec<usize> = order.iter().map(|&r| indices[r]).collect();
        let lengths: Vec<i64> = order.iter().map(|&r| rows[r].0.frames as i64).collect();
        let class_ids: Vec<i64> = sorted_indices
            .iter()
            .map(|&i| self.items[i].class_id as i64)
            .collect();
        let image_ids: Vec<i64> = sorted_indices.iter().map(|&i| i as i64).collect();
        let (b, m, t, c) = (b as i64, m as i64, t_max as i64, crop as i64);
        Ok(SenBatch {
            speech: Tensor::f_from_slice(&speech)?.f_view([b, m, t])?,
            lengths: Tensor::f_from_slice(&lengths)?,
            images: Tensor::f_from_slice(&images)?.f_view([b, 3, c, c])?,
            class_ids: Tensor::f_from_slice(&class_ids)?,
            image_ids: Tensor::f_from_slice(&image_ids)?,
            caption_ids: order.iter().map(|&r| captions[r]).collect(),
            indices: sorted_indices,
        })
    }

    /// A GAN batch (spec §8): real images at every pyramid size, a wrong image and a same-class
    /// image per row drawn from `split`, each with independent transforms, and the caption index
    /// that conditions the row. Rows keep the given order.
    pub fn gan_batch<R: Rng + ?Sized>(
        &self,
        split: Split,
        indices: &[usize],
        draw: Draw,
        rng: &mut R,
    ) -> Result<GanBatch, DataError> {
        self.check_indices(indices)?;
        if self.split(split).is_empty() {
            return Err(DataError::Invalid(format!("the {split} split is empty")));
        }
        let mut captions = Vec::with_capacity(indices.len());
        let mut wrong = Vec::with_capacity(indices.len());
        let mut same = Vec::with_capacity(indices.len());
        for &i in indices {
            captions.push(self.caption_for(i, draw, rng));
            wrong.push(self.draw_wrong_image(split, i, rng));
            same.push(self.draw_same_class_image(split, i, rng));
        }
        let seeds: Vec<[u64; 3]> = indices
            .iter()
            .map(|_| [rng.gen(), rng.gen(), rng.gen()])
            .collect();
        let sizes = &self.image.pyramid;
        let crop = self.image.crop_size as usize;
        type Row = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<f32>);
        let rows: Vec<Row> = (0..indices.len())
            .into_par_iter()
            .map(|r| {
                let chw_pyramid = |item: usize, seed: u64| -> Result<Vec<Vec<f32>>, DataError> {
                    let img =
                        self.crop_image(item, draw.augment, &mut ChaCha8Rng::seed_from_u64(seed))?;
                    Ok(image_pipeline::pyramid(&img, sizes)
                        .iter()
                        .map(|p| {
                            let mut v = vec![0f32; 3 * (p.width() * p.height()) as usize];
                            image_pipeline::write_chw(p, &mut v);
                            v
                        })
                        .collect())
                };
                let real = chw_pyramid(indices[r], seeds[r][0])?;
                let wrong_img = chw_pyramid(wrong[r], seeds[r][1])?;
                let same_img = self.crop_image(
                    same[r],
                    draw.augment,
                    &mut ChaCha8Rng::seed_from_u64(seeds[r][2]),
                )?;
                let mut same_px = vec![0f32; 3 * crop * crop];
                image_pipeline::write_chw(&same_img, &mut same_px);
                Ok((real, wrong_img, same_px))
            })
            .collect::<Result<_, DataError>>()?;

        let b = indices.len() as i64;
        let stack =
            |scale: usize, pick: &dyn Fn(&Row) -> &Vec<Vec<f32>>| -> Result<Tensor, DataError> {
                let s = sizes[scale] as i64;
                let flat: Vec<f32> = rows
                    .iter()
                    .flat_map(|row| pick(row)[scale].iter().copied())
                    .collect();
                Ok(Tensor::f_from_slice(&flat)?.f_view([b, 3, s, s])?)
            };
        let images = (0..sizes.len())
            .map(|s| stack(s, &|row: &Row| &row.0))
            .collect::<Result<Vec<_>, _>>()?;
        let wrong_images = (0..sizes.len())
            .map(|s| stack(s, &|row: &Row| &row.1))
            .collect::<Result<Vec<_>, _>>()?;
        let same_flat: Vec<f32> = rows.iter().flat_map(|row| row.2.iter().copied()).collect();
        let c = crop as i64;
        let as_i64 = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<i64>>();
        let class_ids: Vec<i64> = indices
            .iter()
            .map(|&i| self.items[i].class_id as i64)
            .collect();
        Ok(GanBatch {
            images,
            wrong_images,
            same_class_images: Tensor::f_from_slice(&same_flat)?.f_view([b, 3, c, c])?,
            class_ids: Tensor::f_from_slice(&class_ids)?,
            caption_ids: Tensor::f_from_slice(&as_i64(&captions))?,
            image_ids: Tensor::f_from_slice(&as_i64(indices))?,
            indices: indices.to_vec(),
            wrong_indices: wrong,
            same_class_indices: same,
        })
    }
}

fn validate_split(s: &SplitOptions) -> Result<(), DataError> {
    let ok = |f: f64| (0.0..1.0).contains(&f);
    if !ok(s.val_fraction) || !ok(s.test_fraction) || s.val_fraction + s.test_fraction >= 1.0 {
        return Err(DataError::Invalid(format!(
            "split fractions: val {} and test {} must each be in [0, 1) and sum below 1",
            s.val_fraction, s.test_fraction
        )));
    }
    Ok(())
}

fn open_raw(path: &Path, bad: &mut BadItems) -> Result<RawDataset, DataError> {
    if !path.exists() {
        return Err(DataError::NotADataset {
            path: path.to_path_buf(),
            expected: format!("an existing folder or manifest file: {}", expected()),
        });
    }
    if path.is_dir() && official::is_official(path) {
        return official::load(path, bad);
    }
    if let Some(manifest) = collection::find_manifest(path) {
        return collection::load(&manifest, bad);
    }
    Err(DataError::NotADataset {
        path: path.to_path_buf(),
        expected: expected(),
    })
}

fn class_label(item: &RawItem) -> String {
    match &item.class {
        RawClass::Id { label, .. } => label.clone(),
        RawClass::Label(l) => l.clone(),
        RawClass::OwnImage => item.key.clone(),
    }
}

/// Adds the item to "missing" errors, which are raised where the item is not known.
fn with_context(e: DataError, origin: &str) -> DataError {
    match e {
        DataError::Missing {
            path,
            what,
            context: None,
        } => DataError::Missing {
            path,
            what,
            context: Some(origin.to_string()),
        },
        other => other,
    }
}

/// Checks an item's files; with `preload` (the load size) also decodes its base image.
fn check_files(item: &RawItem, preload: Option<u32>) -> Result<Option<Arc<RgbImage>>, DataError> {
    image_pipeline::probe_dimensions(&item.image).map_err(|e| with_context(e, &item.origin))?;
    for wav in &item.wavs {
        match std::fs::metadata(wav) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(DataError::BadWav {
                    path: wav.clone(),
                    reason: "not a file".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::Missing {
                    path: wav.clone(),
                    what: "spoken caption (wav)",
                    context: Some(item.origin.clone()),
                })
            }
            Err(e) => return Err(DataError::io(wav, e)),
        }
    }
    match preload {
        Some(load_size) => image_pipeline::load_base_image(&item.image, item.bbox, load_size)
            .map(|image| Some(Arc::new(image))),
        None => Ok(None),
    }
}

/// Hash order of items for a seed: stable under insertions of other items.
fn hash_rank(seed: u64, key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"s2i-split:");
    h.update(seed.to_le_bytes());
    h.update(key.as_bytes());
    h.finalize().into()
}

/// How many of `n` members go to test and val, leaving `min_train` in train.
fn held_out(n: usize, test_fraction: f64, val_fraction: f64, min_train: usize) -> (usize, usize) {
    let mut n_test = (n as f64 * test_fraction).floor() as usize;
    let mut n_val = (n as f64 * val_fraction).floor() as usize;
    while n - n_test - n_val < min_train.min(n) {
        if n_val > 0 {
            n_val -= 1;
        } else {
            n_test -= 1;
        }
    }
    (n_test, n_val)
}

fn assign_splits(
    items: &[(RawItem, Vec<Caption>)],
    has_classes: bool,
    opts: &SplitOptions,
    layout: &Layout,
) -> Vec<Split> {
    let mut splits: Vec<Split> = items
        .iter()
        .map(|(r, _)| r.split.unwrap_or(Split::Train))
        .collect();
    // The official layout has its own test list: only validation is carved, from train.
    let test_fraction = match layout {
        Layout::Official { .. } => 0.0,
        Layout::Collection { .. } => opts.test_fraction,
    };
    let candidates: Vec<usize> = (0..items.len())
        .filter(|&i| splits[i] == Split::Train)
        .collect();
    let group_of = |i: usize| -> String {
        match (&items[i].0.class, has_classes) {
            (RawClass::Id { id, .. }, true) => format!("id:{id}"),
            (RawClass::Label(l), true) => format!("label:{l}"),
            _ => String::new(),
        }
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &candidates {
        groups.entry(group_of(i)).or_default().push(i);
    }
    // Without classes every image is its own class: holding out classes is holding out images.
    let by = if has_classes { opts.by } else { SplitBy::Image };
    match by {
        SplitBy::Image => {
            for members in groups.values_mut() {
                members.sort_by_key(|&i| hash_rank(opts.seed, &items[i].0.key));
                let (n_test, n_val) = held_out(members.len(), test_fraction, opts.val_fraction, 2);
                for (pos, &i) in members.iter().enumerate() {
                    splits[i] = if pos < n_test {
                        Split::Test
                    } else if pos < n_test + n_val {
                        Split::Val
                    } else {
                        Split::Train
                    };
                }
            }
        }
        SplitBy::Class => {
            let mut names: Vec<&String> = groups.keys().collect();
            names.sort_by_key(|n| hash_rank(opts.seed, n));
            let (n_test, n_val) = held_out(names.len(), test_fraction, opts.val_fraction, 1);
            for (pos, name) in names.iter().enumerate() {
                let to = if pos < n_test {
                    Split::Test
                } else if pos < n_test + n_val {
                    Split::Val
                } else {
                    continue;
                };
                for &i in &groups[*name] {
                    splits[i] = to;
                }
            }
        }
    }
    splits
}
