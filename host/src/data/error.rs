//! What can be wrong with a dataset. Every variant names the file (and the line, for text files),
//! so a message alone tells the user what to fix.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// An error while reading a dataset or assembling a batch.
#[derive(Debug, Error)]
pub enum DataError {
    /// The path given as the dataset is neither layout.
    #[error("{}: not a dataset: expected {expected}", path.display())]
    NotADataset { path: PathBuf, expected: String },

    /// A file the dataset lists is not there.
    #[error("{}: {what} is missing{}", path.display(), context_suffix(context))]
    Missing {
        path: PathBuf,
        what: &'static str,
        /// Where the file was listed (an item key or a manifest line), when known.
        context: Option<String>,
    },

    /// A spoken-caption folder without wav files.
    #[error("{}: no spoken captions (.wav files) in this folder", dir.display())]
    NoCaptions { dir: PathBuf },

    /// CUB crop data is present but does not cover an image.
    #[error("{}: no entry for {key}, so its bounding box (CUB crop) is unknown", path.display())]
    NoBoundingBox { path: PathBuf, key: String },

    /// An image that cannot be opened or decoded.
    #[error("{}: cannot read the image: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },

    /// A wav the shared front end refuses (the reason names the problem).
    #[error("{}: the front end rejected the wav: {reason}", path.display())]
    BadWav { path: PathBuf, reason: String },

    /// A pickle that cannot be decoded or holds the wrong shape.
    #[error("{}: {reason}", path.display())]
    BadPickle { path: PathBuf, reason: String },

    /// A manifest row that cannot be used; `line` is 1-based and counts the header.
    #[error("{}, line {line}: {reason}", path.display())]
    BadManifest {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    /// A line of a whitespace-separated text file (`images.txt`, `bounding_boxes.txt`).
    #[error("{}, line {line}: {reason}", path.display())]
    BadTextFile {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    /// A JSON side file (`attributes/<key>.json`, `dataset.json`) that does not parse.
    #[error("{}: not valid JSON: {reason}", path.display())]
    BadJson { path: PathBuf, reason: String },

    /// Relation-supervisor training draws a second image of the same class.
    #[error(
        "class {class:?} has only one training image ({item}); sampling a same-class image needs at least two"
    )]
    SingleImageClass { class: String, item: String },

    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A cached feature file that is damaged or cannot be written.
    #[error("{}: feature cache: {reason}", path.display())]
    Cache { path: PathBuf, reason: String },

    /// The front end could not be built from its configuration.
    #[error("front end: {0}")]
    Frontend(String),

    /// Options or requests that cannot be satisfied (empty split, bad sizes, ...).
    #[error("{0}")]
    Invalid(String),

    /// libtorch refused a tensor operation.
    #[error("tensor: {0}")]
    Tensor(#[from] tch::TchError),
}

fn context_suffix(context: &Option<String>) -> String {
    match context {
        Some(c) => format!(" (listed for {c})"),
        None => String::new(),
    }
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One item left out by `skip_bad`: what it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadItem {
    /// The item key, `<key> caption <k>`, or `<manifest> line <n>`.
    pub item: String,
    /// The full error message, naming the file.
    pub reason: String,
}

impl fmt::Display for BadItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.item, self.reason)
    }
}

/// Collects item-level errors: with `skip_bad` it records them, otherwise the first one stops.
#[derive(Debug)]
pub(crate) struct BadItems {
    skip_bad: bool,
    pub(crate) items: Vec<BadItem>,
}

impl BadItems {
    pub(crate) fn new(skip_bad: bool) -> Self {
        Self {
            skip_bad,
            items: Vec::new(),
        }
    }

    /// `Ok(())` when the error was recorded (and the item should be skipped), else the error.
    pub(crate) fn record(
        &mut self,
        item: impl Into<String>,
        err: DataError,
    ) -> Result<(), DataError> {
        if self.skip_bad {
            self.items.push(BadItem {
                item: item.into(),
                reason: err.to_string(),
            });
            Ok(())
        } else {
            Err(err)
        }
    }
}
