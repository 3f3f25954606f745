//! Planning a typed tract model with our kernels in it.

use tract_core::internal::*;

use crate::direct_conv::DirectConv;
use crate::gru::RecurrentGru;
use crate::simd::Isa;

/// Environment variable that chooses the direct convolution's path: `off` keeps tract's own
/// lowering (for side-by-side timing), `avx512f`, `avx2+fma` or `neon` force one the CPU has.
pub const DIRECT_CONV_ENV: &str = "S2I_DIRECT_CONV";

/// The same for the GRU's recurrent product (`off`: tract's `GruSeq`).
pub const RECURRENT_GRU_ENV: &str = "S2I_RECURRENT_GRU";

/// Which of our kernels a plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// The instruction set of the direct convolution, or `None` for tract's own lowering.
    pub direct_conv: Option<Isa>,
    /// The instruction set of the GRU's recurrent product, or `None` for tract's `GruSeq`.
    pub recurrent_gru: Option<Isa>,
}

impl PlanOptions {
    /// Every kernel this CPU has a path for.
    pub fn best() -> Self {
        PlanOptions {
            direct_conv: Isa::detect(),
            recurrent_gru: Isa::detect(),
        }
    }

    /// tract's own lowering everywhere.
    pub fn stock() -> Self {
        PlanOptions {
            direct_conv: None,
            recurrent_gru: None,
        }
    }

    /// [`PlanOptions::best`], unless [`DIRECT_CONV_ENV`] or [`RECURRENT_GRU_ENV`] say otherwise.
    pub fn from_env() -> TractResult<Self> {
        Self::from_settings(
            std::env::var(DIRECT_CONV_ENV).ok().as_deref(),
            std::env::var(RECURRENT_GRU_ENV).ok().as_deref(),
        )
    }

    /// The options that values of [`DIRECT_CONV_ENV`] and [`RECURRENT_GRU_ENV`] ask for
    /// (`None`: unset).
    pub fn from_settings(
        direct_conv: Option<&str>,
        recurrent_gru: Option<&str>,
    ) -> TractResult<Self> {
        Ok(PlanOptions {
            direct_conv: setting(DIRECT_CONV_ENV, direct_conv)?,
            recurrent_gru: setting(RECURRENT_GRU_ENV, recurrent_gru)?,
        })
    }
}

/// The path one kernel's variable asks for: unset is the best this CPU has, `off` none.
fn setting(variable: &str, value: Option<&str>) -> TractResult<Option<Isa>> {
    let Some(value) = value else {
        return Ok(Isa::detect());
    };
    if value == "off" {
        return Ok(None);
    }
    let available = Isa::available();
    match available.iter().find(|isa| isa.name() == value) {
        Some(isa) => Ok(Some(*isa)),
        None => bail!(
            "{variable}={value}: this CPU runs {}",
            std::iter::once("off")
                .chain(available.iter().map(|i| i.name()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
    if let Some(isa) = options.recurrent_gru {
        substitute_recurrent_grus(&mut model, isa)?;
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

/// Replaces every `GruSeq` that [`RecurrentGru::for_node`] covers; returns how many.
pub fn substitute_recurrent_grus(model: &mut TypedModel, isa: Isa) -> TractResult<usize> {
    ensure!(
        Isa::available().contains(&isa),
        "the {} recurrent product does not run on this CPU",
        isa.name()
    );
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = RecurrentGru::for_node(model, node, isa)? else {
            continue;
        };
        let mut patch = TypedModelPatch::new(format!("recurrent-gru {}", node.name));
        let inputs = patch.taps(model, &node.inputs)?;
        let outputs = patch.wire_node(&node.name, op, &inputs)?;
        for (slot, outlet) in outputs.iter().enumerate() {
            patch.shunt_outside(model, OutletId::new(id, slot), *outlet)?;
        }
        patch.obliterate(id)?;
        patch.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        *model = std::mem::take(model).into_compact()?;
    }
    Ok(replaced)
}
