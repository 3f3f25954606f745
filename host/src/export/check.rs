//! Every export is checked (design decision 3): tract runs the written file and its outputs
//! are compared with the tch network that was exported, on the same inputs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};
use tract_onnx::prelude::{
    Arc, DatumExt, Framework, InferenceModelExt, IntoRunnable, Tensor as TractTensor,
    TypedRunnableModel,
};

pub type Plan = Arc<TypedRunnableModel>;

/// Loads and optimises an ONNX file with tract, as the board will.
pub fn tract_plan(path: &Path) -> Result<Plan> {
    tract_plan_fixed(path, &[])
}

/// As [`tract_plan`] with every input's shape fixed (f32), e.g. the speech encoder at one
/// padded length, as the board plans it.
pub fn tract_plan_fixed(path: &Path, shapes: &[&[usize]]) -> Result<Plan> {
    let fail = |e: anyhow::Error| match shapes {
        [] => anyhow::anyhow!("{}: tract cannot run this model: {e:#}", path.display()),
        _ => anyhow::anyhow!(
            "{}: tract cannot plan it for inputs {shapes:?}: {e:#}",
            path.display()
        ),
    };
    let mut model = tract_onnx::onnx().model_for_path(path).map_err(fail)?;
    for (i, shape) in shapes.iter().enumerate() {
        model = model
            .with_input_fact(i, f32::fact(*shape).into())
            .map_err(fail)?;
    }
    // Planned as the board plans it, with our kernels (s2i-kernels), so the checks cover them.
    model
        .into_typed()
        .and_then(s2i_kernels::optimise)
        .and_then(|m| m.into_runnable())
        .map_err(fail)
}

pub fn to_tract(t: &Tensor) -> Result<TractTensor> {
    let t = t
        .detach()
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let data = Vec::<f32>::try_from(t.view([-1]))?;
    TractTensor::from_shape(&shape, &data).map_err(|e| anyhow::anyhow!("{e:#}"))
}

pub fn from_tract(t: &TractTensor) -> Result<Tensor> {
    let view = t.to_plain_array_view::<f32>()?;
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    let data: Vec<f32> = view.iter().copied().collect();
    Ok(Tensor::from_slice(&data).view(shape.as_slice()))
}

/// Runs `plan` on tch inputs and returns its outputs as tch tensors.
pub fn run(plan: &Plan, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let inputs = inputs
        .iter()
        .map(|t| to_tract(t).map(|t| t.into()))
        .collect::<Result<_>>()?;
    let outputs = plan
        .run(inputs)
        .map_err(|e| anyhow::anyhow!("tract run: {e:#}"))?;
    outputs.iter().map(|t| from_tract(t)).collect()
}

/// max |a − b| / max |a| (0 when both are zero).
pub fn relative_error(reference: &Tensor, other: &Tensor) -> f64 {
    let reference = reference.to_device(tch::Device::Cpu).to_kind(Kind::Double);
    let other = other.to_device(tch::Device::Cpu).to_kind(Kind::Double);
    let diff = (&reference - &other).abs().max().double_value(&[]);
    let scale = reference.abs().max().double_value(&[]);
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

/// The f32 tolerance of design decision 3.
pub const F32_TOLERANCE: f64 = 1e-4;

/// Compares a model's outputs with the reference's, output by output, naming the worst.
pub fn compare(
    path: &Path,
    names: &[&str],
    reference: &[Tensor],
    got: &[Tensor],
    tolerance: f64,
) -> Result<f64> {
    if reference.len() != got.len() {
        bail!(
            "{}: tract gives {} outputs, the network {}",
            path.display(),
            got.len(),
            reference.len()
        );
    }
    let mut worst = 0f64;
    for ((name, r), o) in names.iter().zip(reference).zip(got) {
        if r.size() != o.size() {
            bail!(
                "{}: output {name} has shape {:?} under tract, {:?} in tch",
                path.display(),
                o.size(),
                r.size()
            );
        }
        let err = relative_error(r, o);
        if err.is_nan() || err >= tolerance {
            bail!(
                "{}: output {name} differs from the tch network by {err:.2e} (relative), over the \
                 {tolerance:.0e} allowed",
                path.display()
            );
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

/// Writes nothing; loads `path` with tract, runs it on `inputs` and compares with `reference`.
pub fn check_file(
    path: &Path,
    names: &[&str],
    inputs: &[Tensor],
    reference: &[Tensor],
) -> Result<f64> {
    let plan = tract_plan(path)?;
    let got = run(&plan, inputs).with_context(|| format!("{}: running it", path.display()))?;
    compare(path, names, reference, &got, F32_TOLERANCE)
}
