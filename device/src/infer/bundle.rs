//! Opening a bundle: the manifest is verified (structure, front end identical to this build's,
//! SHA-256 of every file) before any model is parsed, then each ONNX file is loaded with tract
//! and its inputs and outputs are checked against the manifest.

use std::path::{Path, PathBuf};

use s2i_shared::bundle::{Manifest, ManifestError, ModelFile, Role};
use s2i_shared::frontend::Frontend;
use tract_onnx::prelude::*;

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
}

/// A verified bundle with its models parsed.
pub struct LoadedBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub models: Vec<(Role, InferenceModel)>,
}

impl LoadedBundle {
    pub fn open(dir: &Path, frontend: &Frontend) -> Result<Self, BundleError> {
        let manifest = Manifest::load_verified(dir, frontend)?;
        let models = manifest
            .files
            .iter()
            .map(|file| Ok((file.role, load_model(dir, file)?)))
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

fn load_model(dir: &Path, file: &ModelFile) -> Result<InferenceModel, BundleError> {
    let path = dir.join(&file.path);
    let model = tract_onnx::onnx()
        .model_for_path(&path)
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
    Ok(model)
}
