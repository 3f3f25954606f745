//! RS, the relation supervisor (spec §7): a small classifier on pairs of image embeddings that
//! says whether the second image is the same image as the first, another of its class, or
//! unrelated. The generator is trained to make (real, generated) read as "same class".
//!
//! As in the paper's code RS is *cooperative*: (real, generated) pairs are taught as class 1,
//! the same label as (real, same-class real) (spec §14.11). It is a learned semantic-similarity
//! critic, not a third adversary.
//!
//! The embeddings come from the frozen image encoder of the SEN module; this module only sees
//! vectors. Variable names: `fc1`, `bn`, `fc2` under the given path.

use tch::{nn, Tensor};

use super::blocks::batch_norm1d;
use super::config::RS_HIDDEN;

/// Four logits, of which the paper uses three classes (spec §14.12).
pub const RS_CLASSES: i64 = 4;

/// The pair types RS is trained on, anchored on a real image I of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// (I, I).
    SameImage,
    /// (I, I_s): another real image of the same class.
    SameClass,
    /// (I, G(s)): the generated image for I's caption.
    Generated,
    /// (I, I_w): a random (mismatched) real image.
    Wrong,
}

impl PairKind {
    /// The class RS is taught for this pair. Generated shares SameClass's label on purpose.
    pub const fn target(self) -> i64 {
        match self {
            PairKind::SameImage => 0,
            PairKind::SameClass | PairKind::Generated => 1,
            PairKind::Wrong => 2,
        }
    }
}

/// concat [a, b] → Linear 2D→128 → BN1d → ReLU → Linear 128→4.
#[derive(Debug)]
pub struct RelationSupervisor {
    pub fc1: nn::Linear,
    pub bn: nn::BatchNorm,
    pub fc2: nn::Linear,
}

impl RelationSupervisor {
    pub fn new(p: nn::Path, embedding_dim: i64) -> Self {
        Self {
            fc1: nn::linear(&p / "fc1", 2 * embedding_dim, RS_HIDDEN, Default::default()),
            bn: batch_norm1d(&p / "bn", RS_HIDDEN),
            fc2: nn::linear(&p / "fc2", RS_HIDDEN, RS_CLASSES, Default::default()),
        }
    }

    /// `anchor`, `other`: `[B, D]` → logits `[B, 4]`. BN always uses the batch's statistics
    /// (the paper never puts RS in eval mode), so call it once per pair type with a whole batch,
    /// as the paper does: the statistics are those of that pair type. A consequence worth
    /// knowing: BN then removes each hidden feature's batch mean, so RS tells pair types apart
    /// by how the features spread within a batch, not by their average.
    pub fn forward(&self, anchor: &Tensor, other: &Tensor) -> Tensor {
        Tensor::cat(&[anchor, other], 1)
            .apply(&self.fc1)
            .apply_t(&self.bn, true)
            .relu()
            .apply(&self.fc2)
    }
}

/// Cross-entropy of RS logits `[B, 4]` against the pair type's class (mean over the batch).
pub fn pair_loss(logits: &Tensor, kind: PairKind) -> Tensor {
    let b = logits.size()[0];
    let target = Tensor::full([b], kind.target(), (tch::Kind::Int64, logits.device()));
    logits.cross_entropy_for_logits(&target)
}

/// Image embeddings for one RS training step, each `[B, D]`, row i anchored on real image i.
#[derive(Debug)]
pub struct RelationEmbeddings<'a> {
    pub real: &'a Tensor,
    pub same_class: &'a Tensor,
    pub generated: &'a Tensor,
    pub wrong: &'a Tensor,
}

/// RS's own loss: the sum of the pair cross-entropies (unweighted; spec weight 1.0). The generated
/// embeddings are detached here so this step never reaches the generator. `with_same_image`
/// adds the (I, I) term, which the paper uses only where images have classes (CUB, Oxford).
pub fn supervisor_loss(
    rs: &RelationSupervisor,
    e: &RelationEmbeddings,
    with_same_image: bool,
) -> Tensor {
    let generated = e.generated.detach();
    let mut loss = pair_loss(&rs.forward(e.real, e.same_class), PairKind::SameClass)
        + pair_loss(&rs.forward(e.real, &generated), PairKind::Generated)
        + pair_loss(&rs.forward(e.real, e.wrong), PairKind::Wrong);
    if with_same_image {
        loss += pair_loss(&rs.forward(e.real, e.real), PairKind::SameImage);
    }
    loss
}

/// The generator's RS term: (real, generated) should read as class 1. Gradients reach the
/// generator through `generated` (and RS's own parameters collect some, which the RS step must
/// zero before its own backward pass). Multiply by `rs_weight`.
pub fn generator_relation_loss(
    rs: &RelationSupervisor,
    real: &Tensor,
    generated: &Tensor,
) -> Tensor {
    pair_loss(&rs.forward(real, generated), PairKind::Generated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn targets_of_the_four_pair_types() {
        assert_eq!(PairKind::SameImage.target(), 0);
        assert_eq!(PairKind::SameClass.target(), 1);
        assert_eq!(PairKind::Generated.target(), 1);
        assert_eq!(PairKind::Wrong.target(), 2);
    }

    /// A loss near 0 when the logits strongly favour the pair's class and large otherwise, which
    /// checks the class indices the losses actually use.
    #[test]
    fn pair_loss_uses_the_right_class_index() {
        for kind in [
            PairKind::SameImage,
            PairKind::SameClass,
            PairKind::Generated,
            PairKind::Wrong,
        ] {
            for class in 0..RS_CLASSES {
                let mut logits = vec![0f32; 2 * RS_CLASSES as usize];
                logits[class as usize] = 20.0;
                logits[(RS_CLASSES + class) as usize] = 20.0;
                let logits = Tensor::from_slice(&logits).view([2, RS_CLASSES]);
                let loss = pair_loss(&logits, kind).double_value(&[]);
                if class == kind.target() {
                    assert!(loss < 1e-6, "{kind:?}: {loss}");
                } else {
                    assert!(loss > 19.0, "{kind:?} favoured {class}: {loss}");
                }
            }
        }
    }

    #[test]
    fn supervisor_and_generator_terms() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let rs = RelationSupervisor::new(vs.root() / "rs", 8);
        let params: u64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as u64)
            .sum();
        assert_eq!(params, 16 * 128 + 128 + 2 * 128 + 128 * 4 + 4);
        let opts = (Kind::Float, Device::Cpu);
        let real = Tensor::randn([3, 8], opts);
        let same = Tensor::randn([3, 8], opts);
        let wrong = Tensor::randn([3, 8], opts);
        let generated = Tensor::randn([3, 8], opts).set_requires_grad(true);
        assert_eq!(rs.forward(&real, &same).size(), [3, 4]);

        let e = RelationEmbeddings {
            real: &real,
            same_class: &same,
            generated: &generated,
            wrong: &wrong,
        };
        let with = supervisor_loss(&rs, &e, true);
        let without = supervisor_loss(&rs, &e, false);
        assert!(with.double_value(&[]) > without.double_value(&[]));
        with.backward();
        assert!(!generated.grad().defined(), "RS step must not reach G");

        generator_relation_loss(&rs, &real, &generated).backward();
        assert!(generated.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
