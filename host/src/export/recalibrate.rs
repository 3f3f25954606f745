//! Batch-norm statistics for the EMA generator.
//!
//! Training keeps BN running statistics for the *live* weights; the exported generator carries
//! the *averaged* (EMA) weights, whose activations have other statistics. Sampled with the
//! training statistics, the EMA generator draws washed-out pictures (seen in the first edge
//! run); re-estimating the statistics with the EMA weights fixes that. Each statistic becomes
//! the plain mean over `batches` batches of its per-batch value (PyTorch's `momentum=None`).

use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::rdg::blocks::BN_MOMENTUM;
use crate::rdg::captions::CaptionEmbeddings;
use crate::rdg::generator::Generator;

use super::generator::ConditionMode;

/// Re-estimates every generator BN's running mean and variance from batches of `embeddings`
/// rows (`[N, E]`, the training captions) with fresh noise.
pub fn recalibrate_batch_norm(
    vs: &VarStore,
    gen: &Generator,
    embeddings: &Tensor,
    batches: usize,
    batch_size: i64,
    mode: ConditionMode,
    seed: i64,
) {
    let device = embeddings.device();
    let rows = embeddings.size()[0];
    tch::manual_seed(seed);
    average_batch_statistics(vs, batches, |_| {
        let pick = Tensor::randint(rows, [batch_size], (Kind::Int64, device));
        let e = embeddings.index_select(0, &pick);
        let z = Tensor::randn([batch_size, gen.config.z_dim], (Kind::Float, device));
        let _ = gen.forward_t(&e, &z, true, mode == ConditionMode::Sample);
    });
}

/// Batches export and `rdg eval --bn recalibrated` use (the same, so eval measures the bundle).
pub const CALIBRATION_BATCHES: usize = 64;
/// Captions per calibration batch.
pub const CALIBRATION_BATCH_SIZE: i64 = 64;

/// [`recalibrate_batch_norm`] on the captions of `train_items` (training items only: the test
/// captions never shape what is evaluated on them). Returns how many captions it drew from.
pub fn recalibrate_from_captions(
    vs: &VarStore,
    gen: &Generator,
    captions: &CaptionEmbeddings,
    train_items: &[usize],
    batches: usize,
    mode: ConditionMode,
    seed: i64,
) -> i64 {
    let device = captions.table.device();
    let train = select_rows(&captions.table, &captions.offsets, train_items, device);
    recalibrate_batch_norm(vs, gen, &train, batches, CALIBRATION_BATCH_SIZE, mode, seed);
    train.size()[0]
}

/// Runs `train_mode_batch` `batches` times (each a train-mode forward pass that updates the BN
/// running statistics of `vs` with momentum [`BN_MOMENTUM`]) and leaves every running
/// statistic at the mean of its per-batch values.
pub fn average_batch_statistics(
    vs: &VarStore,
    batches: usize,
    mut train_mode_batch: impl FnMut(usize),
) {
    if batches == 0 {
        return;
    }
    let stats: Vec<Tensor> = vs
        .variables()
        .into_iter()
        .filter(|(name, _)| name.ends_with("running_mean") || name.ends_with("running_var"))
        .map(|(_, t)| t)
        .collect();
    if stats.is_empty() {
        // Nothing to re-estimate (the fused generator has no BN): skip the forward passes.
        return;
    }
    tch::no_grad(|| {
        let mut sums: Vec<Tensor> = stats.iter().map(Tensor::zeros_like).collect();
        for k in 0..batches {
            let before: Vec<Tensor> = stats.iter().map(Tensor::copy).collect();
            train_mode_batch(k);
            // running ← (1 − m)·running + m·batch, so batch = (running − (1 − m)·before) / m.
            for ((sum, now), before) in sums.iter_mut().zip(&stats).zip(&before) {
                *sum += (now - before * (1.0 - BN_MOMENTUM)) / BN_MOMENTUM;
            }
        }
        for (mut stat, sum) in stats.into_iter().zip(sums) {
            stat.copy_(&(sum / batches as f64));
        }
    });
}

/// Every caption embedding of `items`, as one `[N, E]` tensor.
pub fn select_rows(table: &Tensor, offsets: &[i64], items: &[usize], device: Device) -> Tensor {
    let idx: Vec<i64> = items
        .iter()
        .flat_map(|&i| offsets[i]..offsets[i + 1])
        .collect();
    table
        .index_select(0, &Tensor::from_slice(&idx).to_device(table.device()))
        .to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdg::config::tiny;
    use tch::nn;

    #[test]
    fn statistics_become_those_of_the_calibration_batches() {
        tch::manual_seed(21);
        let vs = nn::VarStore::new(Device::Cpu);
        let gen = Generator::new(vs.root() / "g", &tiny(2));
        let e = Tensor::randn([128, 10], (Kind::Float, Device::Cpu));
        let z = Tensor::randn([128, 6], (Kind::Float, Device::Cpu));
        let train_mode = tch::no_grad(|| gen.forward_t(&e, &z, true, false).images[1].copy());
        // Untouched statistics (0, 1) are far from the batch's: eval mode differs.
        let eval =
            |gen: &Generator| tch::no_grad(|| gen.forward_t(&e, &z, false, false).images[1].copy());
        let gap = |gen: &Generator| {
            (&eval(gen) - &train_mode)
                .abs()
                .mean(Kind::Float)
                .double_value(&[])
        };
        let before = gap(&gen);
        // One batch of exactly these rows in the same order: statistics equal the batch's
        // (up to the unbiased variance), so eval mode now draws what train mode drew.
        average_batch_statistics(&vs, 1, |_| {
            let _ = gen.forward_t(&e, &z, true, false);
        });
        let after = gap(&gen);
        assert!(after < before / 10.0, "before {before}, after {after}");

        // The exported routine averages batches drawn from the table: close to the same.
        recalibrate_batch_norm(&vs, &gen, &e, 4, 64, ConditionMode::Mean, 5);
        let averaged = gap(&gen);
        assert!(
            averaged < before / 2.0,
            "before {before}, averaged {averaged}"
        );
    }
}
