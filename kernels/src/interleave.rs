//! The up-blocks' `DepthToSpace` in one pass.
//!
//! The export interleaves the four phase planes of each up-sampling convolution with
//! `DepthToSpace` (DCR, block 2). tract lowers that to a reshape to `[n, 2, 2, c, h, w]` and two
//! axis moves, `Move(2, 5)` then `Move(1, 3)`, each a full copy, the first with the column phase
//! innermost (an element-by-element scatter). [`Interleave`] does both moves in one copy: for
//! each output row, the two column phases' input rows zipped.

use tract_core::internal::*;

/// `[n, a, b, c, h, w]` → `[n, c, h, a, w, b]`: tract's `Move(2, 5)` followed by `Move(1, 3)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Interleave {
    /// The input's shape, `[n, a, b, c, h, w]`.
    pub input: [usize; 6],
}

impl Interleave {
    /// The output's shape, `[n, c, h, a, w, b]`.
    pub fn output(&self) -> [usize; 6] {
        let [n, a, b, c, h, w] = self.input;
        [n, c, h, a, w, b]
    }

    /// The op for `node` if it is the first of the two moves, an f32 of concrete rank-6 shape
    /// whose only consumer is the second.
    pub fn for_node(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        if node.op_as::<AxisOp>() != Some(&AxisOp::Move(2, 5)) || node.inputs.len() != 1 {
            return Ok(None);
        }
        let fact = model.outlet_fact(node.inputs[0])?;
        let Some(shape) = fact.shape.as_concrete() else {
            return Ok(None);
        };
        let Ok(input) = <[usize; 6]>::try_from(shape) else {
            return Ok(None);
        };
        if fact.datum_type != f32::datum_type()
            || model.outputs.contains(&OutletId::new(node.id, 0))
        {
            return Ok(None);
        }
        match &node.outputs[0].successors[..] {
            [next] if model.node(next.node).op_as::<AxisOp>() == Some(&AxisOp::Move(1, 3)) => {
                Ok(Some(Interleave { input }))
            }
            _ => Ok(None),
        }
    }

    /// `y[n][c][i][ka][x][kb] = x[n][ka][kb][c][i][x]` (`i` the row, `x` the column).
    pub fn compute(&self, input: &[f32], out: &mut [f32]) {
        let [n, a, b, c, h, w] = self.input;
        let plane = h * w;
        let mut rows = out.chunks_exact_mut(w * b);
        for ni in 0..n {
            for ci in 0..c {
                for y in 0..h {
                    for ka in 0..a {
                        let row = rows.next().expect("the output has n·c·h·a rows");
                        // Input row (ni, ka, kb, ci, y) starts here for kb = 0; kb steps c planes.
                        let start = (((ni * a + ka) * b) * c + ci) * plane + y * w;
                        let source = |kb: usize| {
                            let s = start + kb * c * plane;
                            &input[s..s + w]
                        };
                        if b == 2 {
                            // The up-blocks' case: a zip that compiles to vector shuffles.
                            let (even, odd) = (source(0), source(1));
                            for ((pair, &e), &o) in row.chunks_exact_mut(2).zip(even).zip(odd) {
                                pair[0] = e;
                                pair[1] = o;
                            }
                        } else {
                            for kb in 0..b {
                                for (x, &v) in source(kb).iter().enumerate() {
                                    row[x * b + kb] = v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Op for Interleave {
    fn name(&self) -> StaticName {
        "Interleave".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} → {:?}", self.input, self.output())])
    }

    op_as_typed_op!();
}

impl EvalOp for Interleave {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        ensure!(
            x.datum_type() == f32::datum_type() && x.shape() == self.input,
            "Interleave planned for f32 {:?}, got {:?} {:?}",
            self.input,
            x.datum_type(),
            x.shape()
        );
        let mut y = Tensor::zero::<f32>(&self.output())?;
        self.compute(
            x.try_as_plain_ram()?.as_slice::<f32>()?,
            y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for Interleave {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.output())))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The op against tract's two moves, on values that tell every element apart.
    #[test]
    fn one_pass_equals_the_two_moves() {
        for input in [
            [1, 2, 2, 3, 4, 5],
            [1, 2, 2, 16, 64, 64],
            [2, 3, 2, 2, 3, 7],
            [1, 1, 3, 1, 1, 1],
        ] {
            let len: usize = input.iter().product();
            let values: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let x = tensor1(&values).into_shape(&input).unwrap();
            let mut moved = x.clone();
            AxisOp::Move(2, 5).change_tensor(&mut moved, false).unwrap();
            AxisOp::Move(1, 3).change_tensor(&mut moved, false).unwrap();
            let op = Interleave { input };
            let y = op
                .eval(&EvalContext::out_of_plan(), tvec!(x.into_tvalue()))
                .unwrap()
                .remove(0);
            assert_eq!(y.shape(), moved.shape());
            assert_eq!(
                y.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
                moved.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
                "{input:?}"
            );
        }
    }
}
