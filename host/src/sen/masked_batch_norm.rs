//! BatchNorm1d whose training statistics skip padded frames.
//!
//! The paper's code lets zero padding into the conv BN statistics (spec §14.3), so an utterance's
//! training-time normalisation depends on its batch mates' lengths. Counting only valid frames
//! removes that, and at inference (running statistics) it is an ordinary BatchNorm1d, which the
//! exporter folds into the convolution. Variable names follow torch's for weight conversion.

use tch::{nn, Kind, Tensor};

#[derive(Debug)]
pub struct MaskedBatchNorm1d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub eps: f64,
    pub momentum: f64,
}

impl MaskedBatchNorm1d {
    pub fn new(p: nn::Path, channels: i64) -> Self {
        Self {
            weight: p.ones("weight", &[channels]),
            bias: p.zeros("bias", &[channels]),
            running_mean: p.zeros_no_train("running_mean", &[channels]),
            running_var: p.ones_no_train("running_var", &[channels]),
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// `xs`: `[B, C, T]`; `mask`: `[B, 1, T]` float, 1 on valid frames.
    pub fn forward_t(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let (mean, var) = if train {
            let count = mask.sum(Kind::Float).clamp_min(1.0);
            let mean = (xs * mask).sum_dim_intlist([0, 2].as_slice(), false, Kind::Float) / &count;
            let centred = (xs - mean.view([1, -1, 1])) * mask;
            let var = centred
                .square()
                .sum_dim_intlist([0, 2].as_slice(), false, Kind::Float)
                / &count;
            tch::no_grad(|| {
                let unbiased = &var * &count / (&count - 1.0).clamp_min(1.0);
                let mut rm = self.running_mean.shallow_clone();
                let mut rv = self.running_var.shallow_clone();
                let _ = rm.g_mul_scalar_(1.0 - self.momentum);
                let _ = rm.g_add_(&(mean.detach() * self.momentum));
                let _ = rv.g_mul_scalar_(1.0 - self.momentum);
                let _ = rv.g_add_(&(unbiased.detach() * self.momentum));
            });
            (mean, var)
        } else {
            (
                self.running_mean.shallow_clone(),
                self.running_var.shallow_clone(),
            )
        };
        let scale = &self.weight / (var + self.eps).sqrt();
        let shift = &self.bias - &mean * &scale;
        xs * scale.view([1, -1, 1]) + shift.view([1, -1, 1])
    }
}
