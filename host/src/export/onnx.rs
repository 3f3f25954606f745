//! A small ONNX graph writer over `tract_onnx::pb` (design decision 3): initialisers from tch
//! tensors, nodes with attributes, typed inputs and outputs with fixed or symbolic dimensions,
//! opset 17 and model metadata. Only standard-domain operators are written, so tract,
//! onnxruntime and `onnx.checker` all read the result.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use prost::Message;
use s2i_shared::bundle::Dim;
use tch::{Kind, Tensor};
use tract_onnx::pb;

/// The operator set every exported graph declares.
pub const OPSET: i64 = 17;
/// ONNX IR version matching opset 17.
pub const IR_VERSION: i64 = 8;

/// Element types the graphs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    I64,
    I32,
    I8,
    U8,
}

impl Elem {
    pub fn onnx(self) -> i32 {
        use pb::tensor_proto::DataType;
        (match self {
            Elem::F32 => DataType::Float,
            Elem::I64 => DataType::Int64,
            Elem::I32 => DataType::Int32,
            Elem::I8 => DataType::Int8,
            Elem::U8 => DataType::Uint8,
        }) as i32
    }
}

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Str(&'static str, String),
}

impl Attr {
    fn proto(&self) -> pb::AttributeProto {
        use pb::attribute_proto::AttributeType;
        let mut a = pb::AttributeProto::default();
        match self {
            Attr::Int(name, i) => {
                a.name = name.to_string();
                a.r#type = AttributeType::Int as i32;
                a.i = *i;
            }
            Attr::Ints(name, ints) => {
                a.name = name.to_string();
                a.r#type = AttributeType::Ints as i32;
                a.ints = ints.clone();
            }
            Attr::Float(name, f) => {
                a.name = name.to_string();
                a.r#type = AttributeType::Float as i32;
                a.f = *f;
            }
            Attr::Str(name, s) => {
                a.name = name.to_string();
                a.r#type = AttributeType::String as i32;
                a.s = s.as_bytes().to_vec();
            }
        }
        a
    }
}

fn value_info(name: &str, elem: Elem, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem.onnx(),
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Dim::Fixed(n) => Value::DimValue(*n as i64),
                                Dim::Symbol(s) => Value::DimParam(s.clone()),
                            }),
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

/// Builds one graph. Value names are unique; helpers return the name of what they produce.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    name: String,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    taken: HashSet<String>,
    /// How convolutions are written (f32, observed for calibration, int8).
    pub quant: super::quantize::QuantState,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// A fresh value name starting with `hint`.
    fn fresh(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut i = 1;
        while self.taken.contains(&name) {
            name = format!("{hint}_{i}");
            i += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Declares a graph input; its name is kept exactly (it is the bundle's interface).
    pub fn input(&mut self, name: &str, elem: Elem, dims: &[Dim]) -> String {
        assert!(
            self.taken.insert(name.to_string()),
            "duplicate input {name}"
        );
        self.inputs.push(value_info(name, elem, dims));
        name.to_string()
    }

    /// Declares `value` a graph output called `name` (an Identity bridges differing names).
    pub fn output(&mut self, value: &str, name: &str, elem: Elem, dims: &[Dim]) {
        let produced = if value == name {
            value.to_string()
        } else {
            assert!(
                self.taken.insert(name.to_string()),
                "duplicate output {name}"
            );
            self.nodes.push(pb::NodeProto {
                input: vec![value.to_string()],
                output: vec![name.to_string()],
                name: format!("{name}_identity"),
                op_type: "Identity".into(),
                ..Default::default()
            });
            name.to_string()
        };
        self.outputs.push(value_info(&produced, elem, dims));
    }

    /// Declares `value` an output called `name` whose shape is left to the runtime (calibration
    /// taps).
    pub fn output_open(&mut self, value: &str, name: &str, elem: Elem) {
        self.output(value, name, elem, &[]);
        if let Some(pb::type_proto::Value::TensorType(t)) = self
            .outputs
            .last_mut()
            .and_then(|o| o.r#type.as_mut())
            .and_then(|t| t.value.as_mut())
        {
            t.shape = None;
        }
    }

    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    fn initializer(&mut self, hint: &str, dims: Vec<i64>, elem: Elem, raw: Vec<u8>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(pb::TensorProto {
            dims,
            data_type: elem.onnx(),
            name: name.clone(),
            raw_data: raw,
            ..Default::default()
        });
        name
    }

    /// An f32 initialiser holding a tch tensor (any device, any float kind).
    pub fn weight(&mut self, hint: &str, t: &Tensor) -> String {
        let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float);
        let values = Vec::<f32>::try_from(t.contiguous().view([-1])).expect("a float tensor");
        self.f32s(hint, &t.size(), &values)
    }

    pub fn f32s(&mut self, hint: &str, dims: &[i64], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(hint, dims.to_vec(), Elem::F32, raw)
    }

    /// A 1-D i64 constant (shapes, axes, split sizes).
    pub fn i64s(&mut self, hint: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(hint, vec![values.len() as i64], Elem::I64, raw)
    }

    pub fn i32s(&mut self, hint: &str, dims: &[i64], values: &[i32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(hint, dims.to_vec(), Elem::I32, raw)
    }

    pub fn i8s(&mut self, hint: &str, dims: &[i64], values: &[i8]) -> String {
        let raw = values.iter().map(|&v| v as u8).collect();
        self.initializer(hint, dims.to_vec(), Elem::I8, raw)
    }

    /// A scalar f32 constant.
    pub fn scalar(&mut self, hint: &str, value: f32) -> String {
        self.f32s(hint, &[], &[value])
    }

    /// A node with one output, named from `hint`.
    pub fn node(&mut self, op: &str, hint: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        self.node_n(op, hint, inputs, 1, attrs).remove(0)
    }

    /// A node with `outputs` outputs (`Split`, `GRU`).
    pub fn node_n(
        &mut self,
        op: &str,
        hint: &str,
        inputs: &[&str],
        outputs: usize,
        attrs: &[Attr],
    ) -> Vec<String> {
        let names: Vec<String> = (0..outputs)
            .map(|i| {
                if outputs == 1 {
                    self.fresh(hint)
                } else {
                    self.fresh(&format!("{hint}_{i}"))
                }
            })
            .collect();
        let node_name = format!("{}_{}", names[0], op.to_lowercase());
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: names.clone(),
            name: node_name,
            op_type: op.to_string(),
            attribute: attrs.iter().map(Attr::proto).collect(),
            ..Default::default()
        });
        names
    }

    /// Bytes of initialiser data (the graph's weight size on disk).
    /// `Reshape` of `x` to the constant shape `dims`.
    pub fn reshape(&mut self, hint: &str, x: &str, dims: &[i64]) -> String {
        let shape = self.i64s(&format!("{hint}.shape"), dims);
        self.node("Reshape", hint, &[x, &shape], &[])
    }

    /// `Slice` of `x` by constant `starts`, `ends` and `axes` (the three as initialisers).
    pub fn slice(
        &mut self,
        hint: &str,
        x: &str,
        starts: &[i64],
        ends: &[i64],
        axes: &[i64],
    ) -> String {
        let starts = self.i64s(&format!("{hint}.starts"), starts);
        let ends = self.i64s(&format!("{hint}.ends"), ends);
        let axes = self.i64s(&format!("{hint}.axes"), axes);
        self.node("Slice", hint, &[x, &starts, &ends, &axes], &[])
    }

    /// The operator of every node so far, in order.
    pub fn op_types(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.op_type.as_str()).collect()
    }

    pub fn weight_bytes(&self) -> usize {
        self.initializers.iter().map(|t| t.raw_data.len()).sum()
    }

    /// The finished model with its metadata (`key`, `value`) pairs.
    pub fn finish(self, metadata: &[(&str, String)]) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "s2i-host".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: self.name,
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| pb::StringStringEntryProto {
                    key: k.to_string(),
                    value: v.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Serialises a model to `path`.
pub fn write_model(model: &pb::ModelProto, path: &Path) -> Result<()> {
    std::fs::write(path, model.encode_to_vec())
        .with_context(|| format!("cannot write {}", path.display()))
}
