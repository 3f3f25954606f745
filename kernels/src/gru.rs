//! The speech encoder's GRUs: the input-side product and the recurrent one in SIMD registers.
//!
//! tract runs an ONNX GRU as `GruSeq`: the input-side product `X · Wᵀ` once over the whole
//! sequence (a graph matrix product, 28–32 GMAC/s on the encoder's 72 × 384 × 128 shapes, split
//! in two around the concatenation of the previous layer's directions), then per step the
//! recurrent product `R · h` through its generic matrix kernel and the gate arithmetic. At
//! hidden 128 that per-step product is a 384×128 matrix-vector product whose 196 KB weight comes
//! from L2 on every step. [`RecurrentGru`] does both products itself: the input side blocked as
//! 6 steps × 64 rows in 24 registers (AVX-512), the recurrent side with all 384 accumulators in
//! registers, streaming the weight once per step in the order it is used.
//!
//! The int8 bundle's `W` and `R` are int8 per row behind constant `DequantizeLinear`s that
//! tract folds to f32 at load; widening int8 weights in registers was measured slower than
//! reading the f32 ones here (`vpmovsxbd` + `vcvtdq2ps` per vector leave the AVX-512 ports
//! busier than L2 is), so both bundles run the same f32 products. The op is tract's `GruSeq` to
//! float rounding: same gate order and arithmetic, same `sigmoid` and `tanh` kernels.

use tract_core::internal::*;
use tract_core::ops::gru_seq::GruSeq;
use tract_core::tract_linalg::routines::Func;

use crate::simd::{self, Isa, MatvecWeights, ProjectionArgs};

/// One GRU direction's weights as ONNX stores them (gate order z, r, h), row-major.
#[derive(Debug, Clone, Copy)]
pub struct GruWeights<'a> {
    /// `W`, `[3 · hidden, input]`.
    pub w: &'a [f32],
    /// `Wb`, `3 · hidden`.
    pub wb: &'a [f32],
    /// `R`, `[3 · hidden, hidden]`.
    pub r: &'a [f32],
    /// `Rb`, `3 · hidden`.
    pub rb: &'a [f32],
}

/// The op that replaces a batch-1 `GruSeq` with constant weights.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecurrentGru {
    pub hidden: usize,
    /// Input features per step.
    pub input: usize,
    /// Runs the sequence last step first (the backward half of a bidirectional GRU).
    pub backward: bool,
    /// Whether the `Y` output holds every step (otherwise it is empty, as `GruSeq` does).
    pub emit_y: bool,
    /// `GruSeq`'s contract: false carries the hidden state from one call to the next in the
    /// session, `initial_h` seeding the first call only.
    pub reset_every_turn: bool,
    pub isa: Isa,
    /// `W` packed as `[row chunk][input][chunk rows]`, rows padded with zeros to whole chunks
    /// of [`Isa::projection_rows`].
    input_weights: Arc<Tensor>,
    /// `Wb`, zero-padded like `W`'s rows.
    input_bias: Arc<Tensor>,
    /// `R` packed as `[row chunk][hidden column][chunk rows]`, rows padded with zeros to whole
    /// chunks of [`Isa::matvec_rows`].
    weights: Arc<Tensor>,
    /// `Rb`, `3 · hidden` values.
    bias: Arc<Tensor>,
}

/// `m` (`[rows, cols]` row-major) as `[row chunk][col][chunk]`, rows zero-padded to whole
/// chunks.
fn pack_columns(m: &[f32], cols: usize, chunk: usize) -> Vec<f32> {
    let rows = m.len() / cols;
    let mut packed = vec![0f32; rows.div_ceil(chunk) * chunk * cols];
    for (i, row) in m.chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            packed[(i / chunk * cols + j) * chunk + i % chunk] = v;
        }
    }
    packed
}

impl RecurrentGru {
    pub fn new(
        hidden: usize,
        input: usize,
        isa: Isa,
        weights: GruWeights,
        backward: bool,
        emit_y: bool,
        reset_every_turn: bool,
    ) -> TractResult<Self> {
        let rows = 3 * hidden;
        let GruWeights { w, wb, r, rb } = weights;
        ensure!(
            hidden > 0
                && input > 0
                && w.len() == rows * input
                && wb.len() == rows
                && r.len() == rows * hidden
                && rb.len() == rows,
            "recurrent GRU: W {}, Wb {}, R {}, Rb {} values for hidden {hidden}, input {input}",
            w.len(),
            wb.len(),
            r.len(),
            rb.len()
        );
        let mut input_bias = wb.to_vec();
        input_bias.resize(
            rows.div_ceil(isa.projection_rows()) * isa.projection_rows(),
            0.0,
        );
        Ok(RecurrentGru {
            hidden,
            input,
            backward,
            emit_y,
            reset_every_turn,
            isa,
            input_weights: Arc::new(tensor1(&pack_columns(w, input, isa.projection_rows()))),
            input_bias: Arc::new(tensor1(&input_bias)),
            weights: Arc::new(tensor1(&pack_columns(r, hidden, isa.matvec_rows()))),
            bias: Arc::new(tensor1(rb)),
        })
    }

    /// The whole sequence: `x` is `[steps, input]` row-major; `h` holds the initial state and
    /// ends with the last one; `y`, when not empty, receives every step's state
    /// (`[steps, hidden]`, in time order).
    pub fn run(&self, x: &[f32], h: &mut [f32], y: &mut [f32]) -> TractResult<()> {
        let n = self.hidden;
        ensure!(
            x.len().is_multiple_of(self.input) && h.len() == n,
            "recurrent GRU: {} input values and a state of {} for input {}, hidden {n}",
            x.len(),
            h.len(),
            self.input
        );
        let steps = x.len() / self.input;
        ensure!(y.is_empty() || y.len() == steps * n);
        fn plain(t: &Tensor) -> TractResult<&[f32]> {
            t.try_as_plain_ram()?.as_slice::<f32>()
        }
        let input_bias = plain(&self.input_bias)?;
        let projected_rows = input_bias.len();
        let mut xw = vec![0f32; steps * projected_rows];
        let args = ProjectionArgs {
            w: plain(&self.input_weights)?,
            bias: input_bias,
            x,
            k: self.input,
            rows: projected_rows,
            out: &mut xw,
        };
        // SAFETY: the op is only built for an `isa` of `Isa::available()` (see
        // `plan::substitute_recurrent_grus`), its weights packed for that isa's chunks; the
        // buffers are sized as `ProjectionArgs` requires.
        unsafe { simd::input_product(self.isa, args) };

        let sigmoid = Func::Sigmoid.ew_f32()?;
        let tanh = Func::Tanh.ew_f32()?;
        let chunk = self.isa.matvec_rows();
        let mut rh = vec![0f32; (3 * n).div_ceil(chunk) * chunk];
        let mut gates = vec![0f32; 3 * n];
        let bias = plain(&self.bias)?;
        let weights = plain(&self.weights)?;
        for step in 0..steps {
            let t = if self.backward {
                steps - 1 - step
            } else {
                step
            };
            // SAFETY: as above; `rh` holds whole chunks.
            unsafe { simd::matrix_vector(self.isa, MatvecWeights::F32(weights), h, &mut rh) };
            // tract's gate arithmetic (`gru_cell_rows`), in its order.
            gates.copy_from_slice(&xw[t * projected_rows..][..3 * n]);
            for j in 0..2 * n {
                gates[j] += rh[j] + bias[j];
            }
            sigmoid.run(&mut gates[..2 * n])?;
            for j in 0..n {
                gates[2 * n + j] += gates[n + j] * (rh[2 * n + j] + bias[2 * n + j]);
            }
            tanh.run(&mut gates[2 * n..])?;
            for j in 0..n {
                let candidate = gates[2 * n + j];
                h[j] = candidate + gates[j] * (h[j] - candidate);
            }
            if !y.is_empty() {
                y[t * n..][..n].copy_from_slice(h);
            }
        }
        Ok(())
    }

    /// The op for `node` if it is a `GruSeq` this kernel covers: input-side product not yet
    /// projected out (the model's constants propagated, not decluttered), batch 1, constant
    /// `W`, `R` and bias.
    pub fn for_node(model: &TypedModel, node: &TypedNode, isa: Isa) -> TractResult<Option<Self>> {
        let Some(gru) = node.op_as::<GruSeq>() else {
            return Ok(None);
        };
        let h = gru.hidden;
        // Inputs: [X, W, R, (B), initial_h].
        let expected_inputs = if gru.has_bias { 5 } else { 4 };
        if gru.projected || node.inputs.len() != expected_inputs || gru.chunk.abs() != 1 {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let Some(input) = x.shape.last().and_then(|d| d.to_usize().ok()) else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type() || x.rank() != 3 || x.shape[0] != 1.to_dim() {
            return Ok(None);
        }
        let constant = |slot: usize, len: usize| -> TractResult<Option<Arc<Tensor>>> {
            Ok(model
                .outlet_fact(node.inputs[slot])?
                .konst
                .clone()
                .filter(|t| t.datum_type() == f32::datum_type() && t.len() == len))
        };
        let (Some(w), Some(r)) = (constant(1, 3 * h * input)?, constant(2, 3 * h * h)?) else {
            return Ok(None);
        };
        // B is Wb ‖ Rb.
        let b = if gru.has_bias {
            let Some(b) = constant(3, 6 * h)? else {
                return Ok(None);
            };
            b.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()
        } else {
            vec![0.0; 6 * h]
        };
        let h0 = model.outlet_fact(node.inputs[expected_inputs - 1])?;
        if h0.datum_type != f32::datum_type() || h0.shape.volume() != h.to_dim() {
            return Ok(None);
        }
        let weights = GruWeights {
            w: w.try_as_plain_ram()?.as_slice::<f32>()?,
            wb: &b[..3 * h],
            r: r.try_as_plain_ram()?.as_slice::<f32>()?,
            rb: &b[3 * h..],
        };
        Ok(Some(RecurrentGru::new(
            h,
            input,
            isa,
            weights,
            gru.chunk < 0,
            gru.emit_y,
            gru.reset_every_turn,
        )?))
    }
}

impl Op for RecurrentGru {
    fn name(&self) -> StaticName {
        "RecurrentGru".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "input {}, hidden {} {}, [{}]",
            self.input,
            self.hidden,
            if self.backward { "backward" } else { "forward" },
            self.isa.name()
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

/// The hidden state carried from call to call when the op does not reset every turn.
#[derive(Debug, Clone, Default)]
struct CarriedState {
    h: Option<Vec<f32>>,
}

impl EvalOp for RecurrentGru {
    not_out_of_plan!();

    fn state(&self, _ctx: &EvalContext) -> TractResult<Option<Box<dyn OpState>>> {
        Ok(Some(Box::<CarriedState>::default()))
    }
}

impl OpState for CarriedState {
    fn eval(
        &mut self,
        _ctx: &EvalContext,
        op: &dyn Op,
        inputs: TVec<TValue>,
    ) -> TractResult<TVec<TValue>> {
        let op = op
            .downcast_ref::<RecurrentGru>()
            .context("RecurrentGru state on another op")?;
        let n = op.hidden;
        let x = &inputs[0];
        ensure!(
            x.datum_type() == f32::datum_type()
                && x.rank() == 3
                && x.shape()[0] == 1
                && x.shape()[2] == op.input,
            "RecurrentGru planned for f32 [1, steps, {}], got {:?} {:?}",
            op.input,
            x.datum_type(),
            x.shape()
        );
        let steps = x.shape()[1];
        let initial = inputs[inputs.len() - 1]
            .try_as_plain_ram()?
            .as_slice::<f32>()?;
        ensure!(
            initial.len() == n,
            "RecurrentGru: initial state of {} values",
            initial.len()
        );
        let mut h = match self.h.take().filter(|_| !op.reset_every_turn) {
            Some(carried) => carried,
            None => initial.to_vec(),
        };
        let mut y = Tensor::zero::<f32>(&[1, if op.emit_y { steps } else { 0 }, n])?;
        op.run(
            x.try_as_plain_ram()?.as_slice::<f32>()?,
            &mut h,
            y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        )?;
        let y_h = tensor1(&h).into_shape(&[1, 1, n])?;
        if !op.reset_every_turn {
            self.h = Some(h);
        }
        Ok(tvec!(y.into_tvalue(), y_h.into_tvalue()))
    }

    fn reset_lanes(&mut self, _lanes: &[LaneId]) -> TractResult<()> {
        bail!("RecurrentGru is not lane-aware: it carries a single hidden state")
    }
}

impl TypedOp for RecurrentGru {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let steps = if self.emit_y {
            inputs[0].shape[1].clone()
        } else {
            0.to_dim()
        };
        Ok(tvec!(
            f32::fact([1.to_dim(), steps, self.hidden.to_dim()]),
            f32::fact([1, 1, self.hidden])
        ))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let n = self.hidden;
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            inputs[0].shape[1].clone() * (3 * n * (n + self.input))
        )))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::{GruWeights, RecurrentGru};
    use crate::self_check::{gru_relative_error, values, TOLERANCE};
    use crate::simd::Isa;

    #[test]
    fn every_path_matches_the_onnx_definition() {
        for isa in Isa::available() {
            // The encoder's sizes, one under a whole chunk, sizes that fill no chunk, and step
            // counts with and without a remainder of the input side's 6-step blocks.
            for &(hidden, input, steps) in &[
                (128, 129, 20),
                (128, 256, 18),
                (127, 40, 6),
                (8, 3, 5),
                (37, 64, 7),
            ] {
                for backward in [false, true] {
                    let err =
                        gru_relative_error(isa, hidden, input, steps, backward, hidden as u64)
                            .unwrap();
                    assert!(
                        err < TOLERANCE,
                        "{} hidden {hidden} input {input} backward {backward}: {err:e}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn the_last_state_is_the_last_step_computed() {
        let Some(isa) = Isa::detect() else {
            return;
        };
        let (n, input, steps) = (16, 5, 4);
        let (w, r) = (values(3 * n * input, 1), values(3 * n * n, 2));
        let zeros = vec![0.0; 3 * n];
        let weights = GruWeights {
            w: &w,
            wb: &zeros,
            r: &r,
            rb: &zeros,
        };
        let op = RecurrentGru::new(n, input, isa, weights, true, true, true).unwrap();
        let x = values(steps * input, 3);
        let mut h = vec![0f32; n];
        let mut y = vec![0f32; steps * n];
        op.run(&x, &mut h, &mut y).unwrap();
        // Backward: the last step computed is time 0.
        assert_eq!(h, y[..n]);
    }
}
