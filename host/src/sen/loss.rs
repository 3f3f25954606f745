//! The SEN losses (spec §4.2): the symmetric in-batch matching loss with same-class impostors
//! removed, and the distinctive (class) loss on both embeddings.

use tch::{nn, Kind, Tensor};

/// L_m for unit image embeddings `v` and speech embeddings `s` (`[B, D]`, row i pairs with row i).
/// S_ij = γ·cos(v_i, s_j); other pairs of the same class leave the softmax denominators; the
/// loss is cross-entropy over rows (image → speech) plus over columns (speech → image).
pub fn matching_loss(v: &Tensor, s: &Tensor, class_ids: &Tensor, gamma: f64) -> Tensor {
    let b = v.size()[0];
    let device = v.device();
    let scores = v.matmul(&s.transpose(0, 1)) * gamma;
    let same_class = class_ids.unsqueeze(1).eq_tensor(&class_ids.unsqueeze(0));
    let diagonal = Tensor::eye(b, (Kind::Bool, device));
    let impostor = same_class.logical_and(&diagonal.logical_not());
    let scores = scores.masked_fill(&impostor, f64::NEG_INFINITY);
    let target = Tensor::arange(b, (Kind::Int64, device));
    scores.cross_entropy_for_logits(&target)
        + scores.transpose(0, 1).cross_entropy_for_logits(&target)
}

/// The shared linear classifier of L_d (Xavier-uniform weight, default bias).
#[derive(Debug)]
pub struct ClassHead {
    linear: nn::Linear,
}

impl ClassHead {
    pub fn new(p: nn::Path, embedding_dim: i64, classes: i64) -> Self {
        let bound = 1.0 / (embedding_dim as f64).sqrt();
        let xavier = (6.0 / (embedding_dim + classes) as f64).sqrt();
        let linear = nn::linear(
            p,
            embedding_dim,
            classes,
            nn::LinearConfig {
                ws_init: nn::Init::Uniform {
                    lo: -xavier,
                    up: xavier,
                },
                bs_init: Some(nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                }),
                bias: true,
            },
        );
        Self { linear }
    }

    /// L_d = CE(head(v), y) + CE(head(s), y).
    pub fn distinctive_loss(&self, v: &Tensor, s: &Tensor, class_ids: &Tensor) -> Tensor {
        v.apply(&self.linear).cross_entropy_for_logits(class_ids)
            + s.apply(&self.linear).cross_entropy_for_logits(class_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(rows: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, 2])
    }

    /// Three pairs in 2-D, classes [0, 0, 1]; computed by hand (see the comments).
    #[test]
    fn matching_loss_by_hand() {
        let v = t(&[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]);
        let s = t(&[[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]);
        let classes = Tensor::from_slice(&[0i64, 0, 1]);
        let gamma = 2.0;
        let got = f64::try_from(matching_loss(&v, &s, &classes, gamma)).unwrap();
        // cos matrix C (rows v, cols s):
        //   [1.0, 0.6, 0.0]
        //   [0.0, 0.8, 1.0]
        //   [0.6, 1.0, 0.8]
        // Impostors (same class, off-diagonal): (0,1) and (1,0).
        let lse = |xs: &[f64]| xs.iter().map(|x| (gamma * x).exp()).sum::<f64>().ln();
        let rows = (lse(&[1.0, 0.0]) - gamma * 1.0)
            + (lse(&[0.8, 1.0]) - gamma * 0.8)
            + (lse(&[0.6, 1.0, 0.8]) - gamma * 0.8);
        let cols = (lse(&[1.0, 0.6]) - gamma * 1.0)
            + (lse(&[0.8, 1.0]) - gamma * 0.8)
            + (lse(&[0.0, 1.0, 0.8]) - gamma * 0.8);
        let want = rows / 3.0 + cols / 3.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn perfect_alignment_with_large_gamma_costs_nearly_nothing() {
        let v = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let classes = Tensor::from_slice(&[0i64, 1]);
        let got = f64::try_from(matching_loss(&v, &v, &classes, 50.0)).unwrap();
        assert!(got < 1e-6, "{got}");
    }

    #[test]
    fn distinctive_loss_is_two_cross_entropies() {
        let vs = nn::VarStore::new(Device::Cpu);
        let head = ClassHead::new(vs.root(), 2, 3);
        let v = t(&[[1.0, 0.0]]);
        let y = Tensor::from_slice(&[2i64]);
        let one = f64::try_from(v.apply(&head.linear).cross_entropy_for_logits(&y)).unwrap();
        let both = f64::try_from(head.distinctive_loss(&v, &v, &y)).unwrap();
        assert!((both - 2.0 * one).abs() < 1e-6);
    }
}
