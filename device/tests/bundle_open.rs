//! Opening a bundle of real ONNX files (written with tract's protobuf types) with tract.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use s2i_device::infer::{BundleError, LoadedBundle};
use s2i_shared::bundle::*;
use s2i_shared::frontend::Frontend;
use tract_onnx::pb;
use tract_onnx::prelude::*;

fn value_info(name: &str, dims: &[pb::tensor_shape_proto::dimension::Value]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| pb::tensor_shape_proto::Dimension {
                            value: Some(d.clone()),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A one-node ONNX model: `output = op(input)`.
fn one_node_model(
    op: &str,
    input: pb::ValueInfoProto,
    output: pb::ValueInfoProto,
    attributes: Vec<pb::AttributeProto>,
) -> Vec<u8> {
    let node = pb::NodeProto {
        op_type: op.into(),
        name: format!("{op}_0"),
        input: vec![input.name.clone()],
        output: vec![output.name.clone()],
        attribute: attributes,
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "s2i-device tests".into(),
        graph: Some(pb::GraphProto {
            name: "g".into(),
            node: vec![node],
            input: vec![input],
            output: vec![output],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn write_bundle(dir: &Path) {
    use pb::tensor_shape_proto::dimension::Value::{DimParam, DimValue};
    let encoder = one_node_model(
        "ReduceMean",
        value_info(
            "features",
            &[DimValue(1), DimValue(40), DimParam("T".into())],
        ),
        value_info("embedding", &[DimValue(1), DimValue(40)]),
        vec![
            pb::AttributeProto {
                name: "axes".into(),
                r#type: pb::attribute_proto::AttributeType::Ints as i32,
                ints: vec![2],
                ..Default::default()
            },
            pb::AttributeProto {
                name: "keepdims".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 0,
                ..Default::default()
            },
        ],
    );
    let stage1 = one_node_model(
        "Tanh",
        value_info("embedding", &[DimValue(1), DimValue(40)]),
        value_info("image", &[DimValue(1), DimValue(40)]),
        vec![],
    );
    let spec = |name: &str, shape: Vec<Dim>| TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape,
    };
    let mut files = Vec::new();
    let frames = vec![Dim::Fixed(1), Dim::Fixed(40), Dim::Symbol("T".into())];
    let flat = vec![Dim::Fixed(1), Dim::Fixed(40)];
    for (role, name, bytes, input, input_shape, output) in [
        (
            Role::SpeechEncoder,
            "speech_encoder.onnx",
            encoder,
            "features",
            frames,
            "embedding",
        ),
        (
            Role::GeneratorStage1,
            "generator_stage1.onnx",
            stage1,
            "embedding",
            flat,
            "image",
        ),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
        files.push(ModelFile {
            role,
            path: name.into(),
            sha256: sha256_file(&dir.join(name)).unwrap(),
            precision: Precision::F32,
            inputs: vec![spec(input, input_shape)],
            outputs: vec![spec(output, vec![Dim::Fixed(1), Dim::Fixed(40)])],
        });
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        bundle_id: "tiny".into(),
        preset: "test".into(),
        frontend: FrontendStamp::of(&Frontend::default()),
        files,
        hyper_parameters: BTreeMap::new(),
        provenance: Provenance {
            dataset: "none".into(),
            seed: 0,
            steps: BTreeMap::new(),
            exporter: "test".into(),
            git_commit: None,
            created_at: None,
        },
        metrics: BTreeMap::new(),
    };
    std::fs::write(dir.join(MANIFEST_FILE), manifest.to_json_pretty()).unwrap();
}

#[test]
fn a_bundle_of_real_onnx_files_opens_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path());
    let frontend = Frontend::default();
    let bundle = LoadedBundle::open(dir.path(), &frontend).unwrap();
    assert_eq!(bundle.models.len(), 2);

    // Run the encoder on real features of a committed wav: the mean over time of each band.
    let wav = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/data/wav/yellow_bird_16k_s16.wav");
    let f = frontend.features_from_wav_file(&wav).unwrap();
    let model = bundle.model(Role::SpeechEncoder).unwrap().clone();
    let plan = model
        .with_input_fact(0, f32::fact([1, 40, f.frames]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array3::from_shape_vec((1, 40, f.frames), f.data.clone()).unwrap();
    let out = plan.run(tvec!(Tensor::from(input).into())).unwrap();
    let out = out[0].to_plain_array_view::<f32>().unwrap();
    for band in 0..40 {
        let want: f32 = (0..f.frames).map(|t| f.get(band, t)).sum::<f32>() / f.frames as f32;
        // CMVN'd features have zero mean per band.
        assert!(
            (out[[0, band]] - want).abs() < 1e-4 && want.abs() < 1e-3,
            "band {band}"
        );
    }
}

#[test]
fn a_manifest_whose_shapes_are_not_the_models_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path());
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let original = std::fs::read_to_string(&manifest_path).unwrap();
    let refused = |edit: &dyn Fn(&mut Manifest)| {
        let mut m: Manifest = serde_json::from_str(&original).unwrap();
        edit(&mut m);
        std::fs::write(&manifest_path, m.to_json_pretty()).unwrap();
        LoadedBundle::open(dir.path(), &Frontend::default())
            .err()
            .expect("refused")
            .to_string()
    };
    // A fixed size the model does not have, a named axis the model fixes, a fixed size for the
    // model's free axis, another rank, another element type. (Outputs are compared once tract
    // has planned the networks: `Pipeline`.)
    let e = refused(&|m| m.files[1].inputs[0].shape[1] = Dim::Fixed(41));
    assert!(
        e.ends_with("generator_stage1.onnx: input embedding: the manifest says f32 [1, 41] but the model declares f32 [1, 40]"),
        "{e}"
    );
    let e = refused(&|m| m.files[1].inputs[0].shape[1] = Dim::Symbol("width".into()));
    assert!(e.contains("the manifest says f32 [1, width]"), "{e}");
    let e = refused(&|m| m.files[0].inputs[0].shape[2] = Dim::Fixed(300));
    assert!(e.contains("the model declares f32 [1, 40, T]"), "{e}");
    let e = refused(&|m| m.files[1].inputs[0].shape.push(Dim::Fixed(1)));
    assert!(e.contains("the manifest says f32 [1, 40, 1]"), "{e}");
    let e = refused(&|m| m.files[0].inputs[0].dtype = DType::I64);
    assert!(
        e.contains("input features: the manifest says i64 [1, 40, T]"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_onnx_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path());
    let path = dir.path().join("generator_stage1.onnx");
    std::fs::write(&path, b"definitely not a protobuf \xff\xff\xff").unwrap();
    // Re-hash so the manifest check passes and tract itself must refuse the bytes.
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let mut m: Manifest = serde_json::from_str(&text).unwrap();
    m.files[1].sha256 = sha256_file(&path).unwrap();
    std::fs::write(&manifest_path, m.to_json_pretty()).unwrap();
    let err = LoadedBundle::open(dir.path(), &Frontend::default())
        .err()
        .expect("refused");
    assert!(matches!(err, BundleError::Model { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("generator_stage1.onnx: not a loadable ONNX model"),
        "{err}"
    );
}

#[test]
fn a_manifest_naming_the_wrong_tensors_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path());
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let mut m: Manifest =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    m.files[0].inputs[0].name = "mel".into();
    std::fs::write(&manifest_path, m.to_json_pretty()).unwrap();
    let err = LoadedBundle::open(dir.path(), &Frontend::default())
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("speech_encoder.onnx: the manifest lists inputs [\"mel\"] but the model has [\"features\"]"),
        "{err}"
    );
}
