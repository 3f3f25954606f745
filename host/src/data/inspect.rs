//! `s2i-host data inspect`: load a dataset the way training will and say what is in it.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::dataset::{Dataset, Layout, LoadOptions, Split, SplitBy, SplitOptions};
use super::error::DataError;

/// Options of `data inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Dataset: a folder in the official S2IGAN layout, a manifest (.csv/.jsonl), or a folder
    /// holding manifest.csv or manifest.jsonl.
    #[arg(long)]
    pub data: PathBuf,
    /// Feature cache folder (default: <data>/.s2i-cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Skip bad items and list them at the end instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
    /// Hold out a fraction of each class's images, or whole classes.
    #[arg(long, value_enum, default_value_t = SplitBy::Image)]
    pub split_by: SplitBy,
    /// Share of the training images (or classes) held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Share held out for test; collections only (the official layout has a test list).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Seed of the split (the paper's seed by default).
    #[arg(long, default_value_t = 200)]
    pub seed: u64,
    /// Check that every class has two training images (needed to train the relation supervisor).
    #[arg(long)]
    pub same_class_pairs: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl InspectArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            skip_bad: self.skip_bad,
            cache_dir: self.cache.clone(),
            split: SplitOptions {
                by: self.split_by,
                val_fraction: self.val_fraction,
                test_fraction: self.test_fraction,
                seed: self.seed,
            },
            require_same_class_pairs: self.same_class_pairs,
            progress: !self.quiet,
            ..LoadOptions::default()
        }
    }
}

/// Loads the dataset and returns the report `data inspect` prints.
pub fn inspect(args: &InspectArgs) -> Result<String, DataError> {
    let ds = Dataset::load(&args.data, &args.load_options())?;
    Ok(summary(&ds))
}

fn stats(mut v: Vec<usize>) -> Option<(usize, usize, f64, usize)> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let mean = v.iter().sum::<usize>() as f64 / v.len() as f64;
    Some((v[0], v[v.len() / 2], mean, v[v.len() - 1]))
}

/// A readable account of a loaded dataset: layout, splits, classes, caption lengths, skipped items.
pub fn summary(ds: &Dataset) -> String {
    let mut out = String::new();
    let w = &mut out;
    match ds.layout() {
        Layout::Official { img_root } => {
            let _ = writeln!(
                w,
                "dataset: {} (official S2IGAN layout, images under {})",
                ds.root().display(),
                img_root.display()
            );
        }
        Layout::Collection { manifest } => {
            let _ = writeln!(w, "dataset: {} (collection manifest)", manifest.display());
        }
    }
    let r = ds.report();
    let _ = writeln!(
        w,
        "features: front end {}, cache {} ({} reused, {} computed, {} failed)",
        &r.table_hash[..r.table_hash.len().min(16)],
        r.cache_dir.display(),
        r.cache.hits,
        r.cache.computed,
        r.cache.failed
    );
    let _ = writeln!(
        w,
        "{:<6} {:>8} {:>9} {:>8}",
        "split", "images", "captions", "classes"
    );
    for split in Split::ALL {
        let idx = ds.split(split);
        let captions: usize = idx.iter().map(|&i| ds.item(i).captions.len()).sum();
        let classes = ds
            .classes()
            .iter()
            .filter(|c| c.counts[split as usize] > 0)
            .count();
        let _ = writeln!(
            w,
            "{:<6} {:>8} {:>9} {:>8}",
            split.name(),
            idx.len(),
            captions,
            classes
        );
    }
    if ds.has_classes() {
        let _ = writeln!(
            w,
            "classes: {} ({} with training images, ids 0 to {})",
            ds.classes().len(),
            ds.num_train_classes(),
            ds.num_train_classes().saturating_sub(1)
        );
        let train_counts: Vec<usize> = ds
            .classes()
            .iter()
            .map(|c| c.counts[0])
            .filter(|&n| n > 0)
            .collect();
        if let Some((min, med, mean, max)) = stats(train_counts.clone()) {
            let _ = writeln!(
                w,
                "training images per class: min {min}, median {med}, mean {mean:.1}, max {max}"
            );
        }
        let singles = train_counts.iter().filter(|&&n| n == 1).count();
        if singles > 0 {
            let _ = writeln!(
                w,
                "warning: {singles} classes have a single training image (same-class sampling falls back to that image)"
            );
        }
        let shown: Vec<String> = ds
            .classes()
            .iter()
            .take(8)
            .map(|c| c.label.clone())
            .collect();
        let more = ds.classes().len().saturating_sub(shown.len());
        let _ = writeln!(
            w,
            "  {}{}",
            shown.join(", "),
            if more > 0 {
                format!(", … ({more} more)")
            } else {
                String::new()
            }
        );
    } else {
        let _ = writeln!(w, "classes: none listed (each image is its own class)");
    }
    let per_image: Vec<usize> = ds.items().iter().map(|i| i.captions.len()).collect();
    if let Some((min, med, mean, max)) = stats(per_image) {
        let _ = writeln!(
            w,
            "captions per image: min {min}, median {med}, mean {mean:.1}, max {max}"
        );
    }
    let frames: Vec<usize> = ds
        .items()
        .iter()
        .flat_map(|i| i.captions.iter().map(|c| c.frames))
        .collect();
    if let Some((min, med, mean, max)) = stats(frames) {
        let _ = writeln!(
            w,
            "caption length (10 ms frames): min {min}, median {med}, mean {mean:.1}, max {max} ({:.2}–{:.2} s)",
            min as f64 / 100.0,
            max as f64 / 100.0
        );
    }
    let with_attr = ds.items().iter().filter(|i| i.attributes.is_some()).count();
    if with_attr > 0 || ds.meta().is_some() {
        let _ = writeln!(
            w,
            "attributes: {with_attr} items{}",
            if ds.meta().is_some() {
                ", dataset.json present"
            } else {
                ""
            }
        );
    }
    if r.skipped.is_empty() {
        let _ = writeln!(w, "bad items: none");
    } else {
        let _ = writeln!(w, "bad items: {} skipped", r.skipped.len());
        for b in &r.skipped {
            let _ = writeln!(w, "  - {b}");
        }
    }
    out
}
