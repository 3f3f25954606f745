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
