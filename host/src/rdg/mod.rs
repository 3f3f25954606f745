//! The densely-stacked generator with relation supervision (spec §5–§8).
//!
//! One file per network: [`generator`] (DG, with [`conditioning`] and the [`blocks`]),
//! [`discriminator`] (D64/D128/D256), [`relation`] (RS); the [`losses`] over their outputs, the
//! generator's [`ema`], the spec's [`init`]ialisation, and the [`config`] with the `paper` and
//! `edge` presets and their costs. [`trainer`] runs the GAN loop on the extracted [`captions`],
//! drawing sample [`grid`]s as it goes.

pub mod augment;
pub mod blocks;
pub mod captions;
pub mod conditioning;
pub mod config;
pub mod critic;
pub mod discriminator;
pub mod ema;
pub mod fused;
pub mod generator;
pub mod grid;
pub mod init;
pub mod load;
pub mod losses;
pub mod relation;
pub mod residual_discriminator;
pub mod sample;
pub mod trainer;

pub use conditioning::{kl_loss, ConditioningAugmentation};
pub use config::RdgConfig;
pub use discriminator::{Discriminator, DiscriminatorLogits};
pub use ema::Ema;
pub use generator::{Generator, GeneratorOutput};
pub use init::{init_weights, init_weights_under};
pub use losses::{
    bce_with_logits, discriminator_loss, discriminator_loss_on, generator_adversarial_loss,
    generator_loss, GeneratorLoss,
};
pub use relation::{
    generator_relation_loss, pair_loss, supervisor_loss, PairKind, RelationEmbeddings,
    RelationSupervisor,
};

#[cfg(test)]
mod tests;
