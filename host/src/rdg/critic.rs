//! One discriminator per scale, of either kind ([`DiscriminatorKind`]), behind one call.

use tch::{nn, nn::VarStore, Tensor};

use super::config::{DiscriminatorKind, RdgConfig};
use super::discriminator::{Discriminator, DiscriminatorLogits};
use super::residual_discriminator::ResidualDiscriminator;

#[derive(Debug)]
pub enum Critic {
    Stacked(Discriminator),
    Residual(ResidualDiscriminator),
}

impl Critic {
    /// The discriminator for `size`² images, its variables under `p`.
    pub fn new(p: nn::Path, cfg: &RdgConfig, size: i64) -> Self {
        match cfg.discriminator {
            DiscriminatorKind::Stacked => Self::Stacked(Discriminator::for_scale(p, cfg, size)),
            DiscriminatorKind::Residual => {
                Self::Residual(ResidualDiscriminator::new(p, cfg, size, cfg.embedding_dim))
            }
        }
    }

    /// Both heads' logits for `images` judged against `condition` (see [`Critic::condition`]).
    pub fn forward_t(
        &self,
        images: &Tensor,
        condition: &Tensor,
        train: bool,
    ) -> DiscriminatorLogits {
        match self {
            Self::Stacked(d) => d.forward_t(images, condition, train),
            Self::Residual(d) => d.forward(images, condition),
        }
    }

    /// What this kind is conditioned on: the stacked D on the CA mean μ (as the paper), the
    /// residual D on the scaled speech embedding, a fixed input the gradient penalty can reach.
    pub fn condition(kind: DiscriminatorKind, mu: &Tensor, scaled_embedding: &Tensor) -> Tensor {
        match kind {
            DiscriminatorKind::Stacked => mu.shallow_clone(),
            DiscriminatorKind::Residual => scaled_embedding.shallow_clone(),
        }
    }
}

/// Trainable parameters of the critics a config trains (for the run's summary).
pub fn parameter_count(vs: &VarStore) -> u64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as u64)
        .sum()
}
