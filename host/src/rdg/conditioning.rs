//! Conditioning augmentation (spec §5.2): the speech embedding becomes a Gaussian over condition
//! vectors, sampled each time, so nearby embeddings give overlapping conditions and the generator
//! sees a smoother condition manifold than the few thousand fixed embeddings.

use tch::{nn, nn::Module, Kind, Tensor};

use super::blocks::glu;

#[derive(Debug)]
pub struct ConditioningAugmentation {
    /// embedding → 4·cond; GLU leaves 2·cond = μ ‖ log σ².
    pub fc: nn::Linear,
    pub condition_dim: i64,
}

impl ConditioningAugmentation {
    pub fn new(p: nn::Path, embedding_dim: i64, condition_dim: i64) -> Self {
        Self {
            fc: nn::linear(
                &p / "fc",
                embedding_dim,
                4 * condition_dim,
                Default::default(),
            ),
            condition_dim,
        }
    }

    /// `embedding`: `[B, E]`. Returns `(c, μ, log σ²)`, each `[B, cond]`. With `sample` the
    /// condition is c = μ + σ ⊙ ε, ε ~ N(0, I), as the paper does in training *and* at test time
    /// (spec §14.19); without it c = μ, the deterministic form an exported model can offer.
    pub fn forward(&self, embedding: &Tensor, sample: bool) -> (Tensor, Tensor, Tensor) {
        let g = glu(&self.fc.forward(embedding));
        let mu = g.narrow(1, 0, self.condition_dim);
        let logvar = g.narrow(1, self.condition_dim, self.condition_dim);
        let c = if sample {
            let std = (&logvar * 0.5).exp();
            &mu + &std * std.randn_like()
        } else {
            mu.shallow_clone()
        };
        (c, mu, logvar)
    }
}

/// KL(N(μ, σ²) ‖ N(0, I)) as the paper's code computes it: the **mean** over batch and dimensions
/// of −½(1 + log σ² − μ² − σ²), not the usual per-sample sum (spec §14.17; weight 2.0 on top).
pub fn kl_loss(mu: &Tensor, logvar: &Tensor) -> Tensor {
    let element = logvar.exp() + mu.square() - logvar - 1.0;
    element.mean(Kind::Float) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn kl_matches_a_hand_computation() {
        // μ = (1, 0), log σ² = (0, ln 2):
        //   −½(1 + 0 − 1 − 1) = 0.5;  −½(1 + ln 2 − 0 − 2) = ½ − ½ ln 2.
        let mu = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let logvar = Tensor::from_slice(&[0.0f32, 2f32.ln()]).view([1, 2]);
        let expected = (0.5 + 0.5 - 0.5 * 2f64.ln()) / 2.0;
        let got = kl_loss(&mu, &logvar).double_value(&[]);
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        // Zero exactly at the prior.
        let zeros = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu));
        assert_eq!(kl_loss(&zeros, &zeros).double_value(&[]), 0.0);
    }

    #[test]
    fn shapes_and_the_deterministic_switch() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let ca = ConditioningAugmentation::new(vs.root() / "ca", 16, 6);
        assert_eq!(ca.fc.ws.size(), [24, 16]);
        let e = Tensor::randn([3, 16], (Kind::Float, Device::Cpu));
        let (c, mu, logvar) = ca.forward(&e, true);
        for t in [&c, &mu, &logvar] {
            assert_eq!(t.size(), [3, 6]);
        }
        assert!(f64::try_from((&c - &mu).abs().max()).unwrap() > 0.0);
        let (c, mu, _) = ca.forward(&e, false);
        assert!(c.equal(&mu));
    }
}
