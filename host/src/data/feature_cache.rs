//! On-disk cache of front-end features, one file per wav.
//!
//! Layout: `<cache root>/<table hash>/<h[0..2]>/<h>.feat` where `h` is the SHA-256 of the wav's
//! path relative to the dataset root (absolute when outside it), so a moved dataset folder keeps
//! its cache. Validity: the folder is the front end's table hash (a changed front end never sees
//! old features), and each file's header repeats the hash and stores the wav's size and mtime
//! (to the nanosecond): a rewritten wav misses and is recomputed. Content hashing was rejected
//! because a warm load would then read every wav (CUB: ~118 000 files), which is the cost the
//! cache exists to avoid.
//!
//! File format (little endian): magic `S2IFEAT1`, table hash (64 bytes, ASCII, zero-padded),
//! wav size u64, mtime seconds i64, mtime nanoseconds u32, n_mels u32, frames u32, reserved u32,
//! then `n_mels·frames` f32 band-major. Writes go to a temporary file in the same folder and are
//! renamed into place, so readers never see half a file; a torn file fails the length check and
//! is simply recomputed.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use s2i_shared::frontend::{Features, Frontend};
use sha2::{Digest, Sha256};

use super::error::DataError;

const MAGIC: &[u8; 8] = b"S2IFEAT1";
const HASH_LEN: usize = 64;
const HEADER_LEN: usize = 8 + HASH_LEN + 8 + 8 + 4 + 4 + 4 + 4;

/// The cache's folder name under a dataset root when no `--cache` is given.
pub const DEFAULT_CACHE_DIR: &str = ".s2i-cache";

/// Identity of a wav file as far as the cache is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WavStamp {
    size: u64,
    mtime_s: i64,
    mtime_ns: u32,
}

impl WavStamp {
    fn of(wav: &Path) -> Result<Self, DataError> {
        let meta = fs::metadata(wav).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DataError::Missing {
                    path: wav.to_path_buf(),
                    what: "spoken caption (wav)",
                    context: None,
                }
            } else {
                DataError::io(wav, e)
            }
        })?;
        let modified = meta.modified().map_err(|e| DataError::io(wav, e))?;
        let (mtime_s, mtime_ns) = match modified.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => (
                -(e.duration().as_secs() as i64),
                e.duration().subsec_nanos(),
            ),
        };
        Ok(Self {
            size: meta.len(),
            mtime_s,
            mtime_ns,
        })
    }
}

/// Where a wav's features live and their shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFeatures {
    pub path: PathBuf,
    pub n_mels: usize,
    pub frames: usize,
}

/// Counts from [`FeatureCache::ensure_all`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: usize,
    pub computed: usize,
    pub failed: usize,
}

/// The feature cache for one front end (one table hash).
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
    base: PathBuf,
    table_hash: String,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FeatureCache {
    /// `cache_root` holds one folder per table hash; keys are wav paths relative to `base`.
    pub fn new(cache_root: &Path, base: &Path, table_hash: &str) -> Result<Self, DataError> {
        if table_hash.is_empty()
            || table_hash.len() > HASH_LEN
            || !table_hash.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(DataError::Invalid(format!(
                "feature cache: the front end's table hash {table_hash:?} is not a hex digest"
            )));
        }
        Ok(Self {
            dir: cache_root.join(table_hash),
            base: base.to_path_buf(),
            table_hash: table_hash.to_string(),
        })
    }

    /// The folder holding this front end's features.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for a wav (whether or not it exists yet).
    pub fn entry_path(&self, wav: &Path) -> PathBuf {
        let key = wav.strip_prefix(&self.base).unwrap_or(wav);
        let digest = Sha256::digest(key.as_os_str().as_encoded_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(&hex[..2]).join(format!("{hex}.feat"))
    }

    /// The cached features of `wav` when they are still valid; `Ok(None)` on a miss (absent,
    /// stale or damaged entry). A missing wav is an error, whatever the cache holds.
    pub fn lookup(&self, wav: &Path) -> Result<Option<CachedFeatures>, DataError> {
        let stamp = WavStamp::of(wav)?;
        Ok(self.lookup_stamped(wav, stamp))
    }

    fn lookup_stamped(&self, wav: &Path, stamp: WavStamp) -> Option<CachedFeatures> {
        let path = self.entry_path(wav);
        let mut file = fs::File::open(&path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header).ok()?;
        let h = Header::parse(&header)?;
        let expected_len = HEADER_LEN as u64 + 4 * (h.n_mels as u64) * (h.frames as u64);
        (h.table_hash == self.table_hash && h.stamp == stamp && len == expected_len).then_some(
            CachedFeatures {
                path,
                n_mels: h.n_mels,
                frames: h.frames,
            },
        )
    }

    /// Computes `wav`'s features with the front end and stores them atomically.
    pub fn compute(
        &self,
        frontend: &Frontend,
        wav: &Path,
    ) -> Result<(CachedFeatures, Features), DataError> {
        let stamp = WavStamp::of(wav)?;
        self.compute_stamped(frontend, wav, stamp)
    }

    fn compute_stamped(
        &self,
        frontend: &Frontend,
        wav: &Path,
        stamp: WavStamp,
    ) -> Result<(CachedFeatures, Features), DataError> {
        let features = frontend
            .features_from_wav_file(wav)
            .map_err(|e| DataError::BadWav {
                path: wav.to_path_buf(),
                reason: e.problem.to_string(),
            })?;
        let path = self.entry_path(wav);
        self.write_atomic(&path, stamp, &features)?;
        Ok((
            CachedFeatures {
                path,
                n_mels: features.n_mels,
                frames: features.frames,
            },
            features,
        ))
    }

    /// A valid entry for `wav`, computing it on a miss; the flag says whether it was a hit.
    pub fn get_or_compute(
        &self,
        frontend: &Frontend,
        wav: &Path,
    ) -> Result<(CachedFeatures, bool), DataError> {
        let stamp = WavStamp::of(wav)?;
        if let Some(hit) = self.lookup_stamped(wav, stamp) {
            return Ok((hit, true));
        }
        self.compute_stamped(frontend, wav, stamp)
            .map(|(c, _)| (c, false))
    }

    /// Makes every wav's entry valid, on all cores, with a progress bar when `progress` is set.
    /// One result per wav, in order.
    pub fn ensure_all(
        &self,
        frontend: &Frontend,
        wavs: &[PathBuf],
        progress: bool,
    ) -> (Vec<Result<CachedFeatures, DataError>>, CacheStats) {
        let bar = if progress {
            let bar = ProgressBar::new(wavs.len() as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "features {bar:40} {pos}/{len} wavs ({eta} left) {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        let results: Vec<Result<(CachedFeatures, bool), DataError>> = wavs
            .par_iter()
            .map(|wav| {
                let r = self.get_or_compute(frontend, wav);
                bar.inc(1);
                r
            })
            .collect();
        bar.finish_and_clear();
        let mut stats = CacheStats::default();
        let results = results
            .into_iter()
            .map(|r| {
                match &r {
                    Ok((_, true)) => stats.hits += 1,
                    Ok((_, false)) => stats.computed += 1,
                    Err(_) => stats.failed += 1,
                }
                r.map(|(c, _)| c)
            })
            .collect();
        (results, stats)
    }

    fn write_atomic(&self, path: &Path, stamp: WavStamp, f: &Features) -> Result<(), DataError> {
        let parent = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent).map_err(|e| cache_error(parent, format!("cannot create the folder: {e} (use another cache folder if this one is read-only)")))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + 4 * f.data.len());
        bytes.extend_from_slice(MAGIC);
        let mut hash = [0u8; HASH_LEN];
        hash[..self.table_hash.len()].copy_from_slice(self.table_hash.as_bytes());
        bytes.extend_from_slice(&hash);
        bytes.extend_from_slice(&stamp.size.to_le_bytes());
        bytes.extend_from_slice(&stamp.mtime_s.to_le_bytes());
        bytes.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
        bytes.extend_from_slice(&(f.n_mels as u32).to_le_bytes());
        bytes.extend_from_slice(&(f.frames as u32).to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        for v in &f.data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let tmp = parent.join(format!(
            ".{}.tmp-{}-{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("feat"),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::File::create(&tmp)
            .and_then(|mut file| file.write_all(&bytes))
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(cache_error(path, format!("cannot write: {e}")));
        }
        Ok(())
    }
}

fn cache_error(path: &Path, reason: String) -> DataError {
    DataError::Cache {
        path: path.to_path_buf(),
        reason,
    }
}

struct Header {
    table_hash: String,
    stamp: WavStamp,
    n_mels: usize,
    frames: usize,
}

impl Header {
    fn parse(b: &[u8; HEADER_LEN]) -> Option<Self> {
        if &b[..8] != MAGIC {
            return None;
        }
        let hash = &b[8..8 + HASH_LEN];
        let end = hash.iter().position(|&c| c == 0).unwrap_or(HASH_LEN);
        let table_hash = std::str::from_utf8(&hash[..end]).ok()?.to_string();
        let at = 8 + HASH_LEN;
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        Some(Self {
            table_hash,
            stamp: WavStamp {
                size: u64_at(at),
                mtime_s: u64_at(at + 8) as i64,
                mtime_ns: u32_at(at + 16),
            },
            n_mels: u32_at(at + 20) as usize,
            frames: u32_at(at + 24) as usize,
        })
    }
}

/// Reads a cache file written by [`FeatureCache`] (any table hash).
pub fn read_features(path: &Path) -> Result<Features, DataError> {
    let bytes = fs::read(path).map_err(|e| cache_error(path, format!("cannot read: {e}")))?;
    let header: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| cache_error(path, "file shorter than its header".into()))?;
    let h = Header::parse(header)
        .ok_or_else(|| cache_error(path, "not a feature file (bad magic)".into()))?;
    let n = h.n_mels * h.frames;
    if bytes.len() != HEADER_LEN + 4 * n {
        return Err(cache_error(
            path,
            format!(
                "holds {} bytes, the header promises {} ({}×{} floats)",
                bytes.len(),
                HEADER_LEN + 4 * n,
                h.n_mels,
                h.frames
            ),
        ));
    }
    let data = bytes[HEADER_LEN..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Features {
        n_mels: h.n_mels,
        frames: h.frames,
        data,
    })
}
