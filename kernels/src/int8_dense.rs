//! A batch-1 dense layer whose weight the int8 bundle stores as int8 rows behind a constant
//! `DequantizeLinear`: stage 1's projection of the condition and noise, `[1, 164] · Wᵀ` with
//! `W` 8192 × 164. tract folds `W` to f32 at load, 5.4 MB read on every run, mostly from L3 once
//! the other networks have run. [`Int8Dense`] keeps the 1.3 MB of int8 and widens it in
//! registers: `y[n] = s[n] · Σ_k q[n][k] · x[k]`, the graph's `Σ_k (q[n][k] · s[n]) · x[k]` to
//! float rounding.

use tract_core::internal::*;
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::cast::Cast;
use tract_core::ops::einsum::EinSum;

use crate::simd::{self, Isa, MatvecWeights};

/// The op that replaces the `EinSum` of such a layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Int8Dense {
    /// Inputs per row.
    pub k: usize,
    /// Outputs.
    pub n: usize,
    pub isa: Isa,
    /// `q` packed as `[row chunk][k][chunk rows]`, rows zero-padded to whole chunks of
    /// [`Isa::matvec_rows`].
    weights: Arc<Tensor>,
    /// One per row, zero-padded like the rows.
    scales: Arc<Tensor>,
}

impl Int8Dense {
    /// `q` is `[n, k]` row-major, `scales` one per row.
    pub fn new(isa: Isa, q: &[i8], scales: &[f32], k: usize) -> TractResult<Self> {
        ensure!(
            k > 0 && q.len().is_multiple_of(k) && q.len() / k == scales.len(),
            "int8 dense: {} weights and {} scales for {k} inputs per row",
            q.len(),
            scales.len()
        );
        let n = scales.len();
        let chunk = isa.matvec_rows();
        let padded = n.div_ceil(chunk) * chunk;
        let mut packed = vec![0i8; padded * k];
        for (i, row) in q.chunks_exact(k).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                packed[(i / chunk * k + j) * chunk + i % chunk] = v;
            }
        }
        let mut s = scales.to_vec();
        s.resize(padded, 0.0);
        Ok(Int8Dense {
            k,
            n,
            isa,
            weights: Arc::new(tensor1(&packed)),
            scales: Arc::new(tensor1(&s)),
        })
    }

    /// `y = W · x` for one input row `x` of `k` values.
    pub fn compute(&self, x: &[f32], y: &mut [f32]) -> TractResult<()> {
        ensure!(x.len() == self.k && y.len() == self.n);
        let scales = self.scales.try_as_plain_ram()?.as_slice::<f32>()?;
        let weights = self.weights.try_as_plain_ram()?.as_slice::<i8>()?;
        let mut acc = vec![0f32; scales.len()];
        // SAFETY: built for an `isa` of `Isa::available()` (`plan::substitute_int8_dense`),
        // packed in its chunks; `acc` holds whole chunks.
        unsafe { simd::matrix_vector(self.isa, MatvecWeights::I8(weights), x, &mut acc) };
        for ((o, a), s) in y.iter_mut().zip(&acc).zip(scales) {
            *o = a * s;
        }
        Ok(())
    }

    /// The op for `node` if it is `EinSum("mk,nk->mn")` of one f32 row by a weight that the
    /// graph dequantises from constants, `(f32(q) − 0) · s[n]`, as the export writes a Gemm's
    /// weight in an int8 file (the constants propagated, not yet decluttered).
    pub fn for_node(model: &TypedModel, node: &TypedNode, isa: Isa) -> TractResult<Option<Self>> {
        let Some(einsum) = node.op_as::<EinSum>() else {
            return Ok(None);
        };
        if einsum.axes.to_string() != "mk,nk->mn"
            || einsum.q_params.is_some()
            || einsum.operating_dt != f32::datum_type()
            || node.inputs.len() != 2
        {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        if x.datum_type != f32::datum_type() || x.shape.as_concrete().is_none_or(|s| s[0] != 1) {
            return Ok(None);
        }
        let Some((q, scales)) = dequantised_rows(model, node.inputs[1])? else {
            return Ok(None);
        };
        let shape = q.shape().to_vec();
        let [_, k] = shape[..] else {
            return Ok(None);
        };
        Ok(Some(Int8Dense::new(
            isa,
            q.try_as_plain_ram()?.as_slice::<i8>()?,
            &scales,
            k,
        )?))
    }
}

/// The constant int8 `q` `[n, k]` and per-row scales behind `outlet` if it is
/// `Mul(Sub(Cast(q), 0), s[n, 1])`: how `DequantizeLinear(q, s, axis 0)` arrives in tract.
fn dequantised_rows(
    model: &TypedModel,
    outlet: OutletId,
) -> TractResult<Option<(Arc<Tensor>, Vec<f32>)>> {
    let konst = |o: OutletId| model.outlet_fact(o).map(|f| f.konst.clone());
    let bin = |node: &TypedNode, name: &str| {
        node.op_as::<TypedBinOp>()
            .is_some_and(|op| op.1.is_none() && op.0.name() == name)
    };
    let mul = model.node(outlet.node);
    if !bin(mul, "Mul") || mul.inputs.len() != 2 {
        return Ok(None);
    }
    let (Some(scale), None) = (konst(mul.inputs[1])?, konst(mul.inputs[0])?) else {
        return Ok(None);
    };
    let sub = model.node(mul.inputs[0].node);
    if !bin(sub, "Sub") || sub.inputs.len() != 2 {
        return Ok(None);
    }
    match konst(sub.inputs[1])? {
        Some(zero) if zero.len() == 1 && zero.cast_to_scalar::<f32>()? == 0.0 => {}
        _ => return Ok(None),
    }
    let cast = model.node(sub.inputs[0].node);
    if cast
        .op_as::<Cast>()
        .is_none_or(|c| c.to != f32::datum_type())
    {
        return Ok(None);
    }
    let Some(q) = konst(cast.inputs[0])? else {
        return Ok(None);
    };
    if q.datum_type() != i8::datum_type() || q.rank() != 2 {
        return Ok(None);
    }
    let rows = q.shape()[0];
    if scale.datum_type() != f32::datum_type() || scale.len() != rows || scale.shape()[0] != rows {
        return Ok(None);
    }
    let scales = scale.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    Ok(Some((q, scales)))
}

impl Op for Int8Dense {
    fn name(&self) -> StaticName {
        "Int8Dense".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} → {}, int8 weights, [{}]",
            self.k,
            self.n,
            self.isa.name()
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for Int8Dense {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        ensure!(
            x.datum_type() == f32::datum_type() && x.shape() == [1, self.k],
            "Int8Dense planned for f32 [1, {}], got {:?} {:?}",
            self.k,
            x.datum_type(),
            x.shape()
        );
        let mut y = Tensor::zero::<f32>(&[1, self.n])?;
        self.compute(
            x.try_as_plain_ram()?.as_slice::<f32>()?,
            y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        )?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for Int8Dense {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact([1, self.n])))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            (self.k * self.n).to_dim()
        )))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use crate::self_check::{dense_relative_error, TOLERANCE};
    use crate::simd::Isa;

    #[test]
    fn every_path_matches_the_definition() {
        for isa in Isa::available() {
            for &(n, k) in &[(8192, 164), (100, 7), (1, 3)] {
                let worst = dense_relative_error(isa, n, k, n as u64).unwrap();
                assert!(worst < TOLERANCE, "{} {n}×{k}: {worst:e}", isa.name());
            }
        }
    }
}
