//! The paper's initialisation for G, the Ds and RS (spec §8), applied to a VarStore by variable
//! name and shape: every conv and linear weight orthogonal (gain 1), linear biases 0, BN γ ~
//! N(1, 0.02) and β = 0; conv biases (only D's heads have them) keep tch's default.
//!
//! A module is recognised by its `weight`: 4-D is a convolution, 2-D a linear layer, and 1-D
//! with `running_mean` beside it a BN. Variables are visited in name order, so a seed gives the
//! same weights every time.

use std::collections::HashMap;

use tch::{nn, Tensor};

/// Initialises every variable of `vs` as the spec says.
pub fn init_weights(vs: &nn::VarStore) {
    init_weights_under(vs, "")
}

/// As [`init_weights`], for the variables whose names start with `prefix` (e.g. `"g."`).
pub fn init_weights_under(vs: &nn::VarStore, prefix: &str) {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    tch::no_grad(|| {
        for name in names {
            let (module, leaf) = name.rsplit_once('.').unwrap_or(("", name.as_str()));
            let mut t = vars[name].shallow_clone();
            match (leaf, kind_of(&vars, module)) {
                ("weight", Some(Kind::Conv | Kind::Linear)) => {
                    nn::Init::Orthogonal { gain: 1.0 }.set(&mut t);
                }
                ("weight", Some(Kind::BatchNorm)) => {
                    t.copy_(&(t.randn_like() * 0.02 + 1.0));
                }
                ("bias", Some(Kind::Linear | Kind::BatchNorm)) => {
                    let _ = t.fill_(0.0);
                }
                _ => {} // conv biases, BN buffers, anything unknown
            }
        }
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Conv,
    Linear,
    BatchNorm,
}

fn kind_of(vars: &HashMap<String, Tensor>, module: &str) -> Option<Kind> {
    let key = |leaf: &str| {
        if module.is_empty() {
            leaf.to_string()
        } else {
            format!("{module}.{leaf}")
        }
    };
    let weight = vars.get(&key("weight"))?;
    match weight.dim() {
        4 => Some(Kind::Conv),
        2 => Some(Kind::Linear),
        1 if vars.contains_key(&key("running_mean")) => Some(Kind::BatchNorm),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdg::config::tiny;
    use crate::rdg::discriminator::Discriminator;
    use crate::rdg::generator::Generator;
    use crate::rdg::relation::RelationSupervisor;
    use tch::{Device, Kind as TKind};

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn spec_initialisation_by_name_and_shape() {
        tch::manual_seed(0);
        let cfg = tiny(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let _g = Generator::new(vs.root() / "g", &cfg);
        let _d = Discriminator::for_scale(vs.root() / "d64", &cfg, 64);
        let _rs = RelationSupervisor::new(vs.root() / "rs", cfg.embedding_dim);
        let vars = vs.variables();
        let head_bias_before = vars["d64.logits.bias"].copy();
        init_weights(&vs);

        // Orthogonal: the flattened weight has orthonormal rows (or columns, if taller).
        for name in [
            "g.stage1.fc.weight",
            "g.stage2.join.conv.weight",
            "d64.down2.conv.weight",
            "rs.fc1.weight",
        ] {
            let w = vars[name].flatten(1, -1);
            let (r, c) = w.size2().unwrap();
            let gram = if r <= c {
                w.matmul(&w.tr())
            } else {
                w.tr().matmul(&w)
            };
            let eye = Tensor::eye(r.min(c), (TKind::Float, Device::Cpu));
            assert!(max_abs(&(gram - eye)) < 1e-4, "{name}");
        }
        assert_eq!(max_abs(&vars["g.ca.fc.bias"]), 0.0);
        assert_eq!(max_abs(&vars["rs.fc2.bias"]), 0.0);
        // BN γ ~ N(1, 0.02), β = 0; buffers untouched.
        let gamma = &vars["g.stage1.bn.weight"];
        let mean = gamma.mean(TKind::Float).double_value(&[]);
        let std = gamma.std(true).double_value(&[]);
        assert!(
            (mean - 1.0).abs() < 0.005 && (std - 0.02).abs() < 0.005,
            "{mean} {std}"
        );
        assert_eq!(max_abs(&vars["g.stage1.bn.bias"]), 0.0);
        assert_eq!(max_abs(&vars["g.stage1.bn.running_mean"]), 0.0);
        assert!(vars["g.stage1.bn.running_var"].equal(&vars["g.stage1.bn.running_var"].ones_like()));
        // Conv biases keep their default.
        assert!(vars["d64.logits.bias"].equal(&head_bias_before));
    }
}
