//! Where a bundle's networks spend their time under tract, node by node: the tool behind the
//! export's speed work (issue 6). Single-threaded, random inputs of the manifest's shapes.
//!
//!     cargo run --release -p s2i-device --example profile_bundle -- \
//!         --bundle models/default [--precision f32|int8] [--frames 300] [--runs 20] [--top 12] \
//!         [--chained] [--info]
//!
//! `--info` prints tract's description under each row (a matrix product's kernels and shapes).
//!
//! `--chained` also times each network three ways, alternating in one run: "hot", run after
//! itself as the profile does; "chained", run after the bundle's other networks as the board
//! runs them (encoder → stage 1 → stage 2); and "flushed", run after 64 MiB of other memory was
//! written, so that none of its weights or buffers are left in the caches.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use s2i_device::infer::FRAME_MASK_INPUT;
use s2i_shared::bundle::{Dim, Manifest, Precision};
use tract_onnx::prelude::*;

#[path = "lab/common.rs"]
mod common;

struct Timing {
    node: String,
    op: String,
    /// tract's own description of the node (for a matrix product: its kernels and shapes).
    info: String,
    ms: f64,
}

fn profile(plan: &Arc<TypedSimplePlan>, inputs: &TVec<TValue>, runs: usize) -> Result<Vec<Timing>> {
    let model = plan.model();
    let mut v: Vec<Timing> = common::node_times(plan, inputs, 3, runs)?
        .into_iter()
        .map(|(id, ms)| Timing {
            node: model.node(id).name.clone(),
            op: model.node(id).op().name().to_string(),
            info: model.node(id).op().info().unwrap_or_default().join("; "),
            ms,
        })
        .collect();
    v.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(v)
}

fn main() -> Result<()> {
    let mut bundle = PathBuf::from("models/default");
    let mut precision = Precision::F32;
    let (mut frames, mut runs, mut top) = (300usize, 20usize, 12usize);
    let mut chained = false;
    let mut show_info = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bundle" => bundle = value()?.into(),
            "--precision" => {
                precision = match value()?.as_str() {
                    "f32" => Precision::F32,
                    "int8" => Precision::Int8,
                    other => bail!("--precision is f32 or int8, not {other}"),
                }
            }
            "--frames" => frames = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "--top" => top = value()?.parse()?,
            "--chained" => chained = true,
            "--info" => show_info = true,
            other => bail!("unknown argument {other}"),
        }
    }
    let manifest_path = bundle.join(s2i_shared::bundle::MANIFEST_FILE);
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?,
    )
    .with_context(|| format!("{}: not a manifest", manifest_path.display()))?;
    let mut grand_total = 0.0;
    let mut networks = Vec::new();
    for file in manifest.files.iter().filter(|f| f.precision == precision) {
        let path = bundle.join(&file.path);
        // An encoder with a frame mask is planned at a fixed length, as the board runs it.
        let masked = file.inputs.iter().any(|t| t.name == FRAME_MASK_INPUT);
        let mut model = tract_onnx::onnx().model_for_path(&path)?;
        let mut inputs = TVec::new();
        for (i, input) in file.inputs.iter().enumerate() {
            let shape: Vec<usize> = input
                .shape
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => *n as usize,
                    Dim::Symbol(_) => frames,
                })
                .collect();
            if masked {
                model = model.with_input_fact(i, f32::fact(&shape).into())?;
            }
            let n: usize = shape.iter().product();
            // Deterministic values in [-1, 1) (the timing does not depend on them); the mask
            // says every frame is speech.
            let data: Vec<f32> = if input.name == FRAME_MASK_INPUT {
                vec![1.0; n]
            } else {
                common::timing_values(n, i)
            };
            inputs.push(Tensor::from_shape(&shape, &data)?.into());
        }
        let plan = s2i_kernels::optimise(model.into_typed()?)?.into_runnable()?;
        let timings = profile(&plan, &inputs, runs)?;
        networks.push((file.path.clone(), plan.clone(), inputs.clone()));
        let total: f64 = timings.iter().map(|t| t.ms).sum();
        grand_total += total;
        let mut by_op: HashMap<&str, f64> = HashMap::new();
        for t in &timings {
            *by_op.entry(t.op.as_str()).or_default() += t.ms;
        }
        let mut by_op: Vec<_> = by_op.into_iter().collect();
        by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!("\n== {} ({total:.2} ms) ==", file.path);
        let ops: Vec<String> = by_op
            .iter()
            .take(8)
            .map(|(op, ms)| format!("{op} {ms:.2}"))
            .collect();
        println!("by op: {}", ops.join(", "));
        for t in timings.iter().take(top) {
            println!("  {:>7.3} ms  {:<18} {}", t.ms, t.op, t.node);
            if show_info && !t.info.is_empty() {
                println!("{:>32}{}", "", t.info);
            }
        }
    }
    println!("\nall networks: {grand_total:.2} ms");
    if chained {
        hot_and_chained(&networks, runs)?;
    }
    Ok(())
}

type Network = (String, Arc<TypedSimplePlan>, TVec<TValue>);

/// Each network's run time hot (right after a run of itself), chained (right after the other
/// networks) and flushed (right after 64 MiB of other writes), in alternating rounds so that the
/// machine's drift hits all three alike.
fn hot_and_chained(networks: &[Network], runs: usize) -> Result<()> {
    let time = |(_, plan, inputs): &Network| -> Result<f64> {
        let t = Instant::now();
        plan.run(inputs.clone())?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    // Larger than any last-level cache this runs on.
    let mut other_memory = vec![0u8; 64 << 20];
    let mut flush = || {
        for (i, byte) in other_memory.iter_mut().enumerate().step_by(64) {
            *byte = byte.wrapping_add(i as u8);
        }
        std::hint::black_box(&other_memory);
    };
    let mut hot = vec![Vec::new(); networks.len()];
    let mut chained = vec![Vec::new(); networks.len()];
    let mut flushed = vec![Vec::new(); networks.len()];
    for _ in 0..runs {
        for (i, n) in networks.iter().enumerate() {
            time(n)?;
            hot[i].push(time(n)?);
            flush();
            flushed[i].push(time(n)?);
        }
        for (i, n) in networks.iter().enumerate() {
            chained[i].push(time(n)?);
        }
    }
    println!("\nmedian of {runs}, ms      hot   chained   flushed");
    let row = |label: &str, [hot, chained, flushed]: [f64; 3]| {
        println!(
            "{label:<28} {hot:>7.3} {chained:>9.3} {flushed:>9.3}  ({:.2}x, {:.2}x)",
            chained / hot,
            flushed / hot
        );
    };
    let mut sums = [0.0; 3];
    for (i, (path, ..)) in networks.iter().enumerate() {
        let t = [&mut hot[i], &mut chained[i], &mut flushed[i]].map(|v| common::median(v));
        sums.iter_mut().zip(t).for_each(|(s, t)| *s += t);
        row(path, t);
    }
    row("all", sums);
    Ok(())
}
