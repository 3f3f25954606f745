//! Planning a typed tract model with our kernels in it.

use tract_core::internal::*;

use crate::direct_conv::DirectConv;
use crate::dot::DotIsa;
use crate::gru::RecurrentGru;
use crate::int8_dense::Int8Dense;
use crate::integer_conv::{self, IntegerConv};
use crate::interleave::Interleave;
use crate::simd::Isa;

/// Environment variable that chooses the direct convolution's path: `off` keeps tract's own
/// lowering (for side-by-side timing), `avx512f`, `avx2+fma` or `neon` force one the CPU has.
pub const DIRECT_CONV_ENV: &str = "S2I_DIRECT_CONV";

/// The same for the GRU's recurrent product (`off`: tract's `GruSeq`).
pub const RECURRENT_GRU_ENV: &str = "S2I_RECURRENT_GRU";

/// The same for the dense layers with int8 weights (`off`: tract's f32 product of the folded
/// weight).
pub const INT8_DENSE_ENV: &str = "S2I_INT8_DENSE";

/// The same for the int8 direct convolution (`off`: tract's im2col and integer product;
/// `avx512vnni`, `avxvnni`).
pub const INTEGER_CONV_ENV: &str = "S2I_INTEGER_CONV";

/// `off` keeps tract's two axis moves for the up-blocks' `DepthToSpace`; unset or `on`, one
/// [`Interleave`] pass.
pub const INTERLEAVE_ENV: &str = "S2I_INTERLEAVE";

/// Which of our kernels a plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// The instruction set of the direct convolution, or `None` for tract's own lowering.
    pub direct_conv: Option<Isa>,
    /// The instruction set of the GRU's recurrent product, or `None` for tract's `GruSeq`.
    pub recurrent_gru: Option<Isa>,
    /// The instruction set of the int8 direct convolution, or `None` for tract's lowering.
    pub integer_conv: Option<DotIsa>,
    /// The instruction set of the int8-weight dense layers, or `None` for tract's product.
    pub int8_dense: Option<Isa>,
    /// Whether `DepthToSpace`'s two moves run as one [`Interleave`].
    pub interleave: bool,
}

impl PlanOptions {
    /// Every kernel this CPU has a path for.
    pub fn best() -> Self {
        PlanOptions {
            direct_conv: Isa::detect(),
            recurrent_gru: Isa::detect(),
            integer_conv: DotIsa::detect(),
            int8_dense: Isa::detect(),
            interleave: true,
        }
    }

    /// tract's own lowering everywhere.
    pub fn stock() -> Self {
        PlanOptions {
            direct_conv: None,
            recurrent_gru: None,
            integer_conv: None,
            int8_dense: None,
            interleave: false,
        }
    }

    /// [`PlanOptions::best`], unless [`DIRECT_CONV_ENV`], [`RECURRENT_GRU_ENV`] or
    /// [`INTEGER_CONV_ENV`] say otherwise.
    pub fn from_env() -> TractResult<Self> {
        let var = |name: &str| std::env::var(name).ok();
        Self::from_settings(
            var(DIRECT_CONV_ENV).as_deref(),
            var(RECURRENT_GRU_ENV).as_deref(),
            var(INTEGER_CONV_ENV).as_deref(),
        )?
        .with_int8_dense(var(INT8_DENSE_ENV).as_deref())?
        .with_interleave(var(INTERLEAVE_ENV).as_deref())
    }

    /// These options with [`INTERLEAVE_ENV`]'s value applied (`None`: unset, on).
    pub fn with_interleave(mut self, value: Option<&str>) -> TractResult<Self> {
        self.interleave = match value {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => bail!("{INTERLEAVE_ENV}={other}: it is on or off"),
        };
        Ok(self)
    }

    /// These options with [`INT8_DENSE_ENV`]'s value applied (`None`: unset, the best path).
    pub fn with_int8_dense(mut self, value: Option<&str>) -> TractResult<Self> {
        self.int8_dense = setting(INT8_DENSE_ENV, value, Isa::available(), Isa::name)?;
        Ok(self)
    }

    /// The options that values of [`DIRECT_CONV_ENV`], [`RECURRENT_GRU_ENV`] and
    /// [`INTEGER_CONV_ENV`] ask for (`None`: unset).
    pub fn from_settings(
        direct_conv: Option<&str>,
        recurrent_gru: Option<&str>,
        integer_conv: Option<&str>,
    ) -> TractResult<Self> {
        Ok(PlanOptions {
            direct_conv: setting(DIRECT_CONV_ENV, direct_conv, Isa::available(), Isa::name)?,
            recurrent_gru: setting(
                RECURRENT_GRU_ENV,
                recurrent_gru,
                Isa::available(),
                Isa::name,
            )?,
            integer_conv: setting(
                INTEGER_CONV_ENV,
                integer_conv,
                DotIsa::available(),
                DotIsa::name,
            )?,
            // The kernels these three settings do not name keep their best path.
            ..Self::best()
        })
    }
}

/// The path one kernel's variable asks for among `available` (best first): unset is the best,
/// `off` none.
fn setting<T: Copy>(
    variable: &str,
    value: Option<&str>,
    available: Vec<T>,
    name: fn(T) -> &'static str,
) -> TractResult<Option<T>> {
    let Some(value) = value else {
        return Ok(available.first().copied());
    };
    if value == "off" {
        return Ok(None);
    }
    match available.iter().find(|isa| name(**isa) == value) {
        Some(isa) => Ok(Some(*isa)),
        None => bail!(
            "{variable}={value}: this CPU runs {}",
            std::iter::once("off")
                .chain(available.iter().map(|i| name(*i)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Swaps our kernels ([`PlanOptions::from_env`]) into `model` around tract's decluttering (the
/// GRUs and int8 dense layers after constant propagation, before decluttering; the
/// convolutions after it) and runs tract's code generation on the rest: what every
/// s2igan-edge plan goes through.
pub fn optimise(model: TypedModel) -> TractResult<TypedModel> {
    optimise_with(model, PlanOptions::from_env()?)
}

/// [`optimise`] with the kernels chosen explicitly.
pub fn optimise_with(mut model: TypedModel, options: PlanOptions) -> TractResult<TypedModel> {
    // The GRUs are taken before decluttering, which would move their input-side product out
    // into the graph, and the dense layers while their weight still reads as int8; with the
    // constants propagated, both weights are constants.
    if options.recurrent_gru.is_some() || options.int8_dense.is_some() {
        model.prop_consts()?;
    }
    if let Some(isa) = options.recurrent_gru {
        substitute_recurrent_grus(&mut model, isa)?;
    }
    if let Some(isa) = options.int8_dense {
        substitute_int8_dense(&mut model, isa)?;
    }
    let mut model = model.into_decluttered()?;
    if let Some(isa) = options.direct_conv {
        substitute_direct_convs(&mut model, isa)?;
    }
    if let Some(isa) = options.integer_conv {
        substitute_integer_convs(&mut model, isa)?;
    }
    if options.interleave {
        substitute_interleaves(&mut model)?;
    }
    // Decluttered once, above: only tract's code generation is left.
    model.optimize()?;
    Ok(model)
}

/// Applies `patch_for` to every node in evaluation order (it returns the patch that replaces
/// the node, or `None` to leave it), then drops what the patches left dead; returns how many
/// nodes were replaced.
fn replace_each(
    model: &mut TypedModel,
    patch_for: impl Fn(&TypedModel, &TypedNode) -> TractResult<Option<TypedModelPatch>>,
) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let Some(patch) = patch_for(model, model.node(id))? else {
            continue;
        };
        patch.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        *model = std::mem::take(model).into_compact()?;
    }
    Ok(replaced)
}

/// The patch that puts `op` in `node`'s place, on `node`'s first `inputs` inputs (the ops
/// that take the others as constants use one) and in place of all its outputs.
fn on_inputs<O: TypedOp>(
    model: &TypedModel,
    node: &TypedNode,
    op: O,
    inputs: usize,
) -> TractResult<TypedModelPatch> {
    let mut patch = TypedModelPatch::new(format!("{} {}", op.name(), node.name));
    let taps = patch.taps(model, &node.inputs[..inputs])?;
    let outputs = patch.wire_node(&node.name, op, &taps)?;
    for (slot, outlet) in outputs.iter().enumerate() {
        patch.shunt_outside(model, OutletId::new(node.id, slot), *outlet)?;
    }
    patch.obliterate(node.id)?;
    Ok(patch)
}

fn in_place_of<O: TypedOp>(
    model: &TypedModel,
    node: &TypedNode,
    op: O,
) -> TractResult<TypedModelPatch> {
    on_inputs(model, node, op, node.inputs.len())
}

fn in_place_of_first<O: TypedOp>(
    model: &TypedModel,
    node: &TypedNode,
    op: O,
) -> TractResult<TypedModelPatch> {
    on_inputs(model, node, op, 1)
}

/// One of our `isa` ops in place of each node `for_node` covers, wired by `wire`; returns how
/// many.
fn substitute_each<O: TypedOp>(
    model: &mut TypedModel,
    isa: Isa,
    what: &str,
    for_node: fn(&TypedModel, &TypedNode, Isa) -> TractResult<Option<O>>,
    wire: fn(&TypedModel, &TypedNode, O) -> TractResult<TypedModelPatch>,
) -> TractResult<usize> {
    ensure!(
        Isa::available().contains(&isa),
        "the {} {what} does not run on this CPU",
        isa.name()
    );
    replace_each(model, |model, node| {
        for_node(model, node, isa)?
            .map(|op| wire(model, node, op))
            .transpose()
    })
}

/// Replaces every `Conv` that [`DirectConv::for_node`] covers; returns how many.
pub fn substitute_direct_convs(model: &mut TypedModel, isa: Isa) -> TractResult<usize> {
    let (find, wire) = (DirectConv::for_node, in_place_of_first);
    substitute_each(model, isa, "direct convolution", find, wire)
}

/// Replaces every `GruSeq` that [`RecurrentGru::for_node`] covers; returns how many.
pub fn substitute_recurrent_grus(model: &mut TypedModel, isa: Isa) -> TractResult<usize> {
    let (find, wire) = (RecurrentGru::for_node, in_place_of);
    substitute_each(model, isa, "recurrent product", find, wire)
}

/// Replaces every dense layer that [`Int8Dense::for_node`] covers; returns how many.
pub fn substitute_int8_dense(model: &mut TypedModel, isa: Isa) -> TractResult<usize> {
    let (find, wire) = (Int8Dense::for_node, in_place_of_first);
    substitute_each(model, isa, "int8 dense layer", find, wire)
}

/// Replaces every integer `Conv` that [`IntegerConv::for_node`] covers, with the export's
/// quantisation before it and dequantisation after it folded in where the graph has them;
/// returns how many.
pub fn substitute_integer_convs(model: &mut TypedModel, isa: DotIsa) -> TractResult<usize> {
    ensure!(
        DotIsa::available().contains(&isa),
        "the {} integer convolution does not run on this CPU",
        isa.name()
    );
    replace_each(model, |model, node| {
        let Some(op) = IntegerConv::for_node(model, node, isa)? else {
            return Ok(None);
        };
        let quantised = integer_conv::quantisation_before(model, node)?;
        let parts = integer_conv::dequantisation_after(model, node, op.geometry.c_out)?;
        let op = op.fused(
            quantised.as_ref().map(|q| q.1),
            parts.as_ref().map(|p| {
                p.iter()
                    .map(|(f, s, b, _)| (*f, s.clone(), b.clone()))
                    .collect()
            }),
        )?;
        let mut patch = TypedModelPatch::new(format!("IntegerConv {}", node.name));
        let x = patch.tap_model(model, quantised.map_or(node.inputs[0], |q| q.0))?;
        let outputs = patch.wire_node(&node.name, op, &[x])?;
        match parts {
            // The dequantised outputs replace the graph's Adds; the Conv and the element-wise
            // nodes between go with the dead code.
            Some(parts) => {
                for ((_, _, _, add), y) in parts.iter().zip(&outputs) {
                    patch.shunt_outside(model, *add, *y)?;
                }
            }
            None => {
                patch.shunt_outside(model, OutletId::new(node.id, 0), outputs[0])?;
                patch.obliterate(node.id)?;
            }
        }
        Ok(Some(patch))
    })
}

/// Replaces every pair of axis moves that [`Interleave::for_node`] covers; returns how many.
pub fn substitute_interleaves(model: &mut TypedModel) -> TractResult<usize> {
    replace_each(model, |model, node| {
        let Some(op) = Interleave::for_node(model, node)? else {
            return Ok(None);
        };
        let second = OutletId::new(node.outputs[0].successors[0].node, 0);
        let mut patch = TypedModelPatch::new(format!("Interleave {}", node.name));
        let x = patch.tap_model(model, node.inputs[0])?;
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, second, y)?;
        Ok(Some(patch))
    })
}
