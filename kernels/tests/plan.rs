//! Plans through `s2i_kernels::optimise_with` against tract's own: the same outputs, and the
//! direct convolution exactly where it applies.

mod support;

use s2i_kernels::plan::{optimise_with, PlanOptions};
use s2i_kernels::Isa;
use support::{model, values, Layer};
use tract_core::internal::*;

fn run(model: &TypedModel, input: &Tensor) -> TractResult<Tensor> {
    let plan = model.clone().into_runnable()?;
    Ok(plan
        .run(tvec!(input.clone().into()))?
        .remove(0)
        .into_tensor())
}

/// A file of the shipped bundle.
fn shipped(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/default")
        .join(file)
}

/// The largest difference between two f32 tensors, relative to `want`'s largest magnitude.
fn relative_difference(want: &Tensor, got: &Tensor) -> TractResult<f32> {
    let (a, b) = (
        want.try_as_plain_ram()?.as_slice::<f32>()?,
        got.try_as_plain_ram()?.as_slice::<f32>()?,
    );
    let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    Ok(worst / scale)
}

/// A file of the shipped bundle planned by tract alone and with `options`.
fn shipped_plans(file: &str, options: PlanOptions) -> TractResult<(TypedModel, TypedModel)> {
    use tract_onnx::prelude::*;
    let typed = tract_onnx::onnx()
        .model_for_path(shipped(file))?
        .into_typed()?;
    let stock = optimise_with(typed.clone(), PlanOptions::stock())?;
    Ok((stock, optimise_with(typed, options)?))
}

/// Runs `stock` and `ours` on the same pseudo-random inputs of `shapes` and requires the same
/// bits in every output.
fn assert_same_outputs(
    stock: &TypedModel,
    ours: &TypedModel,
    shapes: &[Vec<usize>],
    seed: u64,
    file: &str,
) -> TractResult<()> {
    let inputs: TVec<TValue> = shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n = shape.iter().product();
            Tensor::from_shape(shape, &values(n, i as u64 + seed)).map(|t| t.into_tvalue())
        })
        .collect::<TractResult<_>>()?;
    let run_all = |m: &TypedModel| m.clone().into_runnable()?.run(inputs.clone());
    let (a, b) = (run_all(stock)?, run_all(ours)?);
    assert_eq!(a.len(), b.len(), "{file}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x.try_as_plain_ram()?.as_slice::<f32>()?,
            y.try_as_plain_ram()?.as_slice::<f32>()?,
            "{file}"
        );
    }
    Ok(())
}

fn ops(model: &TypedModel) -> Vec<String> {
    model
        .nodes()
        .iter()
        .map(|n| n.op().name().to_string())
        .collect()
}

#[test]
fn our_plan_computes_what_tracts_own_does() -> TractResult<()> {
    let layers = [
        Layer {
            c_in: 16,
            c_out: 32,
            k: 3,
            pad: 1,
            stride: 1,
        },
        Layer {
            c_in: 32,
            c_out: 16,
            k: 2,
            pad: 1,
            stride: 1,
        },
        // Stride 2 is not ours: tract keeps it.
        Layer {
            c_in: 16,
            c_out: 8,
            k: 3,
            pad: 1,
            stride: 2,
        },
    ];
    let source = model(64, &layers)?;
    let input = Tensor::from_shape(&[1, 16, 64, 64], &values(16 * 64 * 64, 7))?;
    let stock = optimise_with(source.clone(), PlanOptions::stock())?;
    assert!(!ops(&stock).iter().any(|o| o == "DirectConv"));
    let want = run(&stock, &input)?;
    for isa in Isa::available() {
        let ours = optimise_with(
            source.clone(),
            PlanOptions {
                direct_conv: Some(isa),
                ..PlanOptions::stock()
            },
        )?;
        let direct = ops(&ours).iter().filter(|o| *o == "DirectConv").count();
        assert_eq!(direct, 2, "{}: {:?}", isa.name(), ops(&ours));
        let got = run(&ours, &input)?;
        assert_eq!(got.shape(), want.shape());
        let worst = relative_difference(&want, &got)?;
        assert!(worst < 1e-5, "{}: relative error {worst:e}", isa.name());
    }
    Ok(())
}

#[test]
fn the_environment_setting_is_checked() {
    assert_eq!(
        PlanOptions::from_settings(Some("off"), Some("off"), Some("off"))
            .and_then(|o| o.with_int8_dense(Some("off")))
            .and_then(|o| o.with_interleave(Some("off")))
            .unwrap(),
        PlanOptions::stock()
    );
    assert!(
        PlanOptions::stock()
            .with_interleave(None)
            .unwrap()
            .interleave
    );
    assert!(
        PlanOptions::stock()
            .with_interleave(Some("on"))
            .unwrap()
            .interleave
    );
    let e = PlanOptions::best()
        .with_interleave(Some("yes"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("S2I_INTERLEAVE=yes: it is on or off"), "{e}");
    let e = PlanOptions::best()
        .with_int8_dense(Some("sse9"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("S2I_INT8_DENSE=sse9: this CPU runs off"), "{e}");
    assert_eq!(
        PlanOptions::from_settings(None, None, None).unwrap(),
        PlanOptions::best()
    );
    for isa in Isa::available() {
        let options = PlanOptions::from_settings(Some(isa.name()), Some("off"), None).unwrap();
        assert_eq!(options.direct_conv, Some(isa));
        assert_eq!(options.recurrent_gru, None);
        let options = PlanOptions::from_settings(Some("off"), Some(isa.name()), None).unwrap();
        assert_eq!(options.direct_conv, None);
        assert_eq!(options.recurrent_gru, Some(isa));
    }
    let e = PlanOptions::from_settings(Some("sse9"), None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("S2I_DIRECT_CONV=sse9: this CPU runs off"), "{e}");
    let e = PlanOptions::from_settings(None, Some("sse9"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("S2I_RECURRENT_GRU=sse9: this CPU runs off"),
        "{e}"
    );
}

/// The shipped bundle's speech encoder (two bidirectional GRU layers, hidden 128) at a fixed
/// length, as the board plans it: our recurrent product on its four GRUs, the same embedding
/// as tract's own `GruSeq`.
#[test]
fn the_speech_encoders_grus_run_on_our_recurrent_product() -> TractResult<()> {
    use tract_onnx::prelude::*;
    let Some(isa) = Isa::detect() else {
        return Ok(()); // no path on this CPU: tract's GruSeq stays
    };
    for file in ["speech_encoder.onnx", "speech_encoder.int8.onnx"] {
        for frames in [300usize, 57] {
            let typed = tract_onnx::onnx()
                .model_for_path(shipped(file))?
                .with_input_fact(0, f32::fact([1, 40, frames]).into())?
                .into_typed()?;
            let stock = optimise_with(typed.clone(), PlanOptions::stock())?;
            let ours = optimise_with(
                typed,
                PlanOptions {
                    recurrent_gru: Some(isa),
                    ..PlanOptions::stock()
                },
            )?;
            let count = |m: &TypedModel, op: &str| ops(m).iter().filter(|o| *o == op).count();
            assert_eq!(count(&stock, "GruSeq"), 4, "{file}: {:?}", ops(&stock));
            assert_eq!(count(&ours, "RecurrentGru"), 4, "{file}: {:?}", ops(&ours));
            assert_eq!(count(&ours, "GruSeq"), 0, "{file}");
            let features = Tensor::from_shape(&[1, 40, frames], &values(40 * frames, 3))?;
            let (a, b) = (run(&stock, &features)?, run(&ours, &features)?);
            let worst = relative_difference(&a, &b)?;
            println!("{file}, {frames} frames: relative error {worst:.1e}");
            assert!(
                worst < 1e-5,
                "{file}, {frames} frames: relative error {worst:e}"
            );
        }
    }
    Ok(())
}

/// The shipped bundle's int8 generator stages: our int8 direct convolution on their wide
/// `ConvInteger`s with the quantisation around them folded in, and the same pictures as
/// tract's own lowering, bit for bit (integer arithmetic and the same f32 operations).
#[test]
fn the_int8_generators_convolutions_run_on_our_integer_kernel() -> TractResult<()> {
    use s2i_kernels::DotIsa;
    let Some(isa) = DotIsa::detect() else {
        return Ok(()); // no path on this CPU: tract's lowering stays
    };
    for (file, inputs) in [
        (
            "generator_stage1.int8.onnx",
            vec![vec![1, 256], vec![1, 100]],
        ),
        (
            "generator_stage2.int8.onnx",
            vec![vec![1, 16, 64, 64], vec![1, 64]],
        ),
    ] {
        let (stock, ours) = shipped_plans(
            file,
            PlanOptions {
                integer_conv: Some(isa),
                ..PlanOptions::stock()
            },
        )?;
        use s2i_kernels::integer_conv::{Input, IntegerConv};
        let convs: Vec<&IntegerConv> = ours
            .nodes()
            .iter()
            .filter_map(|n| n.op_as::<IntegerConv>())
            .collect();
        println!("{file}: {} int8 direct convolutions", convs.len());
        assert!(!convs.is_empty(), "{file}: {:?}", ops(&ours));
        // The export's quantisation in front of each one is folded into it. (This bundle's
        // older export crops each phase after the convolution, so its dequantisation stays in
        // the graph; `s2i-host`'s rdg test checks that the current export's folds too.)
        for conv in &convs {
            assert!(
                matches!(conv.input, Input::Quantised(_)),
                "{file}: {conv:?}"
            );
        }
        assert_same_outputs(&stock, &ours, &inputs, 11, file)?;
    }
    Ok(())
}

/// The shipped bundle's int8 stage 1: its Gemm's int8 weight read as int8 by our dense layer,
/// the same picture as tract's product of the folded f32 weight to float rounding.
#[test]
fn the_int8_stage_1_projection_reads_its_weight_as_int8() -> TractResult<()> {
    use tract_onnx::prelude::*;
    let Some(isa) = Isa::detect() else {
        return Ok(());
    };
    let typed = tract_onnx::onnx()
        .model_for_path(shipped("generator_stage1.int8.onnx"))?
        .into_typed()?;
    let stock = optimise_with(typed.clone(), PlanOptions::stock())?;
    let ours = optimise_with(
        typed,
        PlanOptions {
            int8_dense: Some(isa),
            ..PlanOptions::stock()
        },
    )?;
    let dense = ops(&ours).iter().filter(|o| *o == "Int8Dense").count();
    assert_eq!(dense, 1, "{:?}", ops(&ours));
    let inputs: TVec<TValue> = [vec![1usize, 256], vec![1, 100]]
        .iter()
        .enumerate()
        .map(|(i, s)| Tensor::from_shape(s, &values(s[1], i as u64 + 5)).map(|t| t.into_tvalue()))
        .collect::<TractResult<_>>()?;
    let a = stock.into_runnable()?.run(inputs.clone())?;
    let b = ours.into_runnable()?.run(inputs)?;
    for (x, y) in a.iter().zip(&b) {
        let worst = relative_difference(x, y)?;
        println!("relative error {worst:.1e}");
        assert!(worst < 1e-4, "relative error {worst:e}");
    }
    Ok(())
}

/// The shipped bundle's generator stages: each up-block's `DepthToSpace` as one `Interleave`
/// instead of tract's two axis moves, and the same pictures bit for bit (both are copies).
#[test]
fn the_up_blocks_interleave_in_one_pass() -> TractResult<()> {
    for (file, inputs, up_blocks) in [
        ("generator_stage1.onnx", vec![vec![1, 256], vec![1, 100]], 4),
        (
            "generator_stage1.int8.onnx",
            vec![vec![1, 256], vec![1, 100]],
            4,
        ),
        (
            "generator_stage2.onnx",
            vec![vec![1, 16, 64, 64], vec![1, 64]],
            1,
        ),
        (
            "generator_stage2.int8.onnx",
            vec![vec![1, 16, 64, 64], vec![1, 64]],
            1,
        ),
    ] {
        let (stock, ours) = shipped_plans(
            file,
            PlanOptions {
                interleave: true,
                ..PlanOptions::stock()
            },
        )?;
        let interleaves = ops(&ours).iter().filter(|o| *o == "Interleave").count();
        // This bundle's older export interleaves some up-blocks in two halves.
        assert!(interleaves >= up_blocks, "{file}: {:?}", ops(&ours));
        assert_same_outputs(&stock, &ours, &inputs, 21, file)?;
        println!("{file}: {interleaves} interleaves, outputs identical");
    }
    Ok(())
}
