use tract_core::internal::*;
use tract_onnx::prelude::{Framework, InferenceModelExt};
fn desc(m: &TypedModel, id: usize) -> String {
    let n = m.node(id);
    let consts: Vec<String> = n
        .inputs
        .iter()
        .filter_map(|i| {
            m.outlet_fact(*i)
                .ok()?
                .konst
                .as_ref()
                .map(|k| format!("{:?}", k.shape()))
        })
        .collect();
    let ins: Vec<String> = n
        .inputs
        .iter()
        .map(|i| format!("{}/{}", m.node(i.node).name, i.slot))
        .collect();
    format!(
        "#{} {} [{}] {:?} consts {:?} out {:?} ins {:?}",
        id,
        n.name,
        n.op().name(),
        n.op().info().unwrap_or_default(),
        consts,
        m.outlet_fact(OutletId::new(id, 0)).unwrap().shape,
        ins
    )
}
fn main() -> TractResult<()> {
    let path = std::env::args().nth(1).unwrap();
    let mut m = tract_onnx::onnx()
        .model_for_path(path)?
        .into_typed()?
        .into_decluttered()?;
    s2i_kernels::plan::substitute_integer_convs(&mut m, s2i_kernels::DotIsa::detect().unwrap())?;
    for id in m.eval_order()? {
        let n = m.node(id);
        if n.op().name() != "IntegerConv" {
            continue;
        }
        println!("== {}", desc(&m, id));
        let mut frontier: Vec<usize> = vec![id];
        for depth in 0..5 {
            let mut next = vec![];
            for f in frontier {
                for o in &m.node(f).outputs {
                    for s in &o.successors {
                        if !next.contains(&s.node) {
                            println!("  {}-> {}", " ".repeat(depth), desc(&m, s.node));
                            next.push(s.node);
                        }
                    }
                }
            }
            frontier = next;
        }
    }
    Ok(())
}
