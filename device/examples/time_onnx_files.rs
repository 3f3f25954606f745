//! Times single-input ONNX files under tract, one thread, interleaved round by round so that
//! the machine's drift hits them alike: for comparing forms of one operation
//! (`bench/conv_forms.py` writes such a set). Inputs: the file's declared shape, deterministic
//! values in [-1, 1).
//!
//!     cargo run --release -p s2i-device --example time_onnx_files -- [--runs 50] FILE.onnx...

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tract_onnx::prelude::*;

#[path = "lab/common.rs"]
mod common;

fn main() -> Result<()> {
    let mut runs = 50usize;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context("--runs needs a value")?.parse()?,
            _ => files.push(a),
        }
    }
    if files.is_empty() || runs == 0 {
        bail!("usage: time_onnx_files [--runs N] FILE.onnx...");
    }
    let mut networks = Vec::new();
    for path in &files {
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .with_context(|| format!("cannot load {path}"))?;
        let shape = model
            .input_fact(0)?
            .shape
            .as_concrete_finite()?
            .with_context(|| format!("{path}: its input has no fixed shape"))?
            .to_vec();
        let values = common::timing_values(shape.iter().product(), 0);
        let input = Tensor::from_shape(&shape, &values)?;
        let plan = s2i_kernels::optimise(model.into_typed()?)?.into_runnable()?;
        plan.run(tvec!(input.clone().into()))?;
        networks.push((path, plan, input));
    }
    let mut times = vec![Vec::with_capacity(runs); networks.len()];
    for _ in 0..runs {
        for (i, (_, plan, input)) in networks.iter().enumerate() {
            let t = Instant::now();
            plan.run(tvec!(input.clone().into()))?;
            times[i].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    for ((path, ..), mut t) in networks.iter().zip(times) {
        println!("{:>8.3} ms  {path}", common::median(&mut t));
    }
    Ok(())
}
