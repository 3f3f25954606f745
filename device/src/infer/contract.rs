//! What `generate` and `run` take from a bundle's manifest, checked before anything is planned:
//! the hyper-parameters they read (with ranges derived from what the board can do) and the
//! tensor shapes that chain the networks together (the encoder's features are the front end's,
//! stage 1's noise is `z_dim` wide, each stage takes what the one before gives). The shapes were
//! compared with the ONNX files themselves when the bundle was opened; here they are compared
//! with each other and with the hyper-parameters, so a bundle that passes is one whose networks
//! fit together, and no size read from the manifest reserves memory beyond
//! [`MAX_TENSOR_ELEMENTS`].

use s2i_shared::bundle::{DType, Dim, Manifest, ModelFile, Precision, Role, TensorSpec};
use s2i_shared::frontend::FrontendConfig;

use super::bundle::spec_shape;

/// Widest noise vector (papers use 100; the edge preset 100).
pub const MAX_Z_DIM: u64 = 4096;
/// Widest sampled condition (the edge preset's is 64).
pub const MAX_CONDITION_DIM: u64 = 4096;
/// Most elements of one fixed-shape tensor a manifest may declare: 16 M f32 are 64 MB, a
/// 1024² picture with 16 feature channels.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 24;

/// The speech encoder input that marks padding (bundles exported since fixed-length plans).
pub const FRAME_MASK_INPUT: &str = "frame_mask";

/// The hyper-parameters the board uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hyper {
    /// Width of stage 1's noise input.
    pub z_dim: usize,
    /// Shortest utterance the speech encoder takes, in 10 ms frames.
    pub min_frames: usize,
    /// Width of the condition's ε input when the condition is sampled (`condition = "sample"`).
    pub sampled_condition: Option<usize>,
}

/// Most frames the front end makes of its longest accepted recording.
pub fn max_frames(frontend: &FrontendConfig) -> u64 {
    frontend.max_duration_ms as u64 * frontend.sample_rate as u64
        / 1000
        / frontend.hop_length.max(1) as u64
        + 1
}

fn number(
    value: Option<&serde_json::Value>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("hyper_parameters.{key} is missing"))?;
    match value.as_u64() {
        Some(v) if range.contains(&v) => Ok(v),
        _ => Err(format!(
            "hyper_parameters.{key} = {value} is not a whole number in {}..={}",
            range.start(),
            range.end()
        )),
    }
}

impl Hyper {
    pub fn from_manifest(manifest: &Manifest, frontend: &FrontendConfig) -> Result<Self, String> {
        let h = &manifest.hyper_parameters;
        let generator = h.get("generator");
        if generator.is_some_and(|g| !g.is_object()) {
            return Err("hyper_parameters.generator is not an object".into());
        }
        let field = |key: &str| generator.and_then(|g| g.get(key));
        let z_dim = number(field("z_dim"), "generator.z_dim", 1..=MAX_Z_DIM)?;
        let min_frames = number(h.get("min_frames"), "min_frames", 1..=max_frames(frontend))?;
        let sampled_condition = match h.get("condition") {
            None => None,
            Some(c) if c.as_str() == Some("mean") => None,
            Some(c) if c.as_str() == Some("sample") => Some(number(
                field("condition_dim"),
                "generator.condition_dim",
                1..=MAX_CONDITION_DIM,
            )? as usize),
            Some(other) => {
                return Err(format!(
                    "hyper_parameters.condition = {other} is neither \"mean\" nor \"sample\""
                ))
            }
        };
        Ok(Self {
            z_dim: z_dim as usize,
            min_frames: min_frames as usize,
            sampled_condition,
        })
    }
}

fn fixed(dims: &[u64]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Fixed(d)).collect()
}

/// Checks that `spec` is f32, has fixed dimensions only, and is not too large.
fn bounded(file: &ModelFile, kind: &str, spec: &TensorSpec) -> Result<(), String> {
    let what = || {
        format!(
            "{}: {kind} {} is {}",
            file.path,
            spec.name,
            spec_shape(spec)
        )
    };
    if spec.dtype != DType::F32 {
        return Err(format!("{}; the board feeds and reads f32 only", what()));
    }
    let mut elements: u64 = 1;
    for d in &spec.shape {
        match d {
            Dim::Fixed(0) => return Err(format!("{}; a dimension of 0 holds nothing", what())),
            Dim::Fixed(n) => elements = elements.saturating_mul(*n),
            Dim::Symbol(_) => {
                return Err(format!(
                    "{}; only the speech encoder's frame axis may be named",
                    what()
                ))
            }
        }
    }
    if elements > MAX_TENSOR_ELEMENTS {
        return Err(format!(
            "{}: {elements} elements, more than the {MAX_TENSOR_ELEMENTS} a tensor may have here",
            what()
        ));
    }
    Ok(())
}

fn expect_shape(
    file: &ModelFile,
    kind: &str,
    spec: &TensorSpec,
    want: &[Dim],
    because: &str,
) -> Result<(), String> {
    if spec.shape == want {
        return Ok(());
    }
    let want = TensorSpec {
        shape: want.to_vec(),
        ..spec.clone()
    };
    Err(format!(
        "{}: {kind} {} is {}, but {because} makes it {}",
        file.path,
        spec.name,
        spec_shape(spec),
        spec_shape(&want)
    ))
}

fn count(file: &ModelFile, kind: &str, have: usize, want: usize) -> Result<(), String> {
    if have == want {
        return Ok(());
    }
    Err(format!(
        "{}: {have} {kind}s listed, the board feeds {want}",
        file.path
    ))
}

/// The networks of `precision` chain together and fit `hyper` and the front end. Returns the
/// stage files in order.
pub fn check_shapes<'m>(
    manifest: &'m Manifest,
    precision: Precision,
    hyper: &Hyper,
    frontend: &FrontendConfig,
) -> Result<(&'m ModelFile, Vec<&'m ModelFile>), String> {
    let encoder = manifest
        .file_for(Role::SpeechEncoder, precision)
        .ok_or_else(|| format!("the bundle has no {} speech encoder", precision.name()))?;
    let mut stages: Vec<&ModelFile> = manifest
        .files
        .iter()
        .filter(|f| f.precision == precision && f.role.stage().is_some())
        .collect();
    stages.sort_by_key(|f| f.role.stage());
    if stages.is_empty() {
        return Err(format!("the bundle has no {} generator", precision.name()));
    }

    // The encoder: [1, n_mels, frames] features (and a [1, 1, frames] mask) → [1, E].
    let masked = encoder.inputs.iter().any(|t| t.name == FRAME_MASK_INPUT);
    count(encoder, "input", encoder.inputs.len(), 1 + masked as usize)?;
    let frames = |s: &TensorSpec| match s.shape.get(2) {
        Some(Dim::Symbol(name)) => Dim::Symbol(name.clone()),
        _ => Dim::Symbol("frames".into()),
    };
    let features = &encoder.inputs[0];
    expect_shape(
        encoder,
        "input",
        features,
        &[
            Dim::Fixed(1),
            Dim::Fixed(frontend.n_mels as u64),
            frames(features),
        ],
        "the front end's mel bands and a free frame axis",
    )?;
    if let Some(mask) = encoder.inputs.get(1) {
        if mask.name != FRAME_MASK_INPUT {
            return Err(format!(
                "{}: the second input must be {FRAME_MASK_INPUT}, not {}",
                encoder.path, mask.name
            ));
        }
        expect_shape(
            encoder,
            "input",
            mask,
            &[Dim::Fixed(1), Dim::Fixed(1), frames(features)],
            "the features' frame axis",
        )?;
    }
    for t in &encoder.inputs {
        if t.dtype != DType::F32 {
            return Err(format!(
                "{}: input {} is {}; the board feeds f32 only",
                encoder.path,
                t.name,
                spec_shape(t)
            ));
        }
    }
    count(encoder, "output", encoder.outputs.len(), 1)?;
    let embedding = &encoder.outputs[0];
    bounded(encoder, "output", embedding)?;
    if embedding.shape.len() != 2 || embedding.shape[0] != Dim::Fixed(1) {
        return Err(format!(
            "{}: output {} is {}; an embedding is [1, width]",
            encoder.path,
            embedding.name,
            spec_shape(embedding)
        ));
    }

    // Each stage: [image, features, (condition: stage 1)] out; stage 1 takes the embedding,
    // the noise and (sampled) ε, the others the previous features and the condition.
    let first = stages[0];
    let mut previous: Option<&TensorSpec> = None;
    for (i, stage) in stages.iter().enumerate() {
        for t in stage.inputs.iter() {
            bounded(stage, "input", t)?;
        }
        for t in stage.outputs.iter() {
            bounded(stage, "output", t)?;
        }
        if i == 0 {
            count(
                stage,
                "input",
                stage.inputs.len(),
                2 + hyper.sampled_condition.is_some() as usize,
            )?;
            expect_shape(
                stage,
                "input",
                &stage.inputs[0],
                &embedding.shape,
                &format!("the speech encoder's {}", embedding.name),
            )?;
            expect_shape(
                stage,
                "input",
                &stage.inputs[1],
                &fixed(&[1, hyper.z_dim as u64]),
                &format!("hyper_parameters.generator.z_dim = {}", hyper.z_dim),
            )?;
            if let Some(dim) = hyper.sampled_condition {
                expect_shape(
                    stage,
                    "input",
                    &stage.inputs[2],
                    &fixed(&[1, dim as u64]),
                    &format!("hyper_parameters.generator.condition_dim = {dim}"),
                )?;
            }
            if stage.outputs.len() < 3 {
                return Err(format!(
                    "{}: {} outputs listed; stage 1 gives an image, features and the condition",
                    stage.path,
                    stage.outputs.len()
                ));
            }
        } else {
            count(stage, "input", stage.inputs.len(), 2)?;
            let before = previous.expect("set by the stage before");
            expect_shape(
                stage,
                "input",
                &stage.inputs[0],
                &before.shape,
                &format!("the features of stage {i}"),
            )?;
            expect_shape(
                stage,
                "input",
                &stage.inputs[1],
                &first.outputs[2].shape,
                "stage 1's condition",
            )?;
            if stage.outputs.len() < 2 {
                return Err(format!(
                    "{}: {} output(s) listed; a stage gives an image and its features",
                    stage.path,
                    stage.outputs.len()
                ));
            }
        }
        let image = &stage.outputs[0];
        let square = match image.shape.as_slice() {
            [Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(h), Dim::Fixed(w)] => h == w,
            _ => false,
        };
        if !square {
            return Err(format!(
                "{}: output {} is {}; a picture is [1, 3, side, side]",
                stage.path,
                image.name,
                spec_shape(image)
            ));
        }
        previous = Some(&stage.outputs[1]);
    }
    Ok((encoder, stages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/default")
            .join(s2i_shared::bundle::MANIFEST_FILE);
        Manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
    }

    fn frontend() -> FrontendConfig {
        FrontendConfig::default()
    }

    #[test]
    fn the_shipped_bundle_fits_together() {
        let m = manifest();
        let hyper = Hyper::from_manifest(&m, &frontend()).unwrap();
        assert_eq!(
            hyper,
            Hyper {
                z_dim: 100,
                min_frames: 16,
                sampled_condition: None
            }
        );
        for precision in [Precision::F32, Precision::Int8] {
            let (_, stages) = check_shapes(&m, precision, &hyper, &frontend()).unwrap();
            assert_eq!(stages.len(), 2);
        }
    }

    #[test]
    fn hyper_parameters_out_of_range_are_named() {
        let with = |edit: &dyn Fn(&mut Manifest)| {
            let mut m = manifest();
            edit(&mut m);
            Hyper::from_manifest(&m, &frontend()).unwrap_err()
        };
        let e = with(&|m| {
            m.hyper_parameters.get_mut("generator").unwrap()["z_dim"] =
                100_000_000_000_000u64.into()
        });
        assert_eq!(
            e,
            "hyper_parameters.generator.z_dim = 100000000000000 is not a whole number in 1..=4096"
        );
        let e = with(&|m| {
            m.hyper_parameters
                .insert("min_frames".into(), u64::MAX.into());
        });
        assert!(
            e.contains("min_frames = 18446744073709551615") && e.contains("1..=2001"),
            "{e}"
        );
        let e = with(&|m| {
            m.hyper_parameters.insert("min_frames".into(), (-3).into());
        });
        assert!(e.contains("min_frames = -3"), "{e}");
        let e = with(&|m| {
            m.hyper_parameters.insert("condition".into(), "max".into());
        });
        assert!(e.contains("neither"), "{e}");
        let e = with(&|m| {
            m.hyper_parameters.remove("generator");
        });
        assert_eq!(e, "hyper_parameters.generator.z_dim is missing");
    }

    #[test]
    fn shapes_that_do_not_chain_are_named() {
        let frontend = frontend();
        let refused = |edit: &dyn Fn(&mut Manifest)| {
            let mut m = manifest();
            edit(&mut m);
            let hyper = Hyper::from_manifest(&m, &frontend).unwrap();
            check_shapes(&m, Precision::F32, &hyper, &frontend).unwrap_err()
        };
        let e =
            refused(&|m| m.hyper_parameters.get_mut("generator").unwrap()["z_dim"] = 101.into());
        assert_eq!(
            e,
            "generator_stage1.onnx: input noise is f32 [1, 100], but \
             hyper_parameters.generator.z_dim = 101 makes it f32 [1, 101]"
        );
        let e = refused(&|m| m.files[2].inputs[0].shape[1] = Dim::Fixed(8));
        assert!(e.contains("the features of stage 1"), "{e}");
        let e = refused(&|m| m.files[1].outputs[0].shape[3] = Dim::Fixed(32));
        assert!(e.contains("[1, 3, side, side]"), "{e}");
        let e = refused(&|m| m.files[1].outputs[1].shape[1] = Dim::Fixed(u64::MAX));
        assert!(e.contains("more than the 16777216"), "{e}");
        let e = refused(&|m| m.files[0].inputs[0].shape[1] = Dim::Fixed(80));
        assert!(e.contains("mel bands"), "{e}");
        let e = refused(&|m| m.files[1].inputs[1].shape[0] = Dim::Symbol("batch".into()));
        assert!(e.contains("only the speech encoder's frame axis"), "{e}");
    }
}
