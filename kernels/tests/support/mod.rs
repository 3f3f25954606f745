//! One-convolution-at-a-time tract models, shared by the plan test and the bench.

use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;

/// Deterministic values in [-1, 1), the same the kernel's own check uses.
pub use s2i_kernels::self_check::values;

pub struct Layer {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub pad: usize,
    pub stride: usize,
}

/// `x [1, c, hw, hw]` through the layers, each a `Conv` with its constant kernel and bias and
/// a ReLU between them (so the plan fuses nothing across them).
pub fn model(hw: usize, layers: &[Layer]) -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let mut x = model.add_source("x", f32::fact([1, layers[0].c_in, hw, hw]))?;
    for (i, l) in layers.iter().enumerate() {
        let kernel = Tensor::from_shape(
            &[l.c_out, l.c_in, l.k, l.k],
            &values(l.c_out * l.c_in * l.k * l.k, i as u64),
        )?;
        let bias = tensor1(&values(l.c_out, 100 + i as u64));
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
