//! The tract rows of the export benchmark (issue 6): (b) our bundle's f32 files and (c) its int8
//! files under tract, single-threaded, on the exact inputs `bench/torch_reference.py` saved, with
//! each image's PSNR against row (a) (PyTorch's own export under onnxruntime). The script runs
//! this right after its onnxruntime rows and prints one table; run alone it prints JSON.
//!
//!     cargo run --release -p s2i-device --example tract_rows -- \
//!         --bundle runs/bundle-bench --arrays runs/bench-python [--runs 30] [--warmup 5] [--serve]
//!
//! With `--serve` it times one round of both rows per `pass` line on stdin (answering `ok`)
//! until `done`, so the script can interleave these rows with its own.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use s2i_device::infer::Pipeline;
use s2i_shared::bundle::Precision;
use s2i_shared::frontend::Frontend;
use serde_json::{json, Value};
use tract_onnx::prelude::*;

/// A little-endian f32 `.npy` (format 1.x/2.x, C order), as numpy.save writes it.
fn read_npy(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("{}: not a .npy file", path.display());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len])?;
    if !header.contains("'descr': '<f4'") || header.contains("'fortran_order': True") {
        bail!(
            "{}: not a C-order little-endian f32 array: {header}",
            path.display()
        );
    }
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .with_context(|| format!("{}: no shape in {header}", path.display()))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let data: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Tensor::from_shape(&shape, &data).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn psnr(reference: &Tensor, other: &Tensor) -> Result<Option<f64>> {
    let a = reference.to_plain_array_view::<f32>()?;
    let b = other.to_plain_array_view::<f32>()?;
    if a.shape() != b.shape() {
        bail!("image shapes differ: {:?} vs {:?}", a.shape(), b.shape());
    }
    let mse = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    Ok((mse > 0.0).then(|| 10.0 * (4.0 / mse).log10()))
}

struct Row {
    name: &'static str,
    pipeline: Pipeline,
    samples: Vec<[f64; 4]>,
}

/// One chained pass (encoder → stage 1 → stage 2): milliseconds per step and the images.
fn pass(p: &Pipeline, features: &Tensor, noise: &Tensor) -> Result<([f64; 4], Vec<Tensor>)> {
    let mut ms = [0f64; 4];
    let t = Instant::now();
    let e = p.run_network(0, tvec!(features.clone().into()))?.remove(0);
    ms[0] = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut out = p.run_network(1, tvec!(e, noise.clone().into()))?;
    ms[1] = t.elapsed().as_secs_f64() * 1e3;
    let condition = out.remove(2);
    let h = out.remove(1);
    let image1 = out.remove(0).into_tensor();
    let t = Instant::now();
    let image2 = p
        .run_network(2, tvec!(h, condition))?
        .remove(0)
        .into_tensor();
    ms[2] = t.elapsed().as_secs_f64() * 1e3;
    ms[3] = ms[0] + ms[1] + ms[2];
    Ok((ms, vec![image1, image2]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let mut bundle = PathBuf::from("runs/bundle-bench");
    let mut arrays = PathBuf::from("runs/bench-python");
    let (mut runs, mut warmup) = (30usize, 5usize);
    let mut serve = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bundle" => bundle = value()?.into(),
            "--arrays" => arrays = value()?.into(),
            "--runs" => runs = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            "--serve" => serve = true,
            other => bail!("unknown argument {other}"),
        }
    }
    let npy = |name: &str| {
        let stem = arrays.file_name().unwrap_or_default().to_string_lossy();
        read_npy(&arrays.with_file_name(format!("{stem}.{name}.npy")))
    };
    let features = npy("input_features")?;
    let noise = npy("input_noise")?;
    let reference = [
        npy("torch_export_stage1_image")?,
        npy("torch_export_stage2_image")?,
    ];

    let frontend = Frontend::default();
    let mut rows = Vec::new();
    for (name, precision) in [
        ("tract_f32", Precision::F32),
        ("tract_int8", Precision::Int8),
    ] {
        let pipeline = Pipeline::load_precision(&bundle, &frontend, precision)
            .with_context(|| format!("{}: {} networks", bundle.display(), precision.name()))?;
        if pipeline.stages() != 2 {
            bail!(
                "{}: this bench times the edge preset's two stages",
                bundle.display()
            );
        }
        rows.push(Row {
            name,
            pipeline,
            samples: Vec::new(),
        });
    }
    for _ in 0..warmup {
        for r in &rows {
            pass(&r.pipeline, &features, &noise)?;
        }
    }
    // Interleaved, order alternating, so load drifts on the shared machine hit both rows alike.
    let mut one_round = |i: usize| -> Result<()> {
        let order: Vec<usize> = if i.is_multiple_of(2) {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for j in order {
            let (ms, _) = pass(&rows[j].pipeline, &features, &noise)?;
            rows[j].samples.push(ms);
        }
        Ok(())
    };
    if serve {
        // Driven by bench/torch_reference.py: one round per "pass" line, between its own
        // onnxruntime passes, so all four rows share the machine's moments alike.
        use std::io::{BufRead, Write};
        println!("ready");
        std::io::stdout().flush()?;
        let mut i = 0;
        for line in std::io::stdin().lock().lines() {
            match line?.trim() {
                "pass" => {
                    one_round(i)?;
                    i += 1;
                    println!("ok");
                    std::io::stdout().flush()?;
                }
                "done" => break,
                other => bail!("--serve: unknown command {other:?} (expected pass or done)"),
            }
        }
    } else {
        for i in 0..runs {
            one_round(i)?;
        }
    }
    let mut result = serde_json::Map::new();
    for r in &rows {
        let (_, images) = pass(&r.pipeline, &features, &noise)?;
        let col = |i: usize| median(r.samples.iter().map(|s| s[i]).collect());
        let kernels: Vec<Value> = r
            .pipeline
            .kernels()
            .iter()
            .map(|k| {
                json!({"file": k.file.file_name().map(|f| f.to_string_lossy().to_string()),
                       "matrix_products": k.matrix_products, "integer": k.integer,
                       "kernels": k.kernels, "direct_convolutions": k.direct_convolutions,
                       "recurrent_grus": k.recurrent_grus,
                       "integer_convolutions": k.integer_convolutions,
                       "int8_dense": k.int8_dense})
            })
            .collect();
        result.insert(
            r.name.into(),
            json!({
                "speech_encoder_ms": col(0), "stage1_ms": col(1), "stage2_ms": col(2),
                "end_to_end_ms": col(3),
                "psnr_vs_torch_export": {
                    "stage1_db": psnr(&reference[0], &images[0])?,
                    "stage2_db": psnr(&reference[1], &images[1])?,
                },
                "kernels": kernels,
            }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(result))?);
    Ok(())
}
