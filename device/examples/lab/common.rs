//! Pieces the tract labs (`int8_lab`, `gru_lab`, `profile_bundle`, `time_onnx_files`) share: a
//! dependency-free RNG, ONNX attribute constructors, input values, medians and per-node timing.
//! Each lab uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;

/// SplitMix64: repeatable random weights without a dependency.
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
    /// U(-a, a), PyTorch's GRU initialisation with a = 1/√hidden.
    pub fn sym(&mut self, a: f32) -> f32 {
        (2.0 * self.uniform() - 1.0) * a
    }
}

/// `n` deterministic values in [-1, 1), varied by `salt` (one per input): for timings, which
/// do not depend on the values.
pub fn timing_values(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|k| ((k * 7919 + salt * 104729) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

/// The median (upper middle for an even count); sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}
pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}
pub fn attr_str(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Milliseconds per run spent in each node of `plan` (by node id), over `runs` runs after
/// `warmup` untimed ones, one state throughout as the firmware runs it.
pub fn node_times(
    plan: &Arc<TypedSimplePlan>,
    inputs: &TVec<TValue>,
    warmup: usize,
    runs: usize,
) -> TractResult<HashMap<usize, f64>> {
    let mut acc: HashMap<usize, f64> = HashMap::new();
    let mut state = TypedSimpleState::new(plan)?;
    for _ in 0..warmup {
        state.run(inputs.clone())?;
    }
    for _ in 0..runs {
        state.run_plan_with_eval(inputs.clone(), |session, op_state, node, node_inputs| {
            let t = Instant::now();
            let r = tract_core::plan::eval(session, op_state, node, node_inputs);
            *acc.entry(node.id).or_default() += t.elapsed().as_secs_f64();
            r
        })?;
    }
    Ok(acc
        .into_iter()
        .map(|(id, t)| (id, 1e3 * t / runs as f64))
        .collect())
}
