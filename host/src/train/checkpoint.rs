//! Checkpoints: named tensors plus a JSON header in one safetensors file, written atomically.
//!
//! The file is written beside its destination, flushed to disk, then renamed over it: a crash,
//! Ctrl-C or a full disk mid-write leaves the previous checkpoint as it was.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

/// Why a checkpoint could not be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable checkpoint ({problem})")]
    Corrupt { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    Mismatch { path: PathBuf, problem: String },
}

/// What a checkpoint holds: tensors by name and a JSON header (kind, preset, config, progress).
pub struct Checkpoint {
    pub header: Value,
    pub tensors: BTreeMap<String, Tensor>,
}

const HEADER_KEY: &str = "s2i";

impl Checkpoint {
    pub fn new(header: Value) -> Self {
        Self {
            header,
            tensors: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, name: impl Into<String>, tensor: &Tensor) {
        self.tensors.insert(
            name.into(),
            tensor.detach().to_device(Device::Cpu).contiguous(),
        );
    }

    pub fn extend(&mut self, named: impl IntoIterator<Item = (String, Tensor)>) {
        for (name, t) in named {
            self.insert(name, &t);
        }
    }

    /// Writes `path` atomically (temporary sibling, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, t) in &self.tensors {
            let (dtype, bytes) = tensor_bytes(t).map_err(|problem| CheckpointError::Mismatch {
                path: path.to_path_buf(),
                problem: format!("tensor `{name}`: {problem}"),
            })?;
            let shape = t.size().iter().map(|&d| d as usize).collect();
            owned.push((name.clone(), dtype, shape, bytes));
        }
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
            .iter()
            .map(|(n, d, s, b)| {
                let view = safetensors::tensor::TensorView::new(*d, s.clone(), b)
                    .expect("shape and byte length agree");
                (n.clone(), view)
            })
            .collect();
        let mut info = HashMap::new();
        info.insert(HEADER_KEY.to_string(), self.header.to_string());
        let bytes =
            safetensors::serialize(views, Some(info)).map_err(|e| CheckpointError::Corrupt {
                path: path.to_path_buf(),
                problem: e.to_string(),
            })?;
        write_atomically(path, &bytes).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |problem: String| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            problem,
        };
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let header = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(HEADER_KEY))
            .ok_or_else(|| corrupt("no s2igan-edge header: not one of our checkpoints".into()))?;
        let header: Value =
            serde_json::from_str(header).map_err(|e| corrupt(format!("header: {e}")))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::F64 => Kind::Double,
                Dtype::I64 => Kind::Int64,
                other => return Err(corrupt(format!("tensor `{name}` has dtype {other:?}"))),
            };
            let t = Tensor::from_data_size(view.data(), &shape, kind);
            tensors.insert(name, t);
        }
        Ok(Self { header, tensors })
    }

    /// Removes and returns the tensor `name`, or a mismatch error naming it.
    pub fn take(&mut self, path: &Path, name: &str) -> Result<Tensor, CheckpointError> {
        self.tensors
            .remove(name)
            .ok_or_else(|| CheckpointError::Mismatch {
                path: path.to_path_buf(),
                problem: format!("tensor `{name}` is missing"),
            })
    }

    /// Copies every variable of `vs` from the tensors under `prefix`, checking names and shapes
    /// both ways, so a checkpoint of another preset or network is refused, not half-loaded.
    pub fn load_into(
        &self,
        path: &Path,
        prefix: &str,
        vs: &tch::nn::VarStore,
    ) -> Result<(), CheckpointError> {
        let mismatch = |problem: String| CheckpointError::Mismatch {
            path: path.to_path_buf(),
            problem,
        };
        let vars = vs.variables();
        for (name, var) in &vars {
            let key = format!("{prefix}{name}");
            let saved = self
                .tensors
                .get(&key)
                .ok_or_else(|| mismatch(format!("tensor `{key}` is missing")))?;
            if saved.size() != var.size() {
                return Err(mismatch(format!(
                    "tensor `{key}` has shape {:?} but this model expects {:?} (another preset?)",
                    saved.size(),
                    var.size()
                )));
            }
            let mut var = var.shallow_clone();
            tch::no_grad(|| var.copy_(saved));
        }
        if let Some(extra) = self
            .tensors
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .find(|k| !vars.contains_key(*k))
        {
            return Err(mismatch(format!(
                "tensor `{prefix}{extra}` is not part of this model (another preset?)"
            )));
        }
        Ok(())
    }
}

/// All variables of `vs` (trainable and buffers) under `prefix`.
pub fn named_variables(prefix: &str, vs: &tch::nn::VarStore) -> Vec<(String, Tensor)> {
    vs.variables()
        .into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect()
}

fn tensor_bytes(t: &Tensor) -> Result<(Dtype, Vec<u8>), String> {
    let t = t.contiguous();
    let n = t.numel();
    match t.kind() {
        Kind::Float => {
            let mut v = vec![0f32; n];
            t.copy_data(&mut v, n);
            Ok((Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        }
        Kind::Double => {
            let mut v = vec![0f64; n];
            t.copy_data(&mut v, n);
            Ok((Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        }
        Kind::Int64 => {
            let mut v = vec![0i64; n];
            t.copy_data(&mut v, n);
            Ok((Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        }
        other => Err(format!("unsupported dtype {other:?}")),
    }
}

/// Writes `bytes` to `path` through a temporary sibling and a rename; the old file survives any
/// failure before the rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tch::nn;

    #[test]
    fn round_trip_keeps_tensors_and_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let mut ck = Checkpoint::new(json!({"kind": "test", "epoch": 3}));
        ck.insert("a", &Tensor::from_slice(&[1.5f32, -2.0]).view([1, 2]));
        ck.insert("b", &Tensor::from_slice(&[7i64]));
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.header["epoch"], 3);
        assert_eq!(back.tensors["a"].size(), vec![1, 2]);
        assert_eq!(
            Vec::<f32>::try_from(back.tensors["a"].flatten(0, -1)).unwrap(),
            [1.5, -2.0]
        );
        assert_eq!(back.tensors["b"].int64_value(&[0]), 7);
        assert!(!dir.path().join(".ck.safetensors.partial").exists());
    }

    #[test]
    fn corrupted_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let mut ck = Checkpoint::new(json!({}));
        ck.insert("a", &Tensor::zeros([64], (Kind::Float, Device::Cpu)));
        ck.save(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, &bytes).unwrap();
        let err = Checkpoint::load(&path).err().unwrap().to_string();
        assert!(err.contains("ck.safetensors"), "{err}");
        assert!(err.contains("not a readable checkpoint"), "{err}");
    }

    #[test]
    fn shape_mismatch_names_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let small = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(small.root() / "l", 2, 3, Default::default());
        let mut ck = Checkpoint::new(json!({}));
        ck.extend(named_variables("model/", &small));
        ck.save(&path).unwrap();
        let big = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(big.root() / "l", 2, 4, Default::default());
        let err = Checkpoint::load(&path)
            .unwrap()
            .load_into(&path, "model/", &big)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("model/l.") && err.contains("another preset"),
            "{err}"
        );
    }

    #[test]
    fn failed_write_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.bin");
        write_atomically(&path, b"old").unwrap();
        // A directory where the temporary file should go makes the write fail.
        std::fs::create_dir(dir.path().join(".ck.bin.partial")).unwrap();
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
