//! int8 graphs in the one form tract 0.23 runs with integer matrix kernels (measured in
//! `docs/notes/int8-forms.md`): per convolution,
//!
//! ```text
//! x ─ Mul(1/s_x) ─ Round ─ Clip(±127) ─ Cast(int8) ─ ConvInteger(W_q int8, no zero points)
//!   ─ DequantizeLinear(scale s_x·s_w[c], axis 1) ─ Add(bias f32) → y
//! ```
//!
//! Weights are symmetric per output channel; activation scales come from a calibration run of
//! the f32 graph on training utterances ([`calibrate`]). tract's QDQ and QLinearConv forms were
//! slower than f32 (their requantisation runs as separate passes), so they are not used.
//!
//! Layers with no integer kernel in tract (GRU, Gemm) keep f32 arithmetic but store their
//! weights as int8 behind a `DequantizeLinear` of constants, which tract folds once at load: a
//! quarter of the file size, no run-time cost.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

use super::check;
use super::onnx::{Attr, Elem, GraphBuilder};

/// The int8 range used on both sides (symmetric: −128 is never produced).
pub const QMAX: f32 = 127.0;

/// Calibrated scale of each convolution input, keyed by the graph value name. Graph building is
/// deterministic, so the f32 graph observed during calibration and the int8 graph built from
/// these scales name their values alike.
pub type ActivationScales = BTreeMap<String, f32>;

/// How a graph writes its convolutions.
#[derive(Debug, Clone, Default)]
pub enum ConvPrecision {
    /// Plain f32 `Conv`.
    #[default]
    F32,
    /// f32, and every convolution input is recorded so it can be exposed as an output.
    Observe,
    /// The integer form above, with these input scales.
    Int8(ActivationScales),
}

/// The quantisation state of one graph being built.
#[derive(Debug, Default)]
pub struct QuantState {
    pub precision: ConvPrecision,
    /// Convolution inputs seen so far (Observe).
    pub observed: Vec<String>,
    /// Value → its int8 copy, so convolutions reading one tensor quantise it once.
    quantized: HashMap<String, String>,
}

impl QuantState {
    pub fn is_int8(&self) -> bool {
        matches!(self.precision, ConvPrecision::Int8(_))
    }
}

/// Symmetric int8 per row of `w` viewed as `[rows, -1]`: (values, scale per row). A row of
/// zeros gets scale 1 so nothing divides by zero.
pub fn quantize_rows(w: &Tensor) -> (Vec<i8>, Vec<f32>) {
    let rows = w.size()[0];
    let w = w
        .detach()
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Double)
        .reshape([rows, -1]);
    let max = w.abs().amax([1], true);
    let scale = max.clamp_min(1e-30) / QMAX as f64;
    let scale = scale.where_self(&max.gt(0.0), &scale.ones_like());
    let q = (&w / &scale).round().clamp(-QMAX as f64, QMAX as f64);
    let q: Vec<f64> = Vec::try_from(q.contiguous().view([-1])).expect("double tensor");
    let scale: Vec<f64> = Vec::try_from(scale.view([-1])).expect("double tensor");
    (
        q.into_iter().map(|v| v as i8).collect(),
        scale.into_iter().map(|s| s as f32).collect(),
    )
}

/// `max |x| / 127`, never zero.
pub fn activation_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / QMAX
    } else {
        1.0
    }
}

/// The fewest output channels for which an int8 convolution beats the f32 one on the board.
/// Under tract alone it was 64: its int8 path pays an im2col of its own and separate
/// quantisation passes, which only a tall product paid back (16 and 32 outputs ran 1.2–1.6×
/// slower than f32). With `s2i-kernels`' int8 direct convolution (VNNI on x86, `sdot` on an
/// Armv8.2 board such as the Pi 5), which folds the quantisation in, the edge generator's
/// 16- and 32-output convolutions at 64² run 2–2.6× faster than our f32 direct convolution
/// (stage 2, `device/examples/profile_bundle.rs` on the bench bundle: 1.85 → 1.42 ms) and the
/// images stay within 45 dB of f32. Below 16 (the 3-channel image heads) the output channel
/// blocks would be mostly empty. A CPU with neither instruction (a Pi 4's Cortex-A72) runs the
/// int8 files slower than the f32 ones and should use those.
pub const INT8_MIN_OUTPUT_CHANNELS: i64 = 16;

/// Whether a convolution with `outputs` output channels goes int8 in an int8 graph.
pub fn runs_faster_in_int8(outputs: i64) -> bool {
    outputs >= INT8_MIN_OUTPUT_CHANNELS
}

impl GraphBuilder {
    /// A convolution in the graph's precision. `w` is the (BN-folded) f32 kernel
    /// `[Cout, Cin, k…]`, `b` its bias `[Cout]`; `attrs` the Conv attributes (kernel_shape,
    /// pads, strides).
    pub fn conv_node(
        &mut self,
        hint: &str,
        x: &str,
        w: &Tensor,
        b: &Tensor,
        attrs: &[Attr],
    ) -> String {
        match self.quant.precision.clone() {
            ConvPrecision::F32 | ConvPrecision::Observe => {
                if matches!(self.quant.precision, ConvPrecision::Observe) {
                    self.quant.observed.push(x.to_string());
                }
                self.float_conv(hint, x, w, b, attrs)
            }
            ConvPrecision::Int8(_) if !runs_faster_in_int8(w.size()[0]) => {
                self.float_conv(hint, x, w, b, attrs)
            }
            ConvPrecision::Int8(scales) => {
                let s_x = *scales.get(x).unwrap_or_else(|| {
                    panic!("no calibrated scale for `{x}`: the int8 graph differs from the observed one")
                });
                self.conv_integer_node(hint, x, s_x, w, b, attrs)
            }
        }
    }

    /// A plain f32 `Conv` with its weight and bias as initialisers.
    pub fn float_conv(
        &mut self,
        hint: &str,
        x: &str,
        w: &Tensor,
        b: &Tensor,
        attrs: &[Attr],
    ) -> String {
        let wn = self.weight(&format!("{hint}.weight"), w);
        let bn = self.weight(&format!("{hint}.bias"), b);
        self.node("Conv", hint, &[x, &wn, &bn], attrs)
    }

    /// int8 copy of `x` at scale `s_x` (shared by every reader).
    pub fn quantize_input(&mut self, x: &str, s_x: f32) -> String {
        if let Some(q) = self.quant.quantized.get(x) {
            return q.clone();
        }
        let inv = self.scalar(&format!("{x}.inv_scale"), 1.0 / s_x);
        let lo = self.scalar(&format!("{x}.qmin"), -QMAX);
        let hi = self.scalar(&format!("{x}.qmax"), QMAX);
        let scaled = self.node("Mul", &format!("{x}.scaled"), &[x, &inv], &[]);
        let rounded = self.node("Round", &format!("{x}.rounded"), &[&scaled], &[]);
        let clipped = self.node("Clip", &format!("{x}.clipped"), &[&rounded, &lo, &hi], &[]);
        let q = self.node(
            "Cast",
            &format!("{x}.int8"),
            &[&clipped],
            &[Attr::Int("to", Elem::I8.onnx() as i64)],
        );
        self.quant.quantized.insert(x.to_string(), q.clone());
        q
    }

    /// `ConvInteger` on the int8 input, then back to f32 with the per-channel scale and bias.
    pub fn conv_integer_node(
        &mut self,
        hint: &str,
        x: &str,
        s_x: f32,
        w: &Tensor,
        b: &Tensor,
        attrs: &[Attr],
    ) -> String {
        let xq = self.quantize_input(x, s_x);
        let size = w.size();
        let (wq, s_w) = quantize_rows(w);
        let wn = self.i8s(&format!("{hint}.weight_int8"), &size, &wq);
        let acc = self.node("ConvInteger", &format!("{hint}.acc"), &[&xq, &wn], attrs);
        let scales: Vec<f32> = s_w.iter().map(|s| s * s_x).collect();
        let scale = self.f32s(&format!("{hint}.scale"), &[size[0]], &scales);
        let y = self.node(
            "DequantizeLinear",
            &format!("{hint}.dequantized"),
            &[&acc, &scale],
            &[Attr::Int("axis", 1)],
        );
        let bias = b
            .detach()
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let mut bias_shape = vec![1, size[0]];
        bias_shape.extend(std::iter::repeat_n(1, size.len() - 2));
        let bias: Vec<f32> = Vec::try_from(bias.view([-1])).expect("float tensor");
        let bn = self.f32s(&format!("{hint}.bias"), &bias_shape, &bias);
        self.node("Add", hint, &[&y, &bn], &[])
    }

    /// A weight matrix for a layer tract runs in f32 (Gemm, GRU): stored int8 per row (rows =
    /// the first dimension, other dimensions flattened) behind a constant `DequantizeLinear`
    /// in int8 graphs, plain f32 otherwise.
    pub fn dense_weight(&mut self, hint: &str, w: &Tensor) -> String {
        if !self.quant.is_int8() {
            return self.weight(hint, w);
        }
        let size = w.size();
        let rows: i64 = size[..size.len() - 1].iter().product();
        let flat = w.reshape([rows, size[size.len() - 1]]);
        let (q, scales) = quantize_rows(&flat);
        let qn = self.i8s(&format!("{hint}.int8"), &flat.size(), &q);
        let sn = self.f32s(&format!("{hint}.scale"), &[rows], &scales);
        let dq = self.node(
            "DequantizeLinear",
            &format!("{hint}.dequantized"),
            &[&qn, &sn],
            &[Attr::Int("axis", 0)],
        );
        if size.len() == 2 {
            return dq;
        }
        self.reshape(hint, &dq, &size)
    }

    /// Exposes every observed convolution input as an extra output (shape left open); returns
    /// their output names in order.
    pub fn expose_observed(&mut self) -> Vec<(String, String)> {
        let observed = std::mem::take(&mut self.quant.observed);
        let mut seen = std::collections::HashSet::new();
        let mut exposed = Vec::new();
        for value in observed {
            if !seen.insert(value.clone()) {
                continue;
            }
            let name = format!("observe_{}", exposed.len());
            self.output_open(&value, &name, Elem::F32);
            exposed.push((value, name));
        }
        exposed
    }
}

/// Runs the observing graph (`graph`, built with [`ConvPrecision::Observe`]) under tract on
/// every calibration case and returns each convolution input's scale from its largest |x|.
/// The graph is written to a hidden file in `dir` and removed afterwards.
pub fn calibrate(
    mut graph: GraphBuilder,
    dir: &Path,
    file_name: &str,
    cases: &[Vec<Tensor>],
) -> Result<ActivationScales> {
    if cases.is_empty() {
        bail!("{file_name}: no calibration inputs");
    }
    let exposed = graph.expose_observed();
    let first_observed = graph.output_count() - exposed.len();
    let path = dir.join(format!(".calibrate-{file_name}"));
    super::onnx::write_model(&graph.finish(&[]), &path)?;
    let result = (|| {
        let plan = check::tract_plan(&path)?;
        let mut max_abs = vec![0f32; exposed.len()];
        for inputs in cases {
            let outputs = check::run(&plan, inputs)
                .with_context(|| format!("{file_name}: calibration run"))?;
            for (m, t) in max_abs.iter_mut().zip(&outputs[first_observed..]) {
                *m = m.max(t.abs().max().double_value(&[]) as f32);
            }
        }
        Ok(exposed
            .iter()
            .zip(max_abs)
            .map(|((value, _), m)| (value.clone(), activation_scale(m)))
            .collect())
    })();
    std::fs::remove_file(&path).ok();
    result
}

/// Cosine similarity of two vectors (flattened).
pub fn cosine(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(Kind::Double).view([-1]);
    let b = b.to_kind(Kind::Double).view([-1]);
    let dot = (&a * &b).sum(Kind::Double).double_value(&[]);
    let norms = a.norm().double_value(&[]) * b.norm().double_value(&[]);
    if norms == 0.0 {
        0.0
    } else {
        dot / norms
    }
}

/// PSNR in dB of two images in [−1, 1] (a peak-to-peak range of 2).
pub fn psnr(reference: &Tensor, other: &Tensor) -> f64 {
    let mse = (reference.to_kind(Kind::Double) - other.to_kind(Kind::Double))
        .square()
        .mean(Kind::Double)
        .double_value(&[]);
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (4.0 / mse).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn rows_are_quantised_symmetrically_with_their_own_scale() {
        let w =
            Tensor::from_slice(&[1.0f32, -0.5, 0.25, 0.0, 0.0, 0.0, 10.0, 5.0, -2.5]).view([3, 3]);
        let (q, s) = quantize_rows(&w);
        assert_eq!(&q[0..3], &[127, -64, 32]);
        assert_eq!(&q[3..6], &[0, 0, 0]);
        assert_eq!(&q[6..9], &[127, 64, -32]);
        assert!((s[0] - 1.0 / 127.0).abs() < 1e-9 && s[1] == 1.0);
        assert!((s[2] - 10.0 / 127.0).abs() < 1e-7);
    }

    #[test]
    fn integer_convolution_follows_the_float_one() {
        tch::manual_seed(5);
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([1, 8, 6, 6], opts);
        let attrs = [
            Attr::Ints("kernel_shape", vec![3, 3]),
            Attr::Ints("pads", vec![1, 1, 1, 1]),
            Attr::Ints("strides", vec![1, 1]),
        ];
        let dims = super::super::generator::fixed(&[1, 8, 6, 6]);
        let build = |precision: ConvPrecision, w: &Tensor, b: &Tensor| {
            let out = super::super::generator::fixed(&[1, w.size()[0], 6, 6]);
            let mut g = GraphBuilder::new("t");
            g.quant.precision = precision;
            let xi = g.input("x", Elem::F32, &dims);
            let y = g.conv_node("conv", &xi, w, b, &attrs);
            g.output(&y, "y", Elem::F32, &out);
            g
        };
        let dir = tempfile::tempdir().unwrap();
        let wide = INT8_MIN_OUTPUT_CHANNELS;
        let w = Tensor::randn([wide, 8, 3, 3], opts) * 0.2;
        let b = Tensor::randn([wide], opts);
        let reference = x.conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1);
        let scales = calibrate(
            build(ConvPrecision::Observe, &w, &b),
            dir.path(),
            "t.onnx",
            &[vec![x.shallow_clone()]],
        )
        .unwrap();
        let max = x.abs().max().double_value(&[]) as f32;
        assert!((scales["x"] - max / 127.0).abs() < 1e-6, "{scales:?}");
        let int8 = build(ConvPrecision::Int8(scales.clone()), &w, &b);
        assert!(int8.op_types().contains(&"ConvInteger"));
        let path = dir.path().join("int8.onnx");
        super::super::onnx::write_model(&int8.finish(&[]), &path).unwrap();
        let plan = check::tract_plan(&path).unwrap();
        let got = check::run(&plan, &[x]).unwrap().remove(0);
        let err = check::relative_error(&reference, &got);
        assert!(err > 0.0 && err < 0.02, "{err}");
        assert!(cosine(&reference, &got) > 0.999);

        // A narrow convolution is faster in f32, so an int8 graph keeps it f32.
        let narrow = w.narrow(0, 0, 4);
        let kept = build(ConvPrecision::Int8(scales), &narrow, &b.narrow(0, 0, 4));
        assert!(kept.op_types().contains(&"Conv"));
        assert!(!kept.op_types().contains(&"ConvInteger"));
    }
}
