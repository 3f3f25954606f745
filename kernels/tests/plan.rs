//! Plans through `s2i_kernels::optimise_with` against tract's own: the same outputs, and the
//! direct convolution exactly where it applies.

use s2i_kernels::plan::{optimise_with, PlanOptions};
use s2i_kernels::Isa;
use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0
                - 1.0
        })
        .collect()
}

struct Layer {
    c_in: usize,
    c_out: usize,
    k: usize,
    pad: usize,
    stride: usize,
}

/// `x [1, c, hw, hw]` through the layers, each a `Conv` with its constant kernel and bias and
/// a ReLU between them (so the plan fuses nothing across them).
fn model(hw: usize, layers: &[Layer]) -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let mut x = model.add_source("x", f32::fact([1, layers[0].c_in, hw, hw]))?;
    for (i, l) in layers.iter().enumerate() {
        let kernel = Tensor::from_shape(
            &[l.c_out, l.c_in, l.k, l.k],
            &values(l.c_out * l.c_in * l.k * l.k, i as u32),
        )?;
        let bias = tensor1(&values(l.c_out, 100 + i as u32));
        let k = model.add_const(format!("k{i}"), kernel)?;
        let b = model.add_const(format!("b{i}"), bias)?;
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![l.k, l.k],
                padding: PaddingSpec::Explicit(tvec![l.pad, l.pad], tvec![l.pad, l.pad]),
                dilations: None,
                strides: Some(tvec![l.stride, l.stride]),
                input_channels: l.c_in,
                output_channels: l.c_out,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        x = model.wire_node(format!("conv{i}"), conv, &[x, k, b])?[0];
        let zero = model.add_const(format!("zero{i}"), tensor4(&[[[[0f32]]]]))?;
        x = model.wire_node(format!("relu{i}"), tract_core::ops::math::max(), &[x, zero])?[0];
    }
    model.select_output_outlets(&[x])?;
    Ok(model)
}

fn run(model: &TypedModel, input: &Tensor) -> TractResult<Tensor> {
    let plan = model.clone().into_runnable()?;
    Ok(plan
        .run(tvec!(input.clone().into()))?
        .remove(0)
        .into_tensor())
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
            },
        )?;
        let direct = ops(&ours).iter().filter(|o| *o == "DirectConv").count();
        assert_eq!(direct, 2, "{}: {:?}", isa.name(), ops(&ours));
        let got = run(&ours, &input)?;
        assert_eq!(got.shape(), want.shape());
        let (a, b) = (
            want.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
            got.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
        );
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale;
        assert!(worst < 1e-5, "{}: relative error {worst:e}", isa.name());
    }
    Ok(())
}

#[test]
fn the_environment_setting_is_checked() {
    assert_eq!(
        PlanOptions::from_setting(Some("off")).unwrap(),
        PlanOptions::stock()
    );
    assert_eq!(
        PlanOptions::from_setting(None).unwrap(),
        PlanOptions::best()
    );
    for isa in Isa::available() {
        let options = PlanOptions::from_setting(Some(isa.name())).unwrap();
        assert_eq!(options.direct_conv, Some(isa));
    }
    let e = PlanOptions::from_setting(Some("sse9"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("S2I_DIRECT_CONV=sse9: this CPU runs off"), "{e}");
}
