//! Opening a bundle: the manifest is verified (structure, front end identical to this build's)
//! before any model is parsed; each file is read once as a regular file of the bundle, its
//! SHA-256 checked, and those very bytes are parsed by tract; then its inputs and outputs
//! (names, element types, shapes) are checked against the manifest.

use std::path::{Path, PathBuf};

use s2i_shared::bundle::{DType, Dim, Manifest, ManifestError, ModelFile, Role, TensorSpec};
use s2i_shared::frontend::Frontend;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{DimFact, Factoid};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: not a loadable ONNX model: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("{path}: the manifest lists {kind} {expected:?} but the model has {actual:?}")]
    Interface {
        path: PathBuf,
        kind: &'static str,
        expected: Vec<String>,
        actual: Vec<String>,
    },
    #[error(
        "{path}: {kind} {tensor}: the manifest says {expected} but the model declares {actual}"
    )]
    Shape {
        path: PathBuf,
        kind: &'static str,
        tensor: String,
        expected: String,
        actual: String,
    },
}

/// A verified bundle with its models parsed.
pub struct LoadedBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub models: Vec<(Role, InferenceModel)>,
}

impl LoadedBundle {
    pub fn open(dir: &Path, frontend: &Frontend) -> Result<Self, BundleError> {
        let manifest = Manifest::read(dir)?;
        manifest.check_frontend(frontend, dir)?;
        let models = manifest
            .files
            .iter()
            .map(|file| {
                let bytes = manifest.read_file(dir, file)?;
                Ok((file.role, load_model(dir, file, &bytes)?))
            })
            .collect::<Result<_, BundleError>>()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            models,
        })
    }

    pub fn model(&self, role: Role) -> Option<&InferenceModel> {
        self.models.iter().find(|(r, _)| *r == role).map(|(_, m)| m)
    }
}

fn outlet_names(model: &InferenceModel, outlets: &[OutletId]) -> Vec<String> {
    outlets
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect()
}

fn load_model(dir: &Path, file: &ModelFile, bytes: &[u8]) -> Result<InferenceModel, BundleError> {
    let path = dir.join(&file.path);
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| BundleError::Model {
            path: path.clone(),
            reason: format!("{e:#}"),
        })?;
    let check = |kind: &'static str, expected: Vec<String>, actual: Vec<String>| {
        if expected == actual {
            Ok(())
        } else {
            Err(BundleError::Interface {
                path: path.clone(),
                kind,
                expected,
                actual,
            })
        }
    };
    let inputs = model.input_outlets().map_err(|e| BundleError::Model {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    check(
        "inputs",
        file.inputs.iter().map(|t| t.name.clone()).collect(),
        outlet_names(&model, inputs),
    )?;
    let outputs = model.output_outlets().map_err(|e| BundleError::Model {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    // Output outlets are named by the node that produces them: compare with the graph's
    // declared output names instead, which tract keeps as outlet labels.
    let output_names: Vec<String> = outputs
        .iter()
        .map(|o| {
            model
                .outlet_label(*o)
                .map(str::to_string)
                .unwrap_or_else(|| model.node(o.node).name.clone())
        })
        .collect();
    check(
        "outputs",
        file.outputs.iter().map(|t| t.name.clone()).collect(),
        output_names,
    )?;
    for (kind, specs, outlets) in [
        ("input", &file.inputs, inputs),
        ("output", &file.outputs, outputs),
    ] {
        for (spec, outlet) in specs.iter().zip(outlets) {
            let fact = model.outlet_fact(*outlet).map_err(|e| BundleError::Model {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            compare(spec, fact).map_err(|(expected, actual)| BundleError::Shape {
                path: path.clone(),
                kind,
                tensor: spec.name.clone(),
                expected,
                actual,
            })?;
        }
    }
    Ok(model)
}

/// tract's element type for a manifest's.
pub fn datum_type(d: DType) -> DatumType {
    match d {
        DType::F32 => DatumType::F32,
        DType::I64 => DatumType::I64,
        DType::I32 => DatumType::I32,
        DType::I8 => DatumType::I8,
        DType::U8 => DatumType::U8,
    }
}

/// `[1, 40, frames]` for a manifest's tensor.
pub fn spec_shape(spec: &TensorSpec) -> String {
    let dims: Vec<String> = spec
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Symbol(s) => s.clone(),
        })
        .collect();
    let dtype = format!("{:?}", spec.dtype).to_lowercase();
    format!("{dtype} [{}]", dims.join(", "))
}

fn fact_shape(fact: &InferenceFact) -> String {
    let dims: Vec<String> = fact
        .shape
        .dims()
        .map(|d| d.concretize().map_or("?".to_string(), |d| d.to_string()))
        .collect();
    let open = if fact.shape.is_open() { ", .." } else { "" };
    let dtype = fact
        .datum_type
        .concretize()
        .map_or("?".to_string(), |t| format!("{t:?}").to_lowercase());
    format!("{dtype} [{}{open}]", dims.join(", "))
}

/// What the ONNX file declares against what the manifest says: element type, rank, and each
/// dimension (a fixed size must be the model's, a named one must be free in the model too).
/// What the file leaves unknown is left to the dry run (`s2i check`).
fn compare(spec: &TensorSpec, fact: &InferenceFact) -> Result<(), (String, String)> {
    let differ = || Err((spec_shape(spec), fact_shape(fact)));
    if let Some(t) = fact.datum_type.concretize() {
        if t != datum_type(spec.dtype) {
            return differ();
        }
    }
    let dims: Vec<&DimFact> = fact.shape.dims().collect();
    if (!fact.shape.is_open() && dims.len() != spec.shape.len()) || dims.len() > spec.shape.len() {
        return differ();
    }
    for (want, have) in spec.shape.iter().zip(dims) {
        let Some(have) = have.concretize() else {
            continue;
        };
        let fits = match *want {
            Dim::Fixed(n) => have.as_i64().and_then(|h| u64::try_from(h).ok()) == Some(n),
            Dim::Symbol(_) => have.as_i64().is_none(),
        };
        if !fits {
            return differ();
        }
    }
    Ok(())
}
