//! Which standard-ONNX form of the speech encoder's bidirectional GRU (hidden 128,
//! `linear_before_reset = 1`) does tract run fastest? Builds each form in memory with random
//! weights, loads it with tract (explicit input facts, the time axis either concrete or the
//! symbol `T` as in the exported encoder), checks it against the plain ONNX GRU (and that against
//! a plain Rust loop), and times interleaved single-threaded runs (median after warm-up).
//!
//! `cargo run --release -p s2i-device --example gru_lab [-- FILTER] [--runs N] [--profile]`
//! (FILTER matches the case names, e.g. `i128`, `t75`, `sym`).
//! `--masked-model FILE`: an exported encoder with a frame mask, symbolic vs fixed vs padded.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use prost::Message;
use s2i_device::infer::PADDED_LENGTH_STEP;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;

#[path = "lab/common.rs"]
mod common;
use common::{attr_int, attr_ints, attr_str, median, Rng};

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const HIDDEN: usize = 128;
/// The encoder's input bands (`--model`).
const N_MELS: usize = 40;

// ---------------------------------------------------------------------------------------------
// Weights in ONNX layout: W [2, 3H, I], R [2, 3H, H], B [2, 6H] (Wb ‖ Rb), gates (z, r, h).

struct Gru {
    input: usize,
    hidden: usize,
    w: Vec<f32>,
    r: Vec<f32>,
    b: Vec<f32>,
}

impl Gru {
    fn random(rng: &mut Rng, input: usize, hidden: usize) -> Gru {
        let a = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.sym(a)).collect::<Vec<f32>>();
        Gru {
            input,
            hidden,
            w: v(2 * 3 * hidden * input),
            r: v(2 * 3 * hidden * hidden),
            b: v(2 * 6 * hidden),
        }
    }
    /// W[dir] transposed: [I, 3H].
    fn wt(&self, dir: usize) -> Vec<f32> {
        let (i, g) = (self.input, 3 * self.hidden);
        let w = &self.w[dir * g * i..(dir + 1) * g * i];
        let mut t = vec![0f32; i * g];
        for row in 0..g {
            for col in 0..i {
                t[col * g + row] = w[row * i + col];
            }
        }
        t
    }
    /// R[dir] transposed: [H, 3H].
    fn rt(&self, dir: usize) -> Vec<f32> {
        let (h, g) = (self.hidden, 3 * self.hidden);
        let r = &self.r[dir * g * h..(dir + 1) * g * h];
        let mut t = vec![0f32; h * g];
        for row in 0..g {
            for col in 0..h {
                t[col * g + row] = r[row * h + col];
            }
        }
        t
    }
    fn wb(&self, dir: usize) -> &[f32] {
        let h = self.hidden;
        &self.b[dir * 6 * h..dir * 6 * h + 3 * h]
    }
    fn rb(&self, dir: usize) -> &[f32] {
        let h = self.hidden;
        &self.b[dir * 6 * h + 3 * h..(dir + 1) * 6 * h]
    }

    /// Plain f64 loop: x [T, I] → y [T, 2H] (forward ‖ backward).
    fn reference(&self, x: &[f32], t_len: usize) -> Vec<f32> {
        let (i_sz, h) = (self.input, self.hidden);
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut y = vec![0f32; t_len * 2 * h];
        for dir in 0..2 {
            let w = &self.w[dir * 3 * h * i_sz..(dir + 1) * 3 * h * i_sz];
            let r = &self.r[dir * 3 * h * h..(dir + 1) * 3 * h * h];
            let (wb, rb) = (self.wb(dir), self.rb(dir));
            let mut hs = vec![0f64; h];
            for step in 0..t_len {
                let t = if dir == 0 { step } else { t_len - 1 - step };
                let xt = &x[t * i_sz..(t + 1) * i_sz];
                let mut xw = vec![0f64; 3 * h];
                let mut rh = vec![0f64; 3 * h];
                for g in 0..3 * h {
                    xw[g] = wb[g] as f64
                        + (0..i_sz)
                            .map(|k| w[g * i_sz + k] as f64 * xt[k] as f64)
                            .sum::<f64>();
                    rh[g] = rb[g] as f64 + (0..h).map(|k| r[g * h + k] as f64 * hs[k]).sum::<f64>();
                }
                let mut next = vec![0f64; h];
                for j in 0..h {
                    let z = sig(xw[j] + rh[j]);
                    let rr = sig(xw[h + j] + rh[h + j]);
                    let n = (xw[2 * h + j] + rr * rh[2 * h + j]).tanh();
                    next[j] = (1.0 - z) * n + z * hs[j];
                }
                hs = next;
                for j in 0..h {
                    y[t * 2 * h + dir * h + j] = hs[j] as f32;
                }
            }
        }
        y
    }
}

// ---------------------------------------------------------------------------------------------
// Graph builder

fn attr_graph(name: &str, g: pb::GraphProto) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Graph as i32,
        g: Some(g),
        ..Default::default()
    }
}

/// A dimension: concrete, or a named symbol.
#[derive(Clone)]
enum D {
    N(i64),
    S(&'static str),
}

fn value_info(name: &str, dims: Option<&[D]>) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::dimension::Value;
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: dims.map(|d| pb::TensorShapeProto {
                    dim: d
                        .iter()
                        .map(|v| pb::tensor_shape_proto::Dimension {
                            value: Some(match v {
                                D::N(n) => Value::DimValue(*n),
                                D::S(s) => Value::DimParam(s.to_string()),
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

struct G {
    prefix: String,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    counter: usize,
}

impl G {
    fn new(prefix: &str) -> G {
        G {
            prefix: prefix.into(),
            nodes: vec![],
            inits: vec![],
            counter: 0,
        }
    }
    fn fresh(&mut self, p: &str) -> String {
        self.counter += 1;
        format!("{}{p}_{}", self.prefix, self.counter)
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
        assert_eq!(dims.iter().product::<i64>() as usize, v.len(), "{p}");
        self.init(
            p,
            FLOAT,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }
    fn i64s(&mut self, p: &str, v: &[i64]) -> String {
        self.init(
            p,
            INT64,
            &[v.len() as i64],
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
    /// Split along `axis` into pieces of the given sizes (opset 13: sizes as an input).
    fn split(&mut self, x: &str, axis: i64, sizes: &[i64]) -> Vec<String> {
        let s = self.i64s("split", sizes);
        self.node("Split", &[x, &s], sizes.len(), vec![attr_int("axis", axis)])
    }
    fn graph(
        &self,
        name: &str,
        inputs: Vec<pb::ValueInfoProto>,
        outputs: Vec<pb::ValueInfoProto>,
    ) -> pb::GraphProto {
        pb::GraphProto {
            name: name.into(),
            node: self.nodes.clone(),
            initializer: self.inits.clone(),
            input: inputs,
            output: outputs,
            ..Default::default()
        }
    }
}

fn model_bytes(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "gru_lab".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

// ---------------------------------------------------------------------------------------------
// Forms. Every form maps x [T, 1, I] (time-major, batch 1) to y [T, 1, 2H] (forward ‖ backward),
// as the exporter's GRU + Transpose + Reshape does.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    /// One bidirectional ONNX GRU, Transpose [0, 2, 1, 3], Reshape [0, 1, 2H] (the exporter's).
    OnnxGru,
    /// Two unidirectional ONNX GRUs (forward; reverse) on the same input, concatenated.
    TwoOnnxGrus,
    /// Projections X·Wᵀ + Wb for both directions as one MatMul outside; two Scans (the backward
    /// one with scan_input/output_directions 1) whose bodies do h·Rᵀ + Rb and the gates.
    HoistedTwoScans,
    /// Projections outside; one Scan carrying both directions as a [2, 1, H] state (the
    /// backward projections read in reverse), one batched MatMul against R [2, H, 3H].
    HoistedOneScan,
    /// As HoistedOneScan, but the backward projections are reversed outside (Slice step −1)
    /// and both directions enter as one scan input [T, 2, 1, 3H]; the backward output is
    /// reversed back outside.
    HoistedOneScanPreReversed,
}

const ALL_FORMS: [Form; 5] = [
    Form::OnnxGru,
    Form::TwoOnnxGrus,
    Form::HoistedTwoScans,
    Form::HoistedOneScan,
    Form::HoistedOneScanPreReversed,
];

/// The gates, given xw and rh (both [.., 3H] on `axis`, biases included) and h [.., H]:
/// z, r = σ(xw[:2H] + rh[:2H]); n = tanh(xw[2H:] + r ⊙ rh[2H:]); h' = n + z ⊙ (h − n).
fn gates(g: &mut G, xw: &str, rh: &str, h: &str, axis: i64) -> String {
    let hd = HIDDEN as i64;
    let xs = g.split(xw, axis, &[2 * hd, hd]);
    let rs = g.split(rh, axis, &[2 * hd, hd]);
    let zr0 = g.n1("Add", &[&xs[0], &rs[0]], vec![]);
    let zr = g.n1("Sigmoid", &[&zr0], vec![]);
    let zr = g.split(&zr, axis, &[hd, hd]);
    let rn = g.n1("Mul", &[&zr[1], &rs[1]], vec![]);
    let n0 = g.n1("Add", &[&xs[1], &rn], vec![]);
    let n = g.n1("Tanh", &[&n0], vec![]);
    let d = g.n1("Sub", &[h, &n], vec![]);
    let zd = g.n1("Mul", &[&zr[0], &d], vec![]);
    g.n1("Add", &[&n, &zd], vec![])
}

/// Both directions' input projections: x [T, 1, I] → [T, 1, 6H] (forward 3H ‖ backward 3H).
fn projections(g: &mut G, x: &str, gru: &Gru) -> String {
    let (i, h3) = (gru.input, 3 * gru.hidden);
    let (w0, w1) = (gru.wt(0), gru.wt(1));
    let mut wt = vec![0f32; i * 2 * h3];
    for row in 0..i {
        wt[row * 2 * h3..row * 2 * h3 + h3].copy_from_slice(&w0[row * h3..(row + 1) * h3]);
        wt[row * 2 * h3 + h3..(row + 1) * 2 * h3].copy_from_slice(&w1[row * h3..(row + 1) * h3]);
    }
    let wt = g.f32s("Wt", &[i as i64, 2 * h3 as i64], &wt);
    let b: Vec<f32> = gru.wb(0).iter().chain(gru.wb(1)).cloned().collect();
    let b = g.f32s("Wb", &[2 * h3 as i64], &b);
    let p = g.n1("MatMul", &[x, &wt], vec![]);
    g.n1("Add", &[&p, &b], vec![])
}

fn build(form: Form, gru: &Gru, t: D) -> Vec<u8> {
    let (i, h) = (gru.input as i64, gru.hidden as i64);
    let mut g = G::new("");
    let x = "x".to_string();
    let y = match form {
        Form::OnnxGru => {
            let w = g.f32s("W", &[2, 3 * h, i], &gru.w);
            let r = g.f32s("R", &[2, 3 * h, h], &gru.r);
            let b = g.f32s("B", &[2, 6 * h], &gru.b);
            let y = g.node(
                "GRU",
                &[&x, &w, &r, &b],
                2,
                vec![
                    attr_int("hidden_size", h),
                    attr_str("direction", "bidirectional"),
                    attr_int("linear_before_reset", 1),
                ],
            );
            let yt = g.n1(
                "Transpose",
                &[&y[0]],
                vec![attr_ints("perm", &[0, 2, 1, 3])],
            );
            let shape = g.i64s("shape", &[0, 1, 2 * h]);
            g.n1("Reshape", &[&yt, &shape], vec![])
        }
        Form::TwoOnnxGrus => {
            let mut ys = vec![];
            for (dir, name) in [(0, "forward"), (1, "reverse")] {
                let (hu, iu) = (h as usize, i as usize);
                let w = g.f32s(
                    "W",
                    &[1, 3 * h, i],
                    &gru.w[dir * 3 * hu * iu..(dir + 1) * 3 * hu * iu],
                );
                let r = g.f32s(
                    "R",
                    &[1, 3 * h, h],
                    &gru.r[dir * 3 * hu * hu..(dir + 1) * 3 * hu * hu],
                );
                let b = g.f32s("B", &[1, 6 * h], &gru.b[dir * 6 * hu..(dir + 1) * 6 * hu]);
                let y = g.node(
                    "GRU",
                    &[&x, &w, &r, &b],
                    2,
                    vec![
                        attr_int("hidden_size", h),
                        attr_str("direction", name),
                        attr_int("linear_before_reset", 1),
                    ],
                );
                // [T, 1, 1, H] → [T, 1, H]
                let axes = g.i64s("axes", &[1]);
                ys.push(g.n1("Squeeze", &[&y[0], &axes], vec![]));
            }
            g.n1("Concat", &[&ys[0], &ys[1]], vec![attr_int("axis", 2)])
        }
        Form::HoistedTwoScans => {
            let p = projections(&mut g, &x, gru);
            let pd = g.split(&p, 2, &[3 * h, 3 * h]);
            let mut ys = vec![];
            for (dir, pdir) in pd.iter().enumerate() {
                let mut b = G::new(&format!("body{dir}_"));
                let (hs, xt) = (format!("body{dir}_h"), format!("body{dir}_xt"));
                let rt = b.f32s("Rt", &[h, 3 * h], &gru.rt(dir));
                let rb = b.f32s("Rb", &[3 * h], gru.rb(dir));
                let rh = b.n1("MatMul", &[&hs, &rt], vec![]);
                let rh = b.n1("Add", &[&rh, &rb], vec![]);
                let hn = gates(&mut b, &xt, &rh, &hs, 1);
                let yo = b.n1("Identity", &[&hn], vec![]);
                let body = b.graph(
                    "body",
                    vec![
                        value_info(&hs, Some(&[D::N(1), D::N(h)])),
                        value_info(&xt, Some(&[D::N(1), D::N(3 * h)])),
                    ],
                    vec![value_info(&hn, None), value_info(&yo, None)],
                );
                let h0 = g.f32s("h0", &[1, h], &vec![0.0; h as usize]);
                let outs = g.node(
                    "Scan",
                    &[&h0, pdir],
                    2,
                    vec![
                        attr_graph("body", body),
                        attr_int("num_scan_inputs", 1),
                        attr_ints("scan_input_directions", &[dir as i64]),
                        attr_ints("scan_output_directions", &[dir as i64]),
                    ],
                );
                ys.push(outs[1].clone());
            }
            g.n1("Concat", &[&ys[0], &ys[1]], vec![attr_int("axis", 2)])
        }
        Form::HoistedOneScan | Form::HoistedOneScanPreReversed => {
            let pre = form == Form::HoistedOneScanPreReversed;
            let p = projections(&mut g, &x, gru);
            let pd = g.split(&p, 2, &[3 * h, 3 * h]);
            let mut b = G::new("body_");
            let hs = "body_h".to_string();
            let rt: Vec<f32> = gru.rt(0).into_iter().chain(gru.rt(1)).collect();
            let rt = b.f32s("Rt", &[2, h, 3 * h], &rt);
            let rb: Vec<f32> = gru.rb(0).iter().chain(gru.rb(1)).cloned().collect();
            let rb = b.f32s("Rb", &[2, 1, 3 * h], &rb);
            let rh = b.n1("MatMul", &[&hs, &rt], vec![]);
            let rh = b.n1("Add", &[&rh, &rb], vec![]);
            let (body_inputs, xt, scan_inputs, dirs) = if pre {
                // Outside: [T, 1, 3H] ×2 → backward reversed → [T, 2, 1, 3H].
                let (st, en, ax, stp) = (
                    g.i64s("starts", &[-1]),
                    g.i64s("ends", &[i64::MIN]),
                    g.i64s("axes", &[0]),
                    g.i64s("steps", &[-1]),
                );
                let pb_rev = g.n1("Slice", &[&pd[1], &st, &en, &ax, &stp], vec![]);
                let ax1 = g.i64s("axes", &[1]);
                let pf = g.n1("Unsqueeze", &[&pd[0], &ax1], vec![]);
                let pbr = g.n1("Unsqueeze", &[&pb_rev, &ax1], vec![]);
                let both = g.n1("Concat", &[&pf, &pbr], vec![attr_int("axis", 1)]);
                let xt = "body_xt".to_string();
                (
                    vec![
                        value_info(&hs, Some(&[D::N(2), D::N(1), D::N(h)])),
                        value_info(&xt, Some(&[D::N(2), D::N(1), D::N(3 * h)])),
                    ],
                    xt,
                    vec![both],
                    vec![0],
                )
            } else {
                let (xf, xb) = ("body_xf".to_string(), "body_xb".to_string());
                let ax0 = b.i64s("axes", &[0]);
                let uf = b.n1("Unsqueeze", &[&xf, &ax0], vec![]);
                let ub = b.n1("Unsqueeze", &[&xb, &ax0], vec![]);
                let xt = b.n1("Concat", &[&uf, &ub], vec![attr_int("axis", 0)]);
                (
                    vec![
                        value_info(&hs, Some(&[D::N(2), D::N(1), D::N(h)])),
                        value_info(&xf, Some(&[D::N(1), D::N(3 * h)])),
                        value_info(&xb, Some(&[D::N(1), D::N(3 * h)])),
                    ],
                    xt,
                    vec![pd[0].clone(), pd[1].clone()],
                    vec![0, 1],
                )
            };
            let hn = gates(&mut b, &xt, &rh, &hs, 2);
            let (body_outputs, out_dirs) = if pre {
                let yo = b.n1("Identity", &[&hn], vec![]);
                (vec![value_info(&hn, None), value_info(&yo, None)], vec![0])
            } else {
                // [2, 1, H] → forward [1, 1, H], backward [1, 1, H] (written in reverse).
                let yy = b.split(&hn, 0, &[1, 1]);
                (
                    vec![
                        value_info(&hn, None),
                        value_info(&yy[0], None),
                        value_info(&yy[1], None),
                    ],
                    vec![0, 1],
                )
            };
            let n_out = body_outputs.len();
            let body = b.graph("body", body_inputs, body_outputs);
            let h0 = g.f32s("h0", &[2, 1, h], &vec![0.0; 2 * h as usize]);
            let mut ins: Vec<&str> = vec![&h0];
            ins.extend(scan_inputs.iter().map(|s| s.as_str()));
            let outs = g.node(
                "Scan",
                &ins,
                n_out,
                vec![
                    attr_graph("body", body),
                    attr_int("num_scan_inputs", scan_inputs.len() as i64),
                    attr_ints("scan_input_directions", &dirs),
                    attr_ints("scan_output_directions", &out_dirs),
                ],
            );
            let shape = g.i64s("shape", &[-1, 1, h]);
            if pre {
                // [T, 2, 1, H] → split directions → reverse the backward one in time.
                let yy = g.split(&outs[1], 1, &[1, 1]);
                let (st, en, ax, stp) = (
                    g.i64s("starts", &[-1]),
                    g.i64s("ends", &[i64::MIN]),
                    g.i64s("axes", &[0]),
                    g.i64s("steps", &[-1]),
                );
                let yb = g.n1("Slice", &[&yy[1], &st, &en, &ax, &stp], vec![]);
                let yf = g.n1("Reshape", &[&yy[0], &shape], vec![]);
                let yb = g.n1("Reshape", &[&yb, &shape], vec![]);
                g.n1("Concat", &[&yf, &yb], vec![attr_int("axis", 2)])
            } else {
                // [T, 1, 1, H] each.
                let yf = g.n1("Reshape", &[&outs[1], &shape], vec![]);
                let yb = g.n1("Reshape", &[&outs[2], &shape], vec![]);
                g.n1("Concat", &[&yf, &yb], vec![attr_int("axis", 2)])
            }
        }
    };
    let graph = g.graph(
        "g",
        vec![value_info(&x, Some(&[t, D::N(1), D::N(i)]))],
        vec![value_info(&y, None)],
    );
    model_bytes(graph)
}

// ---------------------------------------------------------------------------------------------
// tract

fn load(bytes: &[u8], input: usize, t: Option<usize>) -> TractResult<TypedModel> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &*bytes)?;
    let tdim = match t {
        Some(t) => t.to_dim(),
        None => model.symbols.sym("T").to_dim(),
    };
    let fact = f32::fact([tdim, 1.to_dim(), input.to_dim()]);
    model = model.with_input_fact(0, fact.into())?;
    model.into_optimized()
}

fn summarise(model: &TypedModel) -> String {
    fn walk(model: &TypedModel, ops: &mut BTreeMap<String, usize>, depth: usize) {
        for n in model.nodes() {
            if n.op_is::<tract_core::ops::konst::Const>()
                || n.op_is::<tract_core::ops::source::TypedSource>()
            {
                continue;
            }
            let name = n.op().name().to_string();
            let key = if depth == 0 {
                name.clone()
            } else {
                format!("[{name}]")
            };
            *ops.entry(key).or_insert(0) += 1;
            if let Some(scan) = n.op_as::<tract_core::ops::scan::OptScan>() {
                walk(scan.plan.model(), ops, depth + 1);
            }
            if let Some(scan) = n.op_as::<tract_core::ops::scan::Scan>() {
                walk(&scan.body, ops, depth + 1);
            }
        }
    }
    let mut ops = BTreeMap::new();
    walk(model, &mut ops, 0);
    ops.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
}

fn profile(plan: &Arc<TypedSimplePlan>, input: &TValue, runs: usize) -> TractResult<String> {
    let mut acc: HashMap<String, f64> = HashMap::new();
    for _ in 0..runs {
        let mut state = TypedSimpleState::new(plan)?;
        state.run_plan_with_eval(tvec!(input.clone()), |ctx, st, node, inp| {
            let t = Instant::now();
            let r = tract_core::plan::eval(ctx, st, node, inp);
            *acc.entry(node.op().name().to_string()).or_default() += t.elapsed().as_secs_f64();
            r
        })?;
    }
    let mut v: Vec<(String, f64)> = acc
        .into_iter()
        .map(|(k, t)| (k, 1e3 * t / runs as f64))
        .collect();
    v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    Ok(v.iter()
        .take(6)
        .map(|(k, t)| format!("{k} {t:.3}"))
        .collect::<Vec<_>>()
        .join(", "))
}

/// The exported encoder itself, [1, 40, frames], the frame axis symbolic (as the firmware loads
/// it) or fixed: median time and a per-op profile (ms per run, summed over the op's nodes).
fn real_model(path: &str, frames: usize, symbolic: bool, runs: usize) -> TractResult<()> {
    let bytes = std::fs::read(path)?;
    let patched = decompose_softmax(&bytes)?;
    let mut rng = Rng(5);
    let n = N_MELS * frames;
    let x = tract_ndarray::ArrayD::from_shape_vec(
        vec![1, N_MELS, frames],
        (0..n).map(|_| rng.normal()).collect(),
    )?
    .into_tvalue();
    let mut plans = vec![];
    for (name, bytes) in [("as exported", &bytes), ("softmax decomposed", &patched)] {
        let mut model = tract_onnx::onnx().model_for_read(&mut &**bytes)?;
        if !symbolic {
            model = model.with_input_fact(0, f32::fact([1, N_MELS, frames]).into())?;
        }
        let t0 = Instant::now();
        let model = model.into_optimized()?;
        let ops = summarise(&model);
        let plan = TypedSimplePlan::new(model)?;
        let plan_ms = t0.elapsed().as_secs_f64() * 1e3;
        for _ in 0..3 {
            plan.run(tvec!(x.clone()))?;
        }
        plans.push((name, plan, ops, plan_ms));
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; plans.len()];
    for _ in 0..runs {
        for (i, (_, plan, _, _)) in plans.iter().enumerate() {
            let t0 = Instant::now();
            plan.run(tvec!(x.clone()))?;
            times[i].push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let outs: Vec<Vec<f32>> = plans
        .iter()
        .map(|(_, plan, _, _)| -> TractResult<Vec<f32>> {
            let o = plan.run(tvec!(x.clone()))?;
            Ok(o[0].to_plain_array_view::<f32>()?.iter().cloned().collect())
        })
        .collect::<TractResult<_>>()?;
    println!(
        "\n== {path}, {frames} frames, {} ==",
        if symbolic { "symbolic" } else { "fixed" }
    );
    for (i, (name, plan, ops, plan_ms)) in plans.iter().enumerate() {
        println!(
            "{name:<20} {:7.3} ms (plan {plan_ms:.0} ms)   embedding vs as exported: rel {:.1e}",
            median(&mut times[i]),
            rel_err(&outs[i], &outs[0])
        );
        println!("    ops: {ops}");
        println!("    profile: {}", profile(plan, &x, 5)?);
    }
    Ok(())
}

/// An encoder with a `frame_mask` input (exported since the board pads to fixed lengths):
/// `frames` of speech run three ways, interleaved: one plan over a symbolic frame axis, a plan
/// fixed at exactly `frames`, and a plan fixed at `frames` rounded up to the board's 20-frame
/// step with the rest zero-padded and masked. Median ms, plan time, and the embeddings' distance
/// from the symbolic plan's.
fn masked_model(path: &str, frames: usize, runs: usize) -> TractResult<()> {
    let padded = frames.div_ceil(PADDED_LENGTH_STEP) * PADDED_LENGTH_STEP;
    let mut rng = Rng(5);
    let speech: Vec<f32> = (0..N_MELS * frames).map(|_| rng.normal()).collect();
    let inputs = |length: usize| -> TractResult<TVec<TValue>> {
        let mut x = tract_ndarray::Array3::<f32>::zeros((1, N_MELS, length));
        let mut mask = tract_ndarray::Array3::<f32>::zeros((1, 1, length));
        for m in 0..N_MELS {
            for t in 0..frames {
                x[[0, m, t]] = speech[m * frames + t];
            }
        }
        mask.slice_mut(tract_ndarray::s![.., .., ..frames])
            .fill(1.0);
        Ok(tvec!(x.into_tvalue(), mask.into_tvalue()))
    };
    let mut forms = vec![];
    for (name, fixed) in [
        ("symbolic", None),
        ("fixed, exact length", Some(frames)),
        ("fixed, padded", Some(padded)),
    ] {
        let mut model = tract_onnx::onnx().model_for_path(path)?;
        if let Some(length) = fixed {
            model = model
                .with_input_fact(0, f32::fact([1, N_MELS, length]).into())?
                .with_input_fact(1, f32::fact([1, 1, length]).into())?;
        }
        let t0 = Instant::now();
        let plan = model.into_optimized()?.into_runnable()?;
        let plan_ms = t0.elapsed().as_secs_f64() * 1e3;
        let x = inputs(fixed.unwrap_or(frames))?;
        for _ in 0..3 {
            plan.run(x.clone())?;
        }
        forms.push((name, fixed.unwrap_or(frames), plan, x, plan_ms));
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; forms.len()];
    for r in 0..runs {
        for i in 0..forms.len() {
            let i = if r % 2 == 0 { i } else { forms.len() - 1 - i };
            let (_, _, plan, x, _) = &forms[i];
            let t0 = Instant::now();
            plan.run(x.clone())?;
            times[i].push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let outs: Vec<Vec<f32>> = forms
        .iter()
        .map(|(_, _, plan, x, _)| -> TractResult<Vec<f32>> {
            let o = plan.run(x.clone())?;
            Ok(o[0].to_plain_array_view::<f32>()?.iter().cloned().collect())
        })
        .collect::<TractResult<_>>()?;
    println!("\n== {path}, {frames} frames of speech ==");
    for (i, (name, length, _, _, plan_ms)) in forms.iter().enumerate() {
        println!(
            "{name:<22} {length:>4} frames {:7.3} ms (plan {plan_ms:.0} ms)   embedding vs symbolic: rel {:.1e}",
            median(&mut times[i]),
            rel_err(&outs[i], &outs[0])
        );
    }
    Ok(())
}

/// The exported encoder with its Softmax(axis 0) replaced by ReduceMax → Sub → Exp → ReduceSum
/// → Div over the same axis (opset 17: ReduceMax takes `axes` as an attribute, ReduceSum as an
/// input).
fn decompose_softmax(bytes: &[u8]) -> TractResult<Vec<u8>> {
    let mut m = pb::ModelProto::decode(bytes)?;
    let graph = m.graph.as_mut().expect("the model has a graph");
    let mut nodes = vec![];
    for n in graph.node.drain(..) {
        if n.op_type != "Softmax" {
            nodes.push(n);
            continue;
        }
        let axis = n
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .map(|a| a.i)
            .unwrap_or(-1);
        let (x, y) = (n.input[0].clone(), n.output[0].clone());
        let p = format!("{}.decomposed", n.name);
        let mk = |op: &str, ins: Vec<String>, out: String, attrs: Vec<pb::AttributeProto>| {
            pb::NodeProto {
                op_type: op.into(),
                name: format!("{out}.node"),
                input: ins,
                output: vec![out],
                attribute: attrs,
                ..Default::default()
            }
        };
        graph.initializer.push(pb::TensorProto {
            name: format!("{p}.axes"),
            dims: vec![1],
            data_type: INT64,
            raw_data: axis.to_le_bytes().to_vec(),
            ..Default::default()
        });
        nodes.push(mk(
            "ReduceMax",
            vec![x.clone()],
            format!("{p}.max"),
            vec![attr_ints("axes", &[axis]), attr_int("keepdims", 1)],
        ));
        nodes.push(mk(
            "Sub",
            vec![x, format!("{p}.max")],
            format!("{p}.centred"),
            vec![],
        ));
        nodes.push(mk(
            "Exp",
            vec![format!("{p}.centred")],
            format!("{p}.exp"),
            vec![],
        ));
        nodes.push(mk(
            "ReduceSum",
            vec![format!("{p}.exp"), format!("{p}.axes")],
            format!("{p}.sum"),
            vec![attr_int("keepdims", 1)],
        ));
        nodes.push(mk(
            "Div",
            vec![format!("{p}.exp"), format!("{p}.sum")],
            y,
            vec![],
        ));
    }
    graph.node = nodes;
    Ok(m.encode_to_vec())
}

/// Attention-pooling softmax forms on logits [T, D] over time (axis 0), the encoder's D = 256.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SoftmaxForm {
    /// Softmax(axis 0) on [T, D]: what the exporter writes.
    Axis0,
    /// Transpose → Softmax(axis −1) on [D, T] → Transpose.
    TransposedLastAxis,
    /// ReduceMax(axis 0) → Sub → Exp → ReduceSum(axis 0) → Div.
    Decomposed,
}

fn softmax_bytes(form: SoftmaxForm, d: i64, t: D) -> Vec<u8> {
    let mut g = G::new("");
    let x = "x".to_string();
    let y = match form {
        SoftmaxForm::Axis0 => g.n1("Softmax", &[&x], vec![attr_int("axis", 0)]),
        SoftmaxForm::TransposedLastAxis => {
            let xt = g.n1("Transpose", &[&x], vec![attr_ints("perm", &[1, 0])]);
            let s = g.n1("Softmax", &[&xt], vec![attr_int("axis", -1)]);
            g.n1("Transpose", &[&s], vec![attr_ints("perm", &[1, 0])])
        }
        SoftmaxForm::Decomposed => {
            let m = g.n1(
                "ReduceMax",
                &[&x],
                vec![attr_ints("axes", &[0]), attr_int("keepdims", 1)],
            );
            let c = g.n1("Sub", &[&x, &m], vec![]);
            let e = g.n1("Exp", &[&c], vec![]);
            let axes = g.i64s("axes", &[0]);
            let s = g.n1("ReduceSum", &[&e, &axes], vec![attr_int("keepdims", 1)]);
            g.n1("Div", &[&e, &s], vec![])
        }
    };
    let graph = g.graph(
        "g",
        vec![value_info(&x, Some(&[t, D::N(d)]))],
        vec![value_info(&y, None)],
    );
    model_bytes(graph)
}

/// `spread` scales N(0, 1) logits: large spreads push exp(x − max) into f32's subnormal range.
fn softmax_bench(t_len: usize, symbolic: bool, spread: f32, runs: usize) -> TractResult<()> {
    let d = 256;
    let mut rng = Rng(t_len as u64);
    let x = tract_ndarray::ArrayD::from_shape_vec(
        vec![t_len, d],
        (0..t_len * d).map(|_| spread * rng.normal()).collect(),
    )?
    .into_tvalue();
    let forms = [
        SoftmaxForm::Axis0,
        SoftmaxForm::TransposedLastAxis,
        SoftmaxForm::Decomposed,
    ];
    let mut plans = vec![];
    for form in forms {
        let t = if symbolic {
            D::S("T")
        } else {
            D::N(t_len as i64)
        };
        let bytes = softmax_bytes(form, d as i64, t);
        let mut model = tract_onnx::onnx().model_for_read(&mut &*bytes)?;
        let tdim = if symbolic {
            model.symbols.sym("T").to_dim()
        } else {
            t_len.to_dim()
        };
        model = model.with_input_fact(0, f32::fact([tdim, d.to_dim()]).into())?;
        let model = model.into_optimized()?;
        let ops = summarise(&model);
        plans.push((form, TypedSimplePlan::new(model)?, ops));
    }
    let mut outs = vec![];
    for (_, plan, _) in &plans {
        let o = plan.run(tvec!(x.clone()))?;
        plan.run(tvec!(x.clone()))?;
        let v: Vec<f32> = o[0].to_plain_array_view::<f32>()?.iter().cloned().collect();
        outs.push(v);
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; plans.len()];
    for _ in 0..runs {
        for (i, (_, plan, _)) in plans.iter().enumerate() {
            let t0 = Instant::now();
            plan.run(tvec!(x.clone()))?;
            times[i].push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "\n== softmax over time, [{t_len}, {d}], logits N(0, {spread}²), {} ==",
        if symbolic { "symbolic T" } else { "fixed T" }
    );
    for (i, (form, _, ops)) in plans.iter().enumerate() {
        println!(
            "{:<20} {:7.3} ms   vs Axis0: rel {:.1e}   ops: {ops}",
            format!("{form:?}"),
            median(&mut times[i]),
            rel_err(&outs[i], &outs[0])
        );
    }
    Ok(())
}

struct Case {
    input: usize,
    t: usize,
    symbolic: bool,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "i{}-t{}-{}",
            self.input,
            self.t,
            if self.symbolic { "sym" } else { "fixed" }
        )
    }
}

fn bench(case: &Case, runs: usize, do_profile: bool) -> TractResult<()> {
    let mut rng = Rng(case.input as u64 * 1000 + case.t as u64);
    let gru = Gru::random(&mut rng, case.input, HIDDEN);
    let xv: Vec<f32> = (0..case.t * case.input).map(|_| rng.normal()).collect();
    let x = tract_ndarray::ArrayD::from_shape_vec(vec![case.t, 1, case.input], xv.clone())?
        .into_tvalue();
    let want = gru.reference(&xv, case.t);
    let t = if case.symbolic {
        D::S("T")
    } else {
        D::N(case.t as i64)
    };
    let fixed = (!case.symbolic).then_some(case.t);

    let mut built = vec![];
    for form in ALL_FORMS {
        let bytes = build(form, &gru, t.clone());
        let t0 = Instant::now();
        match load(&bytes, case.input, fixed) {
            Ok(model) => {
                let ops = summarise(&model);
                let plan = TypedSimplePlan::new(model)?;
                let plan_ms = t0.elapsed().as_secs_f64() * 1e3;
                built.push((form, plan, ops, plan_ms));
            }
            Err(e) => println!("{} {:?}: REFUSED: {e:#}", case.name(), form),
        }
    }
    let mut outputs = vec![];
    for (form, plan, _, _) in &built {
        match plan.run(tvec!(x.clone())) {
            Ok(o) => {
                for _ in 0..2 {
                    plan.run(tvec!(x.clone()))?;
                }
                let v: Vec<f32> = o[0].to_plain_array_view::<f32>()?.iter().cloned().collect();
                outputs.push(Some(v));
            }
            Err(e) => {
                println!("{} {:?}: RUN FAILED: {e:#}", case.name(), form);
                outputs.push(None);
            }
        }
    }
    // One state run twice: does the recurrence restart from initial_h (ONNX) or carry on?
    let mut carry = vec![];
    for (i, (_, plan, _, _)) in built.iter().enumerate() {
        let Some(first) = &outputs[i] else {
            carry.push(String::new());
            continue;
        };
        let mut state = TypedSimpleState::new(plan)?;
        state.run(tvec!(x.clone()))?;
        let again = state.run(tvec!(x.clone()))?;
        let again: Vec<f32> = again[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .cloned()
            .collect();
        carry.push(format!("{:.1e}", rel_err(&again, first)));
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; built.len()];
    for _ in 0..runs {
        for (i, (_, plan, _, _)) in built.iter().enumerate() {
            if outputs[i].is_none() {
                continue;
            }
            let t0 = Instant::now();
            let _ = plan.run(tvec!(x.clone()))?;
            times[i].push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let gru_idx = built.iter().position(|b| b.0 == Form::OnnxGru);
    let gru_out = gru_idx.and_then(|i| outputs[i].clone());
    println!(
        "\n== {} (median of {runs} interleaved runs, 1 thread) ==",
        case.name()
    );
    let t_gru = gru_idx.map(|i| median(&mut times[i].clone()));
    for (i, (form, plan, ops, plan_ms)) in built.iter().enumerate() {
        let Some(out) = &outputs[i] else { continue };
        let tm = median(&mut times[i]);
        let vs_gru = match &gru_out {
            Some(g) if g.len() == out.len() => {
                format!("rel {:.1e} max {:.1e}", rel_err(out, g), max_abs(out, g))
            }
            _ => "shape differs".into(),
        };
        let vs_ref = if out.len() == want.len() {
            format!("rel {:.1e}", rel_err(out, &want))
        } else {
            format!("len {} vs {}", out.len(), want.len())
        };
        println!(
            "{:<26} {:7.3} ms  x{:.2} vs GRU   vs GRU: {vs_gru}   vs f64 loop: {vs_ref}   (plan {plan_ms:.0} ms)",
            format!("{form:?}"),
            tm,
            t_gru.unwrap_or(tm) / tm,
        );
        println!(
            "    second run of one state vs first: rel {}\n    ops: {ops}",
            carry[i]
        );
        if do_profile {
            println!("    profile: {}", profile(plan, &x, 5)?);
        }
    }
    Ok(())
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 20;
    let mut filter: Vec<String> = vec![];
    let mut do_profile = false;
    let mut model = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--runs" => {
                runs = args[i + 1].parse()?;
                i += 1;
            }
            "--profile" => do_profile = true,
            "--softmax" => {
                for t in [72, 147] {
                    for symbolic in [true, false] {
                        for spread in [1.0, 30.0, 300.0] {
                            softmax_bench(t, symbolic, spread, runs)?;
                        }
                    }
                }
                return Ok(());
            }
            "--model" => {
                model = Some(args[i + 1].clone());
                i += 1;
            }
            "--masked-model" => {
                for frames in [290, 300, 600] {
                    masked_model(&args[i + 1], frames, runs)?;
                }
                return Ok(());
            }
            f => filter.push(f.to_string()),
        }
        i += 1;
    }
    if let Some(path) = model {
        for frames in [300, 600] {
            for symbolic in [true, false] {
                real_model(&path, frames, symbolic, runs)?;
            }
        }
        return Ok(());
    }
    for symbolic in [true, false] {
        for input in [128, 256] {
            for t in [75, 150] {
                let case = Case { input, t, symbolic };
                let name = case.name();
                if !filter.iter().all(|f| name.contains(f.as_str())) {
                    continue;
                }
                bench(&case, runs, do_profile)?;
            }
        }
    }
    Ok(())
}
