//! A frozen ImageNet Inception-v3 as the image backbone (spec §3), from a weights file the user
//! gives (`--inception-weights`): torchvision's `inception_v3_google` converted to a tch file
//! (`.safetensors` or `.ot`, the names `tch::vision::inception::v3` uses).
//!
//! The features are the spatial mean of Mixed_7c (2048-d). tch's network ends in a classifier,
//! so it is built with a 2048-way head set to the identity: in eval mode (no dropout) its output
//! is exactly the pooled features.

use std::path::{Path, PathBuf};

use tch::{nn, nn::ModuleT, Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum InceptionError {
    #[error("--inception-weights {path}: {problem}")]
    Weights { path: PathBuf, problem: String },
}

pub struct InceptionFeatures {
    _vs: nn::VarStore,
    net: Box<dyn ModuleT>,
}

impl std::fmt::Debug for InceptionFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InceptionFeatures")
    }
}

impl InceptionFeatures {
    pub const DIM: i64 = 2048;
    const INPUT: i64 = 299;

    /// Loads and checks every tensor by name and shape; the file's own `fc` head is ignored.
    pub fn load(path: &Path, device: Device) -> Result<Self, InceptionError> {
        let err = |problem: String| InceptionError::Weights {
            path: path.to_path_buf(),
            problem,
        };
        let named = match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Tensor::read_safetensors(path),
            _ => Tensor::load_multi(path),
        }
        .map_err(|e| err(format!("cannot read the file ({e})")))?;
        let file: std::collections::HashMap<String, Tensor> = named.into_iter().collect();

        let mut vs = nn::VarStore::new(device);
        let net = tch::vision::inception::v3(&vs.root(), Self::DIM);
        let vars = vs.variables();
        let mut missing = Vec::new();
        for (name, var) in &vars {
            if name.starts_with("fc.") {
                continue;
            }
            match file.get(name) {
                None => missing.push(name.clone()),
                Some(t) if t.size() != var.size() => {
                    return Err(err(format!(
                        "tensor `{name}` has shape {:?}, Inception-v3 needs {:?}",
                        t.size(),
                        var.size()
                    )))
                }
                Some(t) => {
                    let mut var = var.shallow_clone();
                    tch::no_grad(|| var.copy_(&t.to_kind(Kind::Float)));
                }
            }
        }
        if !missing.is_empty() {
            missing.sort();
            return Err(err(format!(
                "not Inception-v3 weights: {} of its {} tensors are missing (first: `{}`)",
                missing.len(),
                vars.len(),
                missing[0]
            )));
        }
        tch::no_grad(|| {
            let mut w = vars["fc.weight"].shallow_clone();
            w.copy_(&Tensor::eye(Self::DIM, (Kind::Float, device)));
            let mut b = vars["fc.bias"].shallow_clone();
            let _ = b.zero_();
        });
        vs.freeze();
        Ok(Self {
            _vs: vs,
            net: Box::new(net),
        })
    }

    /// The file's own ImageNet classifier (`fc.weight` `[1000, 2048]`, `fc.bias`), for the
    /// Inception Score; `None` when the file has no such head.
    pub fn classifier(
        path: &Path,
        device: Device,
    ) -> Result<Option<(Tensor, Tensor)>, InceptionError> {
        let named = match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Tensor::read_safetensors(path),
            _ => Tensor::load_multi(path),
        }
        .map_err(|e| InceptionError::Weights {
            path: path.to_path_buf(),
            problem: format!("cannot read the file ({e})"),
        })?;
        let mut w = None;
        let mut b = None;
        for (name, t) in named {
            match name.as_str() {
                "fc.weight" if t.size() == [1000, Self::DIM] => w = Some(t),
                "fc.bias" if t.size() == [1000] => b = Some(t),
                _ => {}
            }
        }
        Ok(w.zip(b).map(|(w, b)| {
            (
                w.to_kind(Kind::Float).to_device(device),
                b.to_kind(Kind::Float).to_device(device),
            )
        }))
    }

    /// `[B, 3, S, S]` in [-1, 1] (the range these Google-ported weights expect) → `[B, 2048]`.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let x = images.upsample_bilinear2d([Self::INPUT, Self::INPUT], false, None, None);
        self.net.forward_t(&x, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_other_tensors_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-inception.safetensors");
        Tensor::write_safetensors(
            &[(
                "conv.weight",
                Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)),
            )],
            &path,
        )
        .unwrap();
        let e = InceptionFeatures::load(&path, Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("not-inception.safetensors") && e.contains("missing"),
            "{e}"
        );
    }

    /// The Inception Score needs the file's own 1000-class head; a file without one gives None.
    #[test]
    fn the_classifier_head_is_read_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let opts = (Kind::Float, Device::Cpu);
        let with = dir.path().join("with.safetensors");
        Tensor::write_safetensors(
            &[
                ("fc.weight", Tensor::ones([1000, 2048], opts)),
                ("fc.bias", Tensor::zeros([1000], opts)),
            ],
            &with,
        )
        .unwrap();
        let (w, b) = InceptionFeatures::classifier(&with, Device::Cpu)
            .unwrap()
            .unwrap();
        assert_eq!((w.size(), b.size()), (vec![1000, 2048], vec![1000]));
        let without = dir.path().join("without.safetensors");
        Tensor::write_safetensors(&[("fc.bias", Tensor::zeros([1000], opts))], &without).unwrap();
        assert!(InceptionFeatures::classifier(&without, Device::Cpu)
            .unwrap()
            .is_none());
    }

    #[test]
    fn unreadable_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.ot");
        std::fs::write(&path, b"junk").unwrap();
        let e = InceptionFeatures::load(&path, Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("junk.ot") && e.contains("cannot read"), "{e}");
    }

    /// Weights with the right names load, and the output is the 2048-d pooled feature.
    #[test]
    fn right_tensors_load_and_give_pooled_features() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inception.safetensors");
        {
            let vs = nn::VarStore::new(Device::Cpu);
            let _ = tch::vision::inception::v3(&vs.root(), 1000);
            vs.save(&path).unwrap();
        }
        let inc = InceptionFeatures::load(&path, Device::Cpu).unwrap();
        let f =
            inc.forward(&(Tensor::rand([1, 3, 64, 64], (Kind::Float, Device::Cpu)) * 2.0 - 1.0));
        assert_eq!(f.size(), [1, 2048]);
        // Mixed_7c ends in ReLUs: pooled features are non-negative.
        assert!(f64::try_from(f.min()).unwrap() >= 0.0);
    }
}
