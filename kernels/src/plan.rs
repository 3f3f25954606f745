//! Planning a typed tract model with our kernels in it.

use tract_core::internal::*;

use crate::direct_conv::DirectConv;
use crate::simd::Isa;

/// Environment variable that chooses the direct convolution's path: `off` keeps tract's own
/// lowering (for side-by-side timing), `avx512f`, `avx2+fma` or `neon` force one the CPU has.
pub const DIRECT_CONV_ENV: &str = "S2I_DIRECT_CONV";

/// Which of our kernels a plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// The instruction set of the direct convolution, or `None` for tract's own lowering.
    pub direct_conv: Option<Isa>,
}

impl PlanOptions {
    /// Every kernel this CPU has a path for.
    pub fn best() -> Self {
        PlanOptions {
            direct_conv: Isa::detect(),
        }
    }

    /// tract's own lowering everywhere.
    pub fn stock() -> Self {
        PlanOptions { direct_conv: None }
    }

    /// [`PlanOptions::best`], unless [`DIRECT_CONV_ENV`] says otherwise.
    pub fn from_env() -> TractResult<Self> {
        Self::from_setting(std::env::var(DIRECT_CONV_ENV).ok().as_deref())
    }

    /// The options a value of [`DIRECT_CONV_ENV`] asks for (`None`: unset).
    pub fn from_setting(value: Option<&str>) -> TractResult<Self> {
        let Some(value) = value else {
            return Ok(Self::best());
        };
        if value == "off" {
            return Ok(Self::stock());
        }
        let available = Isa::available();
        match available.iter().find(|isa| isa.name() == value) {
            Some(isa) => Ok(PlanOptions {
                direct_conv: Some(*isa),
            }),
            None => bail!(
                "{DIRECT_CONV_ENV}={value}: this CPU runs {}",
                std::iter::once("off")
                    .chain(available.iter().map(|i| i.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Declutters `model`, swaps in our kernels ([`PlanOptions::from_env`]) and runs tract's code
/// generation on the rest: what every s2igan-edge plan goes through.
pub fn optimise(model: TypedModel) -> TractResult<TypedModel> {
    optimise_with(model, PlanOptions::from_env()?)
}

/// [`optimise`] with the kernels chosen explicitly.
pub fn optimise_with(model: TypedModel, options: PlanOptions) -> TractResult<TypedModel> {
    let mut model = model.into_decluttered()?;
    if let Some(isa) = options.direct_conv {
        substitute_direct_convs(&mut model, isa)?;
    }
    // Decluttered once, above: only tract's code generation is left.
    model.optimize()?;
    Ok(model)
}

/// Replaces every `Conv` that [`DirectConv::for_node`] covers; returns how many.
pub fn substitute_direct_convs(model: &mut TypedModel, isa: Isa) -> TractResult<usize> {
    ensure!(
        Isa::available().contains(&isa),
        "the {} direct convolution does not run on this CPU",
        isa.name()
    );
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = DirectConv::for_node(model, node, isa)? else {
            continue;
        };
        let mut patch = TypedModelPatch::new(format!("direct-conv {}", node.name));
        let x = patch.tap_model(model, node.inputs[0])?;
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), y)?;
        patch.obliterate(id)?;
        patch.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        *model = std::mem::take(model).into_compact()?;
    }
    Ok(replaced)
}
