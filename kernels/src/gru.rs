//! The speech encoder's GRU steps, with the recurrent product in SIMD registers.
//!
//! tract runs an ONNX GRU as `GruSeq`: the input-side product once over the whole sequence
//! (a graph matrix product), then per step the recurrent product `R · h` through its generic
//! matrix kernel and the gate arithmetic. At hidden 128 that per-step product is a 384×128
//! matrix-vector product whose 196 KB weight comes from L2 on every step, and it takes about
//! three quarters of the op. [`RecurrentGru`] keeps the 384 accumulators in registers (24 zmm on
//! AVX-512) and streams the weight once per step in the order it is used.
//!
//! The int8 bundle's `R` is int8 per row behind a constant `DequantizeLinear` that tract folds to
//! f32 at load; widening int8 weights in registers was measured slower than reading the f32
//! ones here (`vpmovsxbd` + `vcvtdq2ps` per vector leave the AVX-512 ports busier than L2 is),
//! so both bundles run the same f32 product. The op is tract's `GruSeq` to float rounding: same
//! gate order and arithmetic, same `sigmoid` and `tanh` kernels.

use tract_core::internal::*;
use tract_core::ops::gru_seq::GruSeq;
use tract_core::tract_linalg::routines::Func;

use crate::simd::{self, Isa};

/// The op that replaces a projected, batch-1 `GruSeq` with a constant `R`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecurrentGru {
    pub hidden: usize,
    /// Runs the sequence last step first (the backward half of a bidirectional GRU).
    pub backward: bool,
    /// Whether the `Y` output holds every step (otherwise it is empty, as `GruSeq` does).
    pub emit_y: bool,
    /// `GruSeq`'s contract: false carries the hidden state from one call to the next in the
    /// session, `initial_h` seeding the first call only.
    pub reset_every_turn: bool,
    pub isa: Isa,
    /// `R` packed as `[row chunk][hidden column][chunk rows]`, rows padded with zeros to whole
    /// chunks of [`Isa::recurrent_rows`].
    weights: Arc<Tensor>,
    /// `R`'s bias, `3 · hidden` values (zeros without one).
    bias: Arc<Tensor>,
}

impl RecurrentGru {
    /// `r` is `[3 · hidden, hidden]` row-major in ONNX gate order (z, r, h), `bias` its
    /// `3 · hidden` values.
    pub fn new(
        hidden: usize,
        isa: Isa,
        r: &[f32],
        bias: &[f32],
        backward: bool,
        emit_y: bool,
        reset_every_turn: bool,
    ) -> TractResult<Self> {
        let rows = 3 * hidden;
        ensure!(
            hidden > 0 && r.len() == rows * hidden && bias.len() == rows,
            "recurrent GRU: R of {} values and bias of {} for hidden {hidden}",
            r.len(),
            bias.len()
        );
        let chunk = isa.recurrent_rows();
        let padded = rows.div_ceil(chunk) * chunk;
        let mut packed = vec![0f32; padded * hidden];
        for (i, row) in r.chunks_exact(hidden).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                packed[(i / chunk * hidden + j) * chunk + i % chunk] = v;
            }
        }
        Ok(RecurrentGru {
            hidden,
            backward,
            emit_y,
            reset_every_turn,
            isa,
            weights: Arc::new(tensor1(&packed)),
            bias: Arc::new(tensor1(bias)),
        })
    }

    /// The whole sequence: `xw` is the input-side product plus its bias, `[steps, 3 · hidden]`
    /// row-major; `h` holds the initial state and ends with the last one; `y`, when not empty,
    /// receives every step's state (`[steps, hidden]`, in time order).
    pub fn run(&self, xw: &[f32], h: &mut [f32], y: &mut [f32]) -> TractResult<()> {
        let n = self.hidden;
        ensure!(
            xw.len().is_multiple_of(3 * n) && h.len() == n,
            "recurrent GRU: {} input values and a state of {} for hidden {n}",
            xw.len(),
            h.len()
        );
        let steps = xw.len() / (3 * n);
        ensure!(y.is_empty() || y.len() == steps * n);
        let sigmoid = Func::Sigmoid.ew_f32()?;
        let tanh = Func::Tanh.ew_f32()?;
        let chunk = self.isa.recurrent_rows();
        let mut rh = vec![0f32; (3 * n).div_ceil(chunk) * chunk];
        let mut gates = vec![0f32; 3 * n];
        let bias = self.bias.try_as_plain_ram()?.as_slice::<f32>()?;
        let weights = self.weights.try_as_plain_ram()?.as_slice::<f32>()?;
        for step in 0..steps {
            let t = if self.backward {
                steps - 1 - step
            } else {
                step
            };
            // SAFETY: the op is only built for an `isa` of `Isa::available()` (see
            // `plan::substitute_recurrent_grus`); the weights were packed for its chunk size
            // and `rh` holds whole chunks.
            unsafe { simd::recurrent_product(self.isa, weights, h, &mut rh) };
            // tract's gate arithmetic (`gru_cell_rows`), in its order.
            gates.copy_from_slice(&xw[t * 3 * n..][..3 * n]);
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

    /// The op for `node` if it is a `GruSeq` this kernel covers: input-side product already
    /// projected out (tract does so above hidden 64), batch 1, constant `R`.
    pub fn for_node(model: &TypedModel, node: &TypedNode, isa: Isa) -> TractResult<Option<Self>> {
        let Some(gru) = node.op_as::<GruSeq>() else {
            return Ok(None);
        };
        let h = gru.hidden;
        // Inputs: [X·Wᵀ + Wb, R, (B), initial_h].
        let expected_inputs = if gru.has_bias { 4 } else { 3 };
        if !gru.projected || node.inputs.len() != expected_inputs || gru.chunk.abs() != 1 {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        if x.datum_type != f32::datum_type()
            || x.rank() != 3
            || x.shape[0] != 1.to_dim()
            || x.shape[2] != (3 * h).to_dim()
        {
            return Ok(None);
        }
        let Some(r) = model.outlet_fact(node.inputs[1])?.konst.clone() else {
            return Ok(None);
        };
        if r.datum_type() != f32::datum_type() || r.len() != 3 * h * h {
            return Ok(None);
        }
        let bias = if gru.has_bias {
            let Some(b) = model.outlet_fact(node.inputs[2])?.konst.clone() else {
                return Ok(None);
            };
            if b.datum_type() != f32::datum_type() || b.len() != 6 * h {
                return Ok(None);
            }
            // B is Wb ‖ Rb; Wb is already in input 0.
            b.try_as_plain_ram()?.as_slice::<f32>()?[3 * h..].to_vec()
        } else {
            vec![0.0; 3 * h]
        };
        let h0 = model.outlet_fact(node.inputs[expected_inputs - 1])?;
        if h0.datum_type != f32::datum_type() || h0.shape.volume() != h.to_dim() {
            return Ok(None);
        }
        Ok(Some(RecurrentGru::new(
            h,
            isa,
            r.try_as_plain_ram()?.as_slice::<f32>()?,
            &bias,
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
            "hidden {} {}, [{}]",
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
        let xw = &inputs[0];
        ensure!(
            xw.datum_type() == f32::datum_type()
                && xw.rank() == 3
                && xw.shape()[0] == 1
                && xw.shape()[2] == 3 * n,
            "RecurrentGru planned for f32 [1, steps, {}], got {:?} {:?}",
            3 * n,
            xw.datum_type(),
            xw.shape()
        );
        let steps = xw.shape()[1];
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
            xw.try_as_plain_ram()?.as_slice::<f32>()?,
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
            inputs[0].shape[1].clone() * (3 * n * n)
        )))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use crate::self_check::{gru_relative_error, TOLERANCE};
    use crate::simd::Isa;

    #[test]
    fn every_path_matches_the_onnx_definition() {
        for isa in Isa::available() {
            // The encoder's size, one under a whole chunk, and sizes that fill no chunk.
            for &(hidden, steps) in &[(128, 20), (127, 6), (8, 5), (37, 7)] {
                for backward in [false, true] {
                    let err =
                        gru_relative_error(isa, hidden, steps, backward, hidden as u64).unwrap();
                    assert!(
                        err < TOLERANCE,
                        "{} hidden {hidden} backward {backward}: {err:e}",
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
        let (n, steps) = (16, 4);
        let r = crate::self_check::values(3 * n * n, 1);
        let op = super::RecurrentGru::new(n, isa, &r, &vec![0.0; 3 * n], true, true, true).unwrap();
        let xw = crate::self_check::values(steps * 3 * n, 2);
        let mut h = vec![0f32; n];
        let mut y = vec![0f32; steps * n];
        op.run(&xw, &mut h, &mut y).unwrap();
        // Backward: the last step computed is time 0.
        assert_eq!(h, y[..n]);
    }
}
