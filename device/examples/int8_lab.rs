//! Which standard-ONNX form of an int8 convolution does tract run on integer kernels *and* faster
//! than its own f32 path? Builds ONNX graphs in memory (random, BN-folded-looking weights at the
//! edge preset's sizes), calibrates activation scales on an f32 run, then times every form
//! single-threaded (interleaved runs, median), checks it against f32, and dumps what tract's
//! optimised plan contains (op names, OptMatMul kernels and fused micro-ops) plus a per-op
//! profile.
//!
//! `cargo run -p s2i-device --example int8_lab [-- FILTER] [--runs N] [--profile] [--plan]`
//! (FILTER matches the benchmark names: chain32x64, chain64x32, chain16x128, edge-g).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;

#[path = "lab/common.rs"]
mod common;
use common::{attr_int, attr_ints, attr_str, median, Rng};

const FLOAT: i32 = 1;
const INT8: i32 = 3;
const INT32: i32 = 6;

// ---------------------------------------------------------------------------------------------
// Forms

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    /// Conv(x, W f32, B f32).
    F32,
    /// QuantizeLinear(s8) → QLinearConv(s8 W, per-channel w_scale, i32 bias) → DequantizeLinear.
    QLinearPerChannel,
    /// Same, but the weight zero point given as one scalar 0 (per-channel scales kept).
    QLinearPerChannelScalarZp,
    /// Same with one weight scale for the whole tensor.
    QLinearPerTensor,
    /// QuantizeLinear(s8) → QLinearConv(x_scale 1, w_scale 1, y_scale T, i32 bias) →
    /// DequantizeLinear(per-channel s_x·s_w[c]·T, axis 1): the per-channel part moved into the DQ.
    QLinearScaleInDq,
    /// QuantizeLinear(s8) → ConvInteger(s8, s8, no zero points) → Cast f32 → Mul[c] → Add[c].
    ConvIntegerCastMulAdd,
    /// QuantizeLinear(s8) → ConvInteger → DequantizeLinear(i32, per-channel scale, axis 1) → Add.
    ConvIntegerDq,
    /// ConvIntegerDq with the input quantised by Mul(1/s_x) → Round → Clip(±127) → Cast(int8)
    /// instead of QuantizeLinear.
    ConvIntegerDqRoundCast,
    /// DynamicQuantizeLinear(u8, zp) → ConvInteger(u8 with zp, s8) → Cast → Mul(s·s_w[c]) → Add.
    DynamicConvInteger,
    /// Not valid ONNX (y_zero_point i32): QLinearConv with unit scales and i32 output, bias fused,
    /// then DequantizeLinear(i32, per-channel, axis 1).
    QLinearI32OutNonStd,
}

const ALL_FORMS: [Form; 10] = [
    Form::F32,
    Form::QLinearPerChannel,
    Form::QLinearPerChannelScalarZp,
    Form::QLinearPerTensor,
    Form::QLinearScaleInDq,
    Form::ConvIntegerCastMulAdd,
    Form::ConvIntegerDq,
    Form::ConvIntegerDqRoundCast,
    Form::DynamicConvInteger,
    Form::QLinearI32OutNonStd,
];

// ---------------------------------------------------------------------------------------------
// Layers and their calibration

#[derive(Clone)]
struct ConvLayer {
    id: usize,
    cin: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    /// ONNX pads [top, left, bottom, right].
    pads: [i64; 4],
    w: Vec<f32>,
    b: Vec<f32>,
}

#[derive(Clone, Debug, Default)]
struct Calib {
    in_absmax: f32,
    out_absmax: Vec<f32>,
}

// ---------------------------------------------------------------------------------------------
// Graph builder

struct G {
    form: Form,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    counter: usize,
    calib: Option<HashMap<usize, Calib>>,
    /// Conv input/output names per layer id (for the calibration model).
    probes: Vec<(usize, String, String)>,
    quantized: HashMap<String, Vec<String>>,
}

fn quantize_sym(v: f32, scale: f32, lo: f32, hi: f32) -> f32 {
    (v / scale).round_ties_even().clamp(lo, hi)
}

impl G {
    fn new(form: Form, calib: Option<HashMap<usize, Calib>>) -> G {
        G {
            form,
            nodes: vec![],
            inits: vec![],
            counter: 0,
            calib,
            probes: vec![],
            quantized: HashMap::new(),
        }
    }
    fn fresh(&mut self, p: &str) -> String {
        self.counter += 1;
        format!("{p}_{}", self.counter)
    }
    fn init(&mut self, p: &str, dt: i32, dims: &[i64], raw: Vec<u8>) -> String {
        let name = self.fresh(p);
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: dt,
            raw_data: raw,
            ..Default::default()
        });
        name
    }
    fn f32s(&mut self, p: &str, dims: &[i64], v: &[f32]) -> String {
        self.init(
            p,
            FLOAT,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }
    fn i8s(&mut self, p: &str, dims: &[i64], v: &[i8]) -> String {
        self.init(p, INT8, dims, v.iter().map(|x| *x as u8).collect())
    }
    fn i32s(&mut self, p: &str, dims: &[i64], v: &[i32]) -> String {
        self.init(
            p,
            INT32,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        n_out: usize,
        attrs: Vec<pb::AttributeProto>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..n_out).map(|_| self.fresh(op)).collect();
        let name = self.fresh(&format!("{op}_node"));
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name,
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            attribute: attrs,
            ..Default::default()
        });
        outs
    }
    fn n1(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        self.node(op, inputs, 1, attrs).remove(0)
    }

    fn glu(&mut self, x: &str) -> String {
        let ab = self.node("Split", &[x], 2, vec![attr_int("axis", 1)]);
        let s = self.n1("Sigmoid", &[&ab[1]], vec![]);
        self.n1("Mul", &[&ab[0], &s], vec![])
    }

    fn conv_attrs(l: &ConvLayer) -> Vec<pb::AttributeProto> {
        vec![
            attr_ints("kernel_shape", &[l.kh as i64, l.kw as i64]),
            attr_ints("pads", &l.pads),
            attr_ints("strides", &[1, 1]),
        ]
    }

    /// Input quantisation shared by the convolutions reading the same tensor.
    fn quantize_input(&mut self, x: &str, sx: f32) -> Vec<String> {
        let key = format!("{x}/{:?}", self.form);
        if let Some(q) = self.quantized.get(&key) {
            return q.clone();
        }
        let q = if self.form == Form::DynamicConvInteger {
            self.node("DynamicQuantizeLinear", &[x], 3, vec![])
        } else if self.form == Form::ConvIntegerDqRoundCast {
            let inv = self.f32s("inv_sx", &[], &[1.0 / sx]);
            let lo = self.f32s("lo", &[], &[-127.0]);
            let hi = self.f32s("hi", &[], &[127.0]);
            let m = self.n1("Mul", &[x, &inv], vec![]);
            let r = self.n1("Round", &[&m], vec![]);
            let c = self.n1("Clip", &[&r, &lo, &hi], vec![]);
            let q = self.n1("Cast", &[&c], vec![attr_int("to", INT8 as i64)]);
            vec![q, String::new(), String::new()]
        } else {
            let s = self.f32s("sx", &[], &[sx]);
            let z = self.i8s("zx", &[], &[0]);
            vec![self.n1("QuantizeLinear", &[x, &s, &z], vec![]), s, z]
        };
        self.quantized.insert(key, q.clone());
        q
    }

    fn conv(&mut self, x: &str, l: &ConvLayer) -> String {
        let wdims = [l.cout as i64, l.cin as i64, l.kh as i64, l.kw as i64];
        let cdims = [1, l.cout as i64, 1, 1];
        let per_out = l.cin * l.kh * l.kw;
        if self.form == Form::F32 {
            let w = self.f32s("w", &wdims, &l.w);
            let b = self.f32s("b", &[l.cout as i64], &l.b);
            let y = self.n1("Conv", &[x, &w, &b], Self::conv_attrs(l));
            self.probes.push((l.id, x.to_string(), y.clone()));
            return y;
        }
        let cal = self.calib.as_ref().expect("calibration")[&l.id].clone();
        let sx = cal.in_absmax.max(1e-8) / 127.0;
        // Weight scales: per output channel or one for the whole tensor.
        let per_tensor = self.form == Form::QLinearPerTensor;
        let wmax: Vec<f32> = (0..l.cout)
            .map(|o| {
                l.w[o * per_out..(o + 1) * per_out]
                    .iter()
                    .fold(0f32, |m, v| m.max(v.abs()))
            })
            .collect();
        let sw: Vec<f32> = if per_tensor {
            let m = wmax.iter().cloned().fold(0f32, f32::max) / 127.0;
            vec![m; l.cout]
        } else {
            wmax.iter().map(|m| m.max(1e-12) / 127.0).collect()
        };
        let wq: Vec<i8> =
            l.w.iter()
                .enumerate()
                .map(|(i, v)| quantize_sym(*v, sw[i / per_out], -127.0, 127.0) as i8)
                .collect();
        let wq = self.i8s("wq", &wdims, &wq);
        let ymax = cal
            .out_absmax
            .iter()
            .cloned()
            .fold(0f32, f32::max)
            .max(1e-8);
        let q = self.quantize_input(x, sx);
        let attrs = Self::conv_attrs(l);
        let y = match self.form {
            Form::QLinearPerChannel | Form::QLinearPerChannelScalarZp | Form::QLinearPerTensor => {
                let sy = ymax / 127.0;
                let bq: Vec<i32> = (0..l.cout)
                    .map(|o| (l.b[o] / (sx * sw[o])).round() as i32)
                    .collect();
                let bq = self.i32s("bq", &[l.cout as i64], &bq);
                let (ws, wz) = if per_tensor {
                    (self.f32s("sw", &[], &sw[..1]), self.i8s("zw", &[], &[0]))
                } else if self.form == Form::QLinearPerChannelScalarZp {
                    (
                        self.f32s("sw", &[l.cout as i64], &sw),
                        self.i8s("zw", &[], &[0]),
                    )
                } else {
                    (
                        self.f32s("sw", &[l.cout as i64], &sw),
                        self.i8s("zw", &[l.cout as i64], &vec![0; l.cout]),
                    )
                };
                let ys = self.f32s("sy", &[], &[sy]);
                let yz = self.i8s("zy", &[], &[0]);
                let yq = self.n1(
                    "QLinearConv",
                    &[&q[0], &q[1], &q[2], &wq, &ws, &wz, &ys, &yz, &bq],
                    attrs,
                );
                self.n1("DequantizeLinear", &[&yq, &ys, &yz], vec![])
            }
            Form::QLinearScaleInDq => {
                // acc_c + bq_c in integer units; T is one divisor for all channels.
                let accmax = (0..l.cout)
                    .map(|o| cal.out_absmax[o] / (sx * sw[o]))
                    .fold(0f32, f32::max);
                let t = (accmax / 127.0).max(1e-6);
                let bq: Vec<i32> = (0..l.cout)
                    .map(|o| (l.b[o] / (sx * sw[o])).round() as i32)
                    .collect();
                let bq = self.i32s("bq", &[l.cout as i64], &bq);
                let one = self.f32s("one", &[], &[1.0]);
                let zw = self.i8s("zw", &[], &[0]);
                let ts = self.f32s("T", &[], &[t]);
                let yz = self.i8s("zy", &[], &[0]);
                let xone = self.f32s("one", &[], &[1.0]);
                let yq = self.n1(
                    "QLinearConv",
                    &[&q[0], &xone, &q[2], &wq, &one, &zw, &ts, &yz, &bq],
                    attrs,
                );
                let dqs: Vec<f32> = (0..l.cout).map(|o| sx * sw[o] * t).collect();
                let dqs = self.f32s("dqs", &[l.cout as i64], &dqs);
                self.n1("DequantizeLinear", &[&yq, &dqs], vec![attr_int("axis", 1)])
            }
            Form::ConvIntegerCastMulAdd | Form::ConvIntegerDq | Form::ConvIntegerDqRoundCast => {
                let acc = self.n1("ConvInteger", &[&q[0], &wq], attrs);
                let s: Vec<f32> = sw.iter().map(|w| w * sx).collect();
                let y = if self.form == Form::ConvIntegerCastMulAdd {
                    let s = self.f32s("scale", &cdims, &s);
                    let f = self.n1("Cast", &[&acc], vec![attr_int("to", FLOAT as i64)]);
                    self.n1("Mul", &[&f, &s], vec![])
                } else {
                    let s = self.f32s("scale", &[l.cout as i64], &s);
                    self.n1("DequantizeLinear", &[&acc, &s], vec![attr_int("axis", 1)])
                };
                let b = self.f32s("b", &cdims, &l.b);
                self.n1("Add", &[&y, &b], vec![])
            }
            Form::DynamicConvInteger => {
                let acc = self.n1("ConvInteger", &[&q[0], &wq, &q[2]], attrs);
                let sw = self.f32s("sw", &cdims, &sw);
                let s = self.n1("Mul", &[&q[1], &sw], vec![]);
                let f = self.n1("Cast", &[&acc], vec![attr_int("to", FLOAT as i64)]);
                let y = self.n1("Mul", &[&f, &s], vec![]);
                let b = self.f32s("b", &cdims, &l.b);
                self.n1("Add", &[&y, &b], vec![])
            }
            Form::QLinearI32OutNonStd => {
                let bq: Vec<i32> = (0..l.cout)
                    .map(|o| (l.b[o] / (sx * sw[o])).round() as i32)
                    .collect();
                let bq = self.i32s("bq", &[l.cout as i64], &bq);
                let one = self.f32s("one", &[], &[1.0]);
                let zw = self.i8s("zw", &[], &[0]);
                let yz = self.i32s("zy", &[], &[0]);
                let acc = self.n1(
                    "QLinearConv",
                    &[&q[0], &one, &q[2], &wq, &one, &zw, &one, &yz, &bq],
                    attrs,
                );
                let s: Vec<f32> = sw.iter().map(|w| w * sx).collect();
                let s = self.f32s("scale", &[l.cout as i64], &s);
                self.n1("DequantizeLinear", &[&acc, &s], vec![attr_int("axis", 1)])
            }
            Form::F32 => unreachable!(),
        };
        self.probes.push((l.id, x.to_string(), y.clone()));
        y
    }

    fn model(&self, inputs: &[(&str, Vec<i64>)], outputs: &[String]) -> Vec<u8> {
        let vi = |name: &str, dims: Option<&[i64]>| pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: FLOAT,
                    shape: dims.map(|d| pb::TensorShapeProto {
                        dim: d
                            .iter()
                            .map(|v| pb::tensor_shape_proto::Dimension {
                                value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(*v)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "int8_lab".into(),
            graph: Some(pb::GraphProto {
                name: "g".into(),
                node: self.nodes.clone(),
                initializer: self.inits.clone(),
                input: inputs.iter().map(|(n, d)| vi(n, Some(d))).collect(),
                output: outputs.iter().map(|n| vi(n, None)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

// ---------------------------------------------------------------------------------------------
// Networks

fn make_layer(
    rng: &mut Rng,
    id: usize,
    cin: usize,
    cout: usize,
    k: (usize, usize),
    pads: [i64; 4],
) -> ConvLayer {
    let fan_in = (cin * k.0 * k.1) as f32;
    let std = (2.0 / fan_in).sqrt();
    let per_out = cin * k.0 * k.1;
    let mut w = Vec::with_capacity(cout * per_out);
    let mut b = Vec::with_capacity(cout);
    for _ in 0..cout {
        // BN folding scales each output channel by γ/σ: spread the channels' magnitudes.
        let g = (0.5 * rng.normal()).exp();
        for _ in 0..per_out {
            w.push(rng.normal() * std * g);
        }
        b.push(0.1 * rng.normal());
    }
    ConvLayer {
        id,
        cin,
        cout,
        kh: k.0,
        kw: k.1,
        pads,
        w,
        b,
    }
}

struct Net {
    name: String,
    inputs: Vec<(String, Vec<i64>)>,
    layers: Vec<ConvLayer>,
    /// Builds the graph with the given builder, returns the output names.
    build: fn(&mut G, &[ConvLayer], &[String]) -> Vec<String>,
    /// For PSNR: outputs in [-1, 1].
    images: bool,
}

fn chain_net(side: i64, c: usize, seed: u64) -> Net {
    let mut rng = Rng(seed);
    let layers = (0..3)
        .map(|i| make_layer(&mut rng, i, c, 2 * c, (3, 3), [1, 1, 1, 1]))
        .collect();
    Net {
        name: format!("chain{side}x{c}"),
        inputs: vec![("x".into(), vec![1, c as i64, side, side])],
        layers,
        build: |g, layers, inputs| {
            let mut x = inputs[0].clone();
            for l in layers {
                let y = g.conv(&x, l);
                x = g.glu(&y);
            }
            vec![x]
        },
        images: false,
    }
}

/// "upsample ×2 + 3×3 conv" as four 2×2 convolutions (phase (a, b) pads [1-a, 1-b, a, b]) on the
/// low-resolution input, concatenated in DCR order and put in place by DepthToSpace.
fn up_layers(rng: &mut Rng, next_id: &mut usize, cin: usize, cout: usize) -> Vec<ConvLayer> {
    let mut v = vec![];
    for a in 0..2i64 {
        for b in 0..2i64 {
            v.push(make_layer(
                rng,
                *next_id,
                cin,
                cout,
                (2, 2),
                [1 - a, 1 - b, a, b],
            ));
            *next_id += 1;
        }
    }
    v
}

fn up_block(g: &mut G, x: &str, phases: &[ConvLayer]) -> String {
    let ys: Vec<String> = phases.iter().map(|l| g.conv(x, l)).collect();
    let refs: Vec<&str> = ys.iter().map(|s| s.as_str()).collect();
    let cat = g.n1("Concat", &refs, vec![attr_int("axis", 1)]);
    let d2s = g.n1(
        "DepthToSpace",
        &[&cat],
        vec![attr_int("blocksize", 2), attr_str("mode", "DCR")],
    );
    g.glu(&d2s)
}

/// The edge generator's convolutions (ngf 16, two stages), after the fc: stage 1 256@4² → four
/// up-blocks → 16@64² → image 64²; stage 2 joins a 64-channel condition, one residual block, the
/// dense up-block to 8@128² and the 128² image.
fn edge_net(seed: u64) -> Net {
    let mut rng = Rng(seed);
    let mut id = 0;
    let mut layers = vec![];
    let mut ch = 256;
    for _ in 0..4 {
        layers.extend(up_layers(&mut rng, &mut id, ch, ch)); // conv ch → 2·(ch/2)
        ch /= 2;
    }
    let mut single = |rng: &mut Rng, cin, cout| {
        let l = make_layer(rng, id, cin, cout, (3, 3), [1, 1, 1, 1]);
        id += 1;
        l
    };
    layers.push(single(&mut rng, 16, 3)); // 16: to_image 1
    layers.push(single(&mut rng, 80, 32)); // 17: join
    layers.push(single(&mut rng, 16, 32)); // 18: res conv1
    layers.push(single(&mut rng, 16, 16)); // 19: res conv2
    layers.extend(up_layers(&mut rng, &mut id, 32, 16)); // 20..23: stage 2 up
    layers.push(make_layer(&mut rng, id, 8, 3, (3, 3), [1, 1, 1, 1])); // 24: to_image 2
    Net {
        name: "edge-g".into(),
        inputs: vec![
            ("h0".into(), vec![1, 256, 4, 4]),
            ("cond".into(), vec![1, 64, 64, 64]),
        ],
        layers,
        build: |g, l, inputs| {
            let mut h = inputs[0].clone();
            for k in 0..4 {
                h = up_block(g, &h, &l[4 * k..4 * k + 4]);
            }
            let i1 = g.conv(&h, &l[16]);
            let img1 = g.n1("Tanh", &[&i1], vec![]);
            let joined = g.n1("Concat", &[&inputs[1], &h], vec![attr_int("axis", 1)]);
            let j = g.conv(&joined, &l[17]);
            let r = g.glu(&j);
            let t = g.conv(&r, &l[18]);
            let t = g.glu(&t);
            let t = g.conv(&t, &l[19]);
            let r = g.n1("Add", &[&r, &t], vec![]);
            let u = g.n1("Concat", &[&r, &h], vec![attr_int("axis", 1)]);
            let h2 = up_block(g, &u, &l[20..24]);
            let i2 = g.conv(&h2, &l[24]);
            let img2 = g.n1("Tanh", &[&i2], vec![]);
            vec![img1, img2]
        },
        images: true,
    }
}

// ---------------------------------------------------------------------------------------------
// tract

fn load(bytes: &[u8], inputs: &[(String, Vec<i64>)]) -> TractResult<TypedModel> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &*bytes)?;
    for (i, (_, d)) in inputs.iter().enumerate() {
        let shape: Vec<usize> = d.iter().map(|v| *v as usize).collect();
        model = model.with_input_fact(i, f32::fact(&shape).into())?;
    }
    model.into_optimized()
}

fn random_inputs(net: &Net, seed: u64) -> TVec<TValue> {
    let mut rng = Rng(seed);
    net.inputs
        .iter()
        .map(|(_, d)| {
            let shape: Vec<usize> = d.iter().map(|v| *v as usize).collect();
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, v)
                .unwrap()
                .into_tvalue()
        })
        .collect()
}

fn calibrate(net: &Net, inputs: &TVec<TValue>) -> TractResult<HashMap<usize, Calib>> {
    let mut g = G::new(Form::F32, None);
    let names: Vec<String> = net.inputs.iter().map(|(n, _)| n.clone()).collect();
    let _ = (net.build)(&mut g, &net.layers, &names);
    let mut outs = vec![];
    for (_, x, y) in &g.probes {
        outs.push(x.clone());
        outs.push(y.clone());
    }
    let ins: Vec<(&str, Vec<i64>)> = net
        .inputs
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let bytes = g.model(&ins, &outs);
    let plan = TypedSimplePlan::new(load(&bytes, &net.inputs)?)?;
    let res = plan.run(inputs.clone())?;
    let mut calib = HashMap::new();
    for (i, (id, _, _)) in g.probes.iter().enumerate() {
        let x = res[2 * i]
            .to_plain_array_view::<f32>()?
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        let y = res[2 * i + 1].to_plain_array_view::<f32>()?;
        let c = y.shape()[1];
        let mut om = vec![0f32; c];
        for (idx, v) in y.indexed_iter() {
            om[idx[1]] = om[idx[1]].max(v.abs());
        }
        calib.insert(
            *id,
            Calib {
                in_absmax: x,
                out_absmax: om,
            },
        );
    }
    Ok(calib)
}

struct Built {
    form: Form,
    plan: Arc<TypedSimplePlan>,
    ops: BTreeMap<String, usize>,
    mm: Vec<String>,
}

fn summarise(model: &TypedModel) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut ops = BTreeMap::new();
    let mut mm = vec![];
    for n in model.nodes() {
        if n.op_is::<tract_core::ops::konst::Const>() {
            continue;
        }
        let dt = n
            .outputs
            .first()
            .map(|o| format!("{:?}", o.fact.datum_type))
            .unwrap_or_default();
        let name = format!("{}→{}", n.op().name(), dt);
        *ops.entry(name).or_insert(0) += 1;
        if n.op().name() == "OptMatMul" {
            let info = n.op().info().unwrap_or_default().join(" | ");
            mm.push(format!("{}: {}", n.name, info));
        }
    }
    (ops, mm)
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn psnr(a: &[f32], b: &[f32]) -> f64 {
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (4.0 / mse.max(1e-30)).log10()
}

fn profile(
    plan: &Arc<TypedSimplePlan>,
    inputs: &TVec<TValue>,
    runs: usize,
) -> TractResult<Vec<(String, f64)>> {
    let by_name = std::env::var("INT8LAB_NODES").is_ok();
    let model = plan.model();
    let mut acc: HashMap<String, f64> = HashMap::new();
    for (id, ms) in common::node_times(plan, inputs, 0, runs)? {
        let node = model.node(id);
        let key = if by_name {
            format!("{}[{}]", node.op().name(), node.name)
        } else {
            node.op().name().to_string()
        };
        *acc.entry(key).or_default() += ms;
    }
    let mut v: Vec<(String, f64)> = acc.into_iter().collect();
    v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    Ok(v)
}

fn bench(net: &Net, runs: usize, show_plan: bool, do_profile: bool) -> TractResult<()> {
    let inputs = random_inputs(net, 7);
    let calib = calibrate(net, &inputs)?;
    let names: Vec<String> = net.inputs.iter().map(|(n, _)| n.clone()).collect();
    let ins: Vec<(&str, Vec<i64>)> = net
        .inputs
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let mut built = vec![];
    for form in ALL_FORMS {
        let mut g = G::new(form, Some(calib.clone()));
        let outs = (net.build)(&mut g, &net.layers, &names);
        let bytes = g.model(&ins, &outs);
        match load(&bytes, &net.inputs) {
            Ok(model) => {
                let (ops, mm) = summarise(&model);
                built.push(Built {
                    form,
                    plan: TypedSimplePlan::new(model)?,
                    ops,
                    mm,
                });
            }
            Err(e) => println!("{} {:?}: REFUSED: {e:#}", net.name, form),
        }
    }
    // Reference outputs and warm-up.
    let mut outputs = vec![];
    for b in &built {
        let o = b.plan.run(inputs.clone())?;
        for _ in 0..2 {
            b.plan.run(inputs.clone())?;
        }
        outputs.push(o);
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; built.len()];
    let mut states: Vec<TypedSimpleState> = built
        .iter()
        .map(|b| TypedSimpleState::new(&b.plan))
        .collect::<TractResult<_>>()?;
    for _ in 0..runs {
        for (i, st) in states.iter_mut().enumerate() {
            let t = Instant::now();
            let _ = st.run(inputs.clone())?;
            times[i].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let f32_idx = built.iter().position(|b| b.form == Form::F32).unwrap();
    let t32 = median(&mut times[f32_idx].clone());
    println!(
        "\n== {} (median of {runs} interleaved runs, 1 thread) ==",
        net.name
    );
    for (i, b) in built.iter().enumerate() {
        let t = median(&mut times[i]);
        let mut errs = vec![];
        for (o, r) in outputs[i].iter().zip(outputs[f32_idx].iter()) {
            let o = o.to_plain_array_view::<f32>()?;
            let r = r.to_plain_array_view::<f32>()?;
            let (o, r): (Vec<f32>, Vec<f32>) =
                (o.iter().cloned().collect(), r.iter().cloned().collect());
            if net.images {
                errs.push(format!(
                    "rel {:.4} psnr {:.1} dB",
                    rel_err(&o, &r),
                    psnr(&o, &r)
                ));
            } else {
                errs.push(format!("rel {:.4}", rel_err(&o, &r)));
            }
        }
        println!(
            "{:<24} {:8.2} ms  x{:.2} vs f32   {}",
            format!("{:?}", b.form),
            t,
            t32 / t,
            errs.join("; ")
        );
        let ops: Vec<String> = b.ops.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        println!("    ops: {}", ops.join(", "));
        if show_plan {
            for m in b.mm.iter().take(3) {
                println!("    mm: {m}");
            }
        }
    }
    if do_profile {
        for b in &built {
            let p = profile(&b.plan, &inputs, 5)?;
            let total: f64 = p.iter().map(|x| x.1).sum();
            let top: Vec<String> = p
                .iter()
                .take(8)
                .map(|(k, t)| format!("{k} {t:.2}"))
                .collect();
            println!(
                "profile {:?}: total {total:.2} ms: {}",
                b.form,
                top.join(", ")
            );
        }
    }
    Ok(())
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 20;
    let mut filter = None;
    let mut show_plan = false;
    let mut do_profile = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--runs" => {
                runs = args[i + 1].parse()?;
                i += 1;
            }
            "--plan" => show_plan = true,
            "--profile" => do_profile = true,
            f => filter = Some(f.to_string()),
        }
        i += 1;
    }
    let nets = vec![
        chain_net(32, 64, 1),
        chain_net(64, 32, 2),
        chain_net(16, 128, 3),
        edge_net(4),
    ];
    for net in &nets {
        if filter
            .as_ref()
            .is_some_and(|f| !net.name.contains(f.as_str()))
        {
            continue;
        }
        bench(net, runs, show_plan, do_profile)?;
    }
    Ok(())
}
