use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::frontend::{Frontend, FrontendConfig};
use crate::input_file::{open_regular, read_bounded, Links, OpenError};

/// Manifest format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";
/// Largest manifest read (a real one is a few KB: a file list and figures).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Largest model file read (the paper preset's networks are a few tens of MB; a board has to
/// hold every file of one precision in memory at once).
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// Unique name of this export, e.g. `default-edge-2026-11-24`.
    pub bundle_id: String,
    /// Model preset: `edge`, `paper`, or a custom name.
    pub preset: String,
    pub frontend: FrontendStamp,
    pub files: Vec<ModelFile>,
    #[serde(default)]
    pub hyper_parameters: BTreeMap<String, serde_json::Value>,
    pub provenance: Provenance,
    /// Evaluation figures measured at export (name → value), e.g. `sen_map`.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// The front end a bundle's models were trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendStamp {
    pub config: FrontendConfig,
    pub table_hash: String,
}

impl FrontendStamp {
    pub fn of(frontend: &Frontend) -> Self {
        Self {
            config: frontend.config().clone(),
            table_hash: frontend.table_hash().to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SpeechEncoder,
    GeneratorStage1,
    GeneratorStage2,
    GeneratorStage3,
}

impl Role {
    /// Generator stage number (1-based), if this is a generator stage.
    pub fn stage(self) -> Option<u8> {
        match self {
            Role::SpeechEncoder => None,
            Role::GeneratorStage1 => Some(1),
            Role::GeneratorStage2 => Some(2),
            Role::GeneratorStage3 => Some(3),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    F32,
    I64,
    I32,
    I8,
    U8,
}

/// A dimension: fixed, or named and chosen at run time (e.g. the number of speech frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(u64),
    Symbol(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub role: Role,
    /// Path relative to the bundle folder.
    pub path: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub precision: Precision,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Dataset name or path the models were trained on.
    pub dataset: String,
    pub seed: u64,
    /// Training steps per network, e.g. {"sen": 12000, "rdg": 40000}.
    #[serde(default)]
    pub steps: BTreeMap<String, u64>,
    /// Version of the `s2i-host` that exported the bundle.
    pub exporter: String,
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Why a bundle cannot be used. Every variant names the manifest or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read the manifest: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A link, a device, a FIFO or a folder where a bundle file should be: refused before it
    /// is read.
    #[error("{path}: {problem}; a bundle holds regular files only, inside its folder")]
    NotAFile { path: PathBuf, problem: OpenError },
    /// A manifest or model file larger than the board reads.
    #[error("{path}: {size} bytes, more than the {limit} bytes a bundle's {what} may have")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
        what: &'static str,
    },
    #[error("{path}: not a valid manifest: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: manifest format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("{path}: listed in the manifest but cannot be read: {source}")]
    MissingFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: SHA-256 is {actual}, the manifest says {expected}: the file is corrupted or was replaced")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: the bundle's front end differs from this build's ({differences}); {tables}. Re-export the bundle with this version of s2i-host")]
    FrontendMismatch {
        path: PathBuf,
        differences: String,
        /// How the two builds' tables compare, by hash.
        tables: String,
    },
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lower-case hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_reader(std::fs::File::open(path)?)
}

fn sha256_reader(mut file: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Turns a refusal to open a bundle file into the manifest's error for it: `missing` when the
/// file cannot be read at all.
fn bundle_file_error(
    path: PathBuf,
    e: OpenError,
    missing: impl FnOnce(PathBuf, std::io::Error) -> ManifestError,
) -> ManifestError {
    let what = if path.ends_with(MANIFEST_FILE) {
        "manifest"
    } else {
        "model file"
    };
    match e {
        OpenError::Io(source) => missing(path, source),
        OpenError::TooLarge { size, limit } => ManifestError::TooLarge {
            path,
            size,
            limit,
            what,
        },
        problem => ManifestError::NotAFile { path, problem },
    }
}

/// `bundle/relative` when every folder between the two is a real folder (not a link): a
/// manifest's paths name files of the bundle itself, wherever the bundle folder is.
fn inside(bundle: &Path, relative: &str) -> Result<PathBuf, ManifestError> {
    let mut path = bundle.to_path_buf();
    let components: Vec<_> = Path::new(relative).components().collect();
    for (i, c) in components.iter().enumerate() {
        path.push(c);
        if i + 1 == components.len() {
            break;
        }
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if !meta.is_dir() {
                let problem = if meta.file_type().is_symlink() {
                    OpenError::Symlink(std::fs::read_link(&path).ok())
                } else {
                    OpenError::Special(crate::input_file::describe(meta.file_type()))
                };
                return Err(ManifestError::NotAFile { path, problem });
            }
        }
    }
    Ok(path)
}

impl Manifest {
    /// Reads `<bundle>/manifest.json` and checks that it is well formed (not the files: see
    /// [`Manifest::verify_files`]).
    pub fn read(bundle: &Path) -> Result<Self, ManifestError> {
        let path = bundle.join(MANIFEST_FILE);
        let bytes = read_bounded(&path, Links::Refuse, MAX_MANIFEST_BYTES).map_err(|e| {
            bundle_file_error(path.clone(), e, |path, source| ManifestError::Read {
                path,
                source,
            })
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ManifestError::Invalid {
            path: path.clone(),
            problem: "the manifest is not UTF-8 text".into(),
        })?;
        Self::parse(&text, &path)
    }

    /// Parses manifest JSON; `path` labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        // Check the version first, so a future format gets a version error, not a parse error.
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|source| ManifestError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if let Some(found) = raw.get("format_version").and_then(|v| v.as_u64()) {
            if found != FORMAT_VERSION as u64 {
                return Err(ManifestError::Version {
                    path: path.to_path_buf(),
                    found: found.min(u32::MAX as u64) as u32,
                });
            }
        }
        let manifest: Manifest =
            serde_json::from_value(raw).map_err(|source| ManifestError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Structural checks: one speech encoder, generator stages 1..=n without gaps, safe relative
    /// paths, well-formed hashes, named tensors with shapes.
    pub fn validate(&self, path: &Path) -> Result<(), ManifestError> {
        let invalid = |problem: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        if self.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version {
                path: path.to_path_buf(),
                found: self.format_version,
            });
        }
        if self.bundle_id.trim().is_empty() {
            return Err(invalid("bundle_id is empty".into()));
        }
        if !is_sha256_hex(&self.frontend.table_hash) {
            return Err(invalid(format!(
                "frontend.table_hash {:?} is not a 64-digit lower-case hex SHA-256",
                self.frontend.table_hash
            )));
        }
        self.frontend
            .config
            .validate()
            .map_err(|e| invalid(format!("frontend.config: {e}")))?;
        // Each precision a bundle carries (f32 always; int8 beside it when exported) is a whole
        // model: one speech encoder and generator stages 1..=n, the same n for every precision.
        if !self.files.iter().any(|f| f.precision == Precision::F32) {
            return Err(invalid(
                "the bundle has no f32 files (f32 is the reference every board can run)".into(),
            ));
        }
        let mut stage_count = None;
        for precision in [Precision::F32, Precision::Int8] {
            let files: Vec<&ModelFile> = self
                .files
                .iter()
                .filter(|f| f.precision == precision)
                .collect();
            if files.is_empty() {
                continue;
            }
            let name = precision.name();
            let encoders = files
                .iter()
                .filter(|f| f.role == Role::SpeechEncoder)
                .count();
            if encoders != 1 {
                return Err(invalid(format!(
                    "expected exactly one {name} speech_encoder file, found {encoders}"
                )));
            }
            let mut stages: Vec<u8> = files.iter().filter_map(|f| f.role.stage()).collect();
            stages.sort_unstable();
            if stages.is_empty() || stages != (1..=stages.len() as u8).collect::<Vec<_>>() {
                return Err(invalid(format!(
                    "{name} generator stages must be 1..=n, each once; found {stages:?}"
                )));
            }
            match stage_count {
                Some(n) if n != stages.len() => {
                    return Err(invalid(format!(
                        "the {name} generator has {} stages, the f32 one {n}",
                        stages.len()
                    )))
                }
                _ => stage_count = Some(stages.len()),
            }
        }
        for f in &self.files {
            let p = Path::new(&f.path);
            if f.path.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(invalid(format!(
                    "file path {:?} must be relative and stay inside the bundle",
                    f.path
                )));
            }
            if !is_sha256_hex(&f.sha256) {
                return Err(invalid(format!(
                    "{}: sha256 {:?} is not a 64-digit lower-case hex digest",
                    f.path, f.sha256
                )));
            }
            if f.inputs.is_empty() || f.outputs.is_empty() {
                return Err(invalid(format!(
                    "{}: inputs and outputs must be listed",
                    f.path
                )));
            }
            for t in f.inputs.iter().chain(&f.outputs) {
                if t.name.is_empty() || t.shape.is_empty() {
                    return Err(invalid(format!(
                        "{}: every tensor needs a name and a shape",
                        f.path
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks every listed file is a regular file of the bundle (no link, device or pipe,
    /// at most [`MAX_MODEL_BYTES`]) with the recorded SHA-256.
    pub fn verify_files(&self, bundle: &Path) -> Result<(), ManifestError> {
        for f in &self.files {
            let (path, file) = Self::open_file(bundle, f)?;
            let actual = sha256_reader(file).map_err(|source| ManifestError::MissingFile {
                path: path.clone(),
                source,
            })?;
            Self::compare_hash(path, f, actual)?;
        }
        Ok(())
    }

    /// The bytes of one listed file, read once and checked against its SHA-256: what is then
    /// parsed is exactly what was verified.
    pub fn read_file(&self, bundle: &Path, f: &ModelFile) -> Result<Vec<u8>, ManifestError> {
        let (path, file) = Self::open_file(bundle, f)?;
        let mut bytes = Vec::new();
        file.take(MAX_MODEL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ManifestError::MissingFile {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_MODEL_BYTES {
            return Err(ManifestError::TooLarge {
                path,
                size: bytes.len() as u64,
                limit: MAX_MODEL_BYTES,
                what: "model file",
            });
        }
        Self::compare_hash(path, f, hex(&Sha256::digest(&bytes)))?;
        Ok(bytes)
    }

    fn open_file(bundle: &Path, f: &ModelFile) -> Result<(PathBuf, std::fs::File), ManifestError> {
        let path = inside(bundle, &f.path)?;
        let (file, size) = open_regular(&path, Links::Refuse).map_err(|e| {
            bundle_file_error(path.clone(), e, |path, source| ManifestError::MissingFile {
                path,
                source,
            })
        })?;
        if size > MAX_MODEL_BYTES {
            return Err(ManifestError::TooLarge {
                path,
                size,
                limit: MAX_MODEL_BYTES,
                what: "model file",
            });
        }
        Ok((path, file))
    }

    fn compare_hash(path: PathBuf, f: &ModelFile, actual: String) -> Result<(), ManifestError> {
        if actual != f.sha256 {
            return Err(ManifestError::HashMismatch {
                path,
                expected: f.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Refuses a bundle whose front end differs from `frontend` (this build's).
    pub fn check_frontend(&self, frontend: &Frontend, bundle: &Path) -> Result<(), ManifestError> {
        let ours = FrontendStamp::of(frontend);
        if ours == self.frontend {
            return Ok(());
        }
        let a = serde_json::to_value(&ours.config).unwrap_or_default();
        let b = serde_json::to_value(&self.frontend.config).unwrap_or_default();
        let mut differences: Vec<String> = match (a.as_object(), b.as_object()) {
            (Some(a), Some(b)) => a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "{k}: bundle {} vs ours {v}",
                        b.get(k).cloned().unwrap_or_default()
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        if differences.is_empty() {
            differences.push("same parameters, different tables".into());
        }
        // The hash covers the parameters too, so equal hashes mean the manifest's parameters were
        // changed after export: printing the same hash twice as "ours" and "theirs" would mislead.
        let tables = if ours.table_hash == self.frontend.table_hash {
            format!(
                "its table hash is this build's own ({}), so its front-end parameters were edited after export",
                ours.table_hash
            )
        } else {
            format!(
                "this build's tables hash to {}, the bundle's to {}",
                ours.table_hash, self.frontend.table_hash
            )
        };
        Err(ManifestError::FrontendMismatch {
            path: bundle.join(MANIFEST_FILE),
            differences: differences.join("; "),
            tables,
        })
    }

    /// Everything the board checks before loading: structure, front end, file hashes.
    pub fn load_verified(bundle: &Path, frontend: &Frontend) -> Result<Self, ManifestError> {
        let manifest = Self::read(bundle)?;
        manifest.check_frontend(frontend, bundle)?;
        manifest.verify_files(bundle)?;
        Ok(manifest)
    }

    /// The f32 file of `role`.
    pub fn file(&self, role: Role) -> Option<&ModelFile> {
        self.file_for(role, Precision::F32)
    }

    pub fn file_for(&self, role: Role, precision: Precision) -> Option<&ModelFile> {
        self.files
            .iter()
            .find(|f| f.role == role && f.precision == precision)
    }

    /// Whether the bundle also carries an int8 model.
    pub fn has_int8(&self) -> bool {
        self.files.iter().any(|f| f.precision == Precision::Int8)
    }

    pub fn generator_stages(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.role.stage().is_some() && f.precision == Precision::F32)
            .count()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serialises")
    }
}
