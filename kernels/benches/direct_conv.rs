//! The generator's convolutions under tract's own lowering and under our direct convolution,
//! side by side in one run, single-threaded (the board's setting):
//!
//!     cargo bench -p s2i-kernels --bench direct_conv
//!
//! Each case is one `Conv` (its input, kernel and bias as the edge generator has them) planned
//! both ways; the ratio of the two medians is the figure that carries across machines.

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use s2i_kernels::plan::{optimise_with, PlanOptions};
use support::{model, values, Layer};
use tract_core::internal::*;

fn layers(c: &mut Criterion) {
    let cases = [
        ("stage2 join 16→32 3×3 @64²", 64, 16, 32, 3),
        ("stage2 res 16→16 3×3 @64²", 64, 16, 16, 3),
        ("stage2 up phases 32→64 2×2 @64²", 64, 32, 64, 2),
        ("stage1 up phases 32→128 2×2 @32²", 32, 32, 128, 2),
        ("stage2 image 8→3 3×3 @128²", 128, 8, 3, 3),
    ];
    let Some(isa) = s2i_kernels::Isa::detect() else {
        eprintln!("no direct convolution path on this CPU: nothing to compare");
        return;
    };
    let mut group = c.benchmark_group("conv");
    for (name, hw, c_in, c_out, k) in cases {
        let source = model(
            hw,
            &[Layer {
                c_in,
                c_out,
                k,
                pad: 1,
                stride: 1,
            }],
        )
        .expect("model");
        let input: TValue = Tensor::from_shape(&[1, c_in, hw, hw], &values(c_in * hw * hw, 1))
            .expect("input")
            .into();
        for (label, options) in [
            ("tract", PlanOptions::stock()),
            (isa.name(), PlanOptions::best()),
        ] {
            let plan = optimise_with(source.clone(), options)
                .and_then(|m| m.into_runnable())
                .expect("plan");
            group.bench_function(format!("{name} / {label}"), |b| {
                b.iter(|| plan.run(tvec!(input.clone())).expect("run"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
