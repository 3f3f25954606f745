//! Adam with coupled L2 weight decay, PyTorch's formula, with its state in plain named tensors.
//!
//! tch's built-in optimiser keeps its moments inside libtorch where they cannot be saved, so a
//! resumed run would restart Adam from zero and diverge from the uninterrupted one. Owning the
//! state makes `--resume` exact: the moments and the step count go into the checkpoint.

use std::collections::BTreeMap;

use tch::{nn::VarStore, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Added to the gradient (`g + wd·θ`), as `torch.optim.Adam(weight_decay=…)` does.
    pub weight_decay: f64,
}

impl AdamConfig {
    pub fn new(lr: f64, beta1: f64, beta2: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            beta1,
            beta2,
            eps: 1e-8,
            weight_decay,
        }
    }
}

/// The optimiser over every trainable variable of a `VarStore`, by name.
pub struct Adam {
    pub config: AdamConfig,
    lr: f64,
    step: i64,
    params: Vec<(String, Tensor)>,
    first: BTreeMap<String, Tensor>,
    second: BTreeMap<String, Tensor>,
}

impl Adam {
    pub fn new(vs: &VarStore, config: AdamConfig) -> Self {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = |t: &Tensor| t.zeros_like().set_requires_grad(false);
        let first = params.iter().map(|(n, t)| (n.clone(), zeros(t))).collect();
        let second = params.iter().map(|(n, t)| (n.clone(), zeros(t))).collect();
        Self {
            lr: config.lr,
            config,
            step: 0,
            params,
            first,
            second,
        }
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn steps_taken(&self) -> i64 {
        self.step
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Backward pass of `loss` and one update.
    pub fn backward_step(&mut self, loss: &Tensor) {
        self.zero_grad();
        loss.backward();
        self.step();
    }

    pub fn step(&mut self) {
        self.step += 1;
        let c = self.config;
        let bias1 = 1.0 - c.beta1.powi(self.step as i32);
        let bias2 = 1.0 - c.beta2.powi(self.step as i32);
        tch::no_grad(|| {
            for (name, p) in &mut self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let g = if c.weight_decay != 0.0 {
                    &g + &*p * c.weight_decay
                } else {
                    g
                };
                let m = self.first.get_mut(name).expect("moment per parameter");
                let _ = m.g_mul_scalar_(c.beta1).g_add_(&(&g * (1.0 - c.beta1)));
                let v = self.second.get_mut(name).expect("moment per parameter");
                let _ = v
                    .g_mul_scalar_(c.beta2)
                    .g_add_(&(g.square() * (1.0 - c.beta2)));
                let denom = v.sqrt() / bias2.sqrt() + c.eps;
                let _ = p.g_sub_(&(&*m / denom * (self.lr / bias1)));
            }
        });
    }

    /// The state as named tensors (`<prefix>m/<var>`, `<prefix>v/<var>`, `<prefix>step`).
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for (name, m) in &self.first {
            out.push((format!("{prefix}m/{name}"), m.shallow_clone()));
        }
        for (name, v) in &self.second {
            out.push((format!("{prefix}v/{name}"), v.shallow_clone()));
        }
        out.push((format!("{prefix}step"), Tensor::from_slice(&[self.step])));
        out.push((format!("{prefix}lr"), Tensor::from_slice(&[self.lr])));
        out
    }

    /// Restores what [`Adam::state`] wrote; every moment must be present with the right shape.
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<(), String> {
        let get = |key: String| {
            tensors
                .get(&key)
                .ok_or_else(|| format!("optimiser state `{key}` is missing"))
        };
        for (name, p) in &self.params {
            for (kind, store) in [("m", &mut self.first), ("v", &mut self.second)] {
                let saved = get(format!("{prefix}{kind}/{name}"))?;
                if saved.size() != p.size() {
                    return Err(format!(
                        "optimiser state `{prefix}{kind}/{name}` has shape {:?}, the model {:?}",
                        saved.size(),
                        p.size()
                    ));
                }
                let dst = store.get_mut(name).expect("moment per parameter");
                tch::no_grad(|| dst.copy_(saved));
            }
        }
        self.step = get(format!("{prefix}step"))?.int64_value(&[0]);
        self.lr = get(format!("{prefix}lr"))?
            .to_kind(Kind::Double)
            .double_value(&[0]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    /// One step by hand: with g = 2θ (loss θ²) the first update moves each weight by lr·sign.
    #[test]
    fn first_step_matches_hand_computation() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let mut adam = Adam::new(&vs, AdamConfig::new(0.1, 0.9, 0.999, 0.0));
        let loss = (&w * &w).sum(Kind::Float);
        adam.backward_step(&loss);
        let got = Vec::<f32>::try_from(&w).unwrap();
        // m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        assert!((got[0] - 0.9).abs() < 1e-6, "{got:?}");
        assert!((got[1] + 1.9).abs() < 1e-6, "{got:?}");
    }

    /// Same trajectory as PyTorch's Adam with coupled weight decay (values from
    /// `torch.optim.Adam([w], lr=0.01, betas=(0.95, 0.999), weight_decay=1e-3)`, three steps on
    /// loss = sum(w³) from w = [0.5, -1.5]).
    #[test]
    fn matches_torch_with_weight_decay() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[0.5f64, -1.5]));
        let mut adam = Adam::new(&vs, AdamConfig::new(0.01, 0.95, 0.999, 1e-3));
        for _ in 0..3 {
            let loss = w.pow_tensor_scalar(3).sum(Kind::Double);
            adam.backward_step(&loss);
        }
        let got = Vec::<f64>::try_from(&w).unwrap();
        let want = [0.4700263098672104, -1.530005304282522];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let run = |split: bool| {
            tch::manual_seed(1);
            let vs = VarStore::new(Device::Cpu);
            let lin = nn::linear(vs.root() / "l", 3, 2, Default::default());
            let x = Tensor::from_slice(&[0.1f32, -0.4, 0.7, 1.0, 0.3, -0.2]).view([2, 3]);
            let mut adam = Adam::new(&vs, AdamConfig::new(0.05, 0.9, 0.99, 1e-3));
            let step = |adam: &mut Adam| {
                let loss = x.apply(&lin).square().sum(Kind::Float);
                adam.backward_step(&loss);
            };
            step(&mut adam);
            if split {
                let state: BTreeMap<String, Tensor> = adam
                    .state("opt/")
                    .into_iter()
                    .map(|(k, t)| (k, t.copy()))
                    .collect();
                let mut fresh = Adam::new(&vs, AdamConfig::new(0.05, 0.9, 0.99, 1e-3));
                fresh.load_state("opt/", &state).unwrap();
                adam = fresh;
            }
            step(&mut adam);
            Vec::<f32>::try_from(&lin.ws.flatten(0, -1)).unwrap()
        };
        assert_eq!(run(false), run(true));
    }
}
