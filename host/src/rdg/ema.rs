//! Exponential moving average of the generator's parameters (spec §8): after every G step
//! θ_avg ← d·θ_avg + (1 − d)·θ over the trainable variables only. BN running statistics are
//! buffers, not parameters: sampling with the average uses the live model's statistics, as the
//! paper's checkpoints do (spec §14.18).
//!
//! The averages are kept by variable name, so they can go into a checkpoint and come back, and
//! be swapped into the live VarStore to sample and swapped out again.

use std::collections::BTreeMap;

use tch::{nn::VarStore, Tensor};

#[derive(Debug)]
pub struct Ema {
    decay: f64,
    /// Variable name → running average (detached copies, same device as the live variable).
    averages: BTreeMap<String, Tensor>,
}

impl Ema {
    /// Starts the averages at the current values of every trainable variable of `vs`.
    pub fn new(vs: &VarStore, decay: f64) -> Self {
        Self::under(vs, "", decay)
    }

    /// As [`Ema::new`], for the trainable variables whose names start with `prefix` (for a
    /// VarStore that also holds other networks), e.g. `"g."`.
    pub fn under(vs: &VarStore, prefix: &str, decay: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&decay),
            "EMA decay {decay} outside [0, 1]"
        );
        let averages = vs
            .variables()
            .into_iter()
            .filter(|(name, t)| t.requires_grad() && name.starts_with(prefix))
            .map(|(name, t)| (name, t.detach().copy()))
            .collect();
        Self { decay, averages }
    }

    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// Names of the averaged variables, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.averages.keys().map(String::as_str)
    }

    /// θ_avg ← d·θ_avg + (1 − d)·θ for every averaged variable.
    pub fn update(&mut self, vs: &VarStore) {
        let live = vs.variables();
        let d = self.decay;
        tch::no_grad(|| {
            for (name, avg) in &mut self.averages {
                let theta = live_variable(&live, name);
                let _ = avg.g_mul_scalar_(d);
                let _ = avg.g_add_(&(theta * (1.0 - d)));
            }
        });
    }

    /// Exchanges the live values and the averages. Call once to sample with the averages, and
    /// once more to go back to training exactly where it was.
    pub fn swap(&mut self, vs: &VarStore) {
        let live = vs.variables();
        tch::no_grad(|| {
            for (name, avg) in &mut self.averages {
                let mut theta = live_variable(&live, name);
                let held = theta.detach().copy();
                theta.copy_(avg);
                avg.copy_(&held);
            }
        });
    }

    /// Runs `f` with the averaged weights in `vs`, then puts the live weights back.
    pub fn with_averaged<R>(&mut self, vs: &VarStore, f: impl FnOnce() -> R) -> R {
        self.swap(vs);
        let out = f();
        self.swap(vs);
        out
    }

    /// Overwrites the live values with the averages (what the paper's checkpoint saving did
    /// every 50 epochs, spec §14.18; also how an exporter gets the averaged generator).
    pub fn copy_to(&self, vs: &VarStore) {
        let live = vs.variables();
        tch::no_grad(|| {
            for (name, avg) in &self.averages {
                live_variable(&live, name).copy_(avg);
            }
        });
    }

    /// The averages by name, for a checkpoint.
    pub fn named_averages(&self) -> Vec<(String, Tensor)> {
        self.averages
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    /// Restores averages saved by [`Ema::named_averages`]; every averaged variable must be
    /// present with its shape, and nothing else.
    pub fn load_averages(&mut self, named: &[(String, Tensor)]) -> Result<(), String> {
        if named.len() != self.averages.len() {
            return Err(format!(
                "EMA checkpoint holds {} tensors, the generator has {} parameters",
                named.len(),
                self.averages.len()
            ));
        }
        for (name, t) in named {
            let avg = self
                .averages
                .get(name)
                .ok_or_else(|| format!("EMA checkpoint has `{name}`, which the generator lacks"))?;
            if avg.size() != t.size() {
                return Err(format!(
                    "EMA tensor `{name}` has shape {:?}, the generator's is {:?}",
                    t.size(),
                    avg.size()
                ));
            }
        }
        tch::no_grad(|| {
            for (name, t) in named {
                let avg = self.averages.get_mut(name).expect("checked above");
                avg.copy_(&t.to_device(avg.device()));
            }
        });
        Ok(())
    }
}

fn live_variable(live: &std::collections::HashMap<String, Tensor>, name: &str) -> Tensor {
    live.get(name)
        .unwrap_or_else(|| panic!("EMA variable `{name}` is not in this VarStore"))
        .shallow_clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
    }

    fn set(t: &Tensor, v: &[f32]) {
        tch::no_grad(|| t.shallow_clone().copy_(&Tensor::from_slice(v)));
    }

    #[test]
    fn update_matches_a_hand_computation_and_skips_buffers() {
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root();
        let w = p.var("w", &[2], nn::Init::Const(0.0));
        let buffer = p.zeros_no_train("running_mean", &[2]);
        set(&w, &[1.0, 2.0]);
        let mut ema = Ema::new(&vs, 0.9);
        assert_eq!(ema.names().collect::<Vec<_>>(), ["w"]);

        set(&w, &[3.0, 4.0]);
        set(&buffer, &[7.0, 7.0]);
        ema.update(&vs);
        // 0.9·(1, 2) + 0.1·(3, 4) = (1.2, 2.2); then 0.9·(1.2, 2.2) + 0.1·(3, 4) = (1.38, 2.38).
        let avg = |ema: &Ema| values(&ema.named_averages()[0].1);
        let close = |a: Vec<f32>, b: [f32; 2]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(avg(&ema), [1.2, 2.2]), "{:?}", avg(&ema));
        ema.update(&vs);
        assert!(close(avg(&ema), [1.38, 2.38]), "{:?}", avg(&ema));

        // Swap in, swap back.
        let seen = ema.with_averaged(&vs, || values(&w));
        assert!(close(seen, [1.38, 2.38]));
        assert_eq!(values(&w), [3.0, 4.0]);
        assert_eq!(values(&buffer), [7.0, 7.0]);
        ema.copy_to(&vs);
        assert!(close(values(&w), [1.38, 2.38]));
    }

    #[test]
    fn checkpoint_round_trip_and_errors() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _w = (vs.root() / "g").var("w", &[3], nn::Init::Const(1.0));
        let _d = (vs.root() / "d").var("w", &[2], nn::Init::Const(1.0));
        let mut ema = Ema::under(&vs, "g.", 0.5);
        assert_eq!(ema.names().collect::<Vec<_>>(), ["g.w"]);
        let saved = vec![("g.w".to_string(), Tensor::from_slice(&[5.0f32, 6.0, 7.0]))];
        ema.load_averages(&saved).unwrap();
        assert_eq!(values(&ema.named_averages()[0].1), [5.0, 6.0, 7.0]);
        let wrong = vec![(
            "g.w".to_string(),
            Tensor::zeros([2], (Kind::Float, Device::Cpu)),
        )];
        assert!(ema.load_averages(&wrong).unwrap_err().contains("shape"));
        let other = vec![(
            "g.v".to_string(),
            Tensor::zeros([3], (Kind::Float, Device::Cpu)),
        )];
        assert!(ema.load_averages(&other).unwrap_err().contains("g.v"));
    }
}
