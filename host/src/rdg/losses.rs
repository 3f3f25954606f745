//! The GAN losses (spec §8), over discriminator logits. Every BCE is BCE-with-logits (the
//! sigmoid the paper applies inside D happens here, in its numerically stable form), mean over
//! the batch.

use tch::{Kind, Reduction, Tensor};

use super::conditioning::kl_loss;
use super::config::{AdversarialLoss, RdgConfig};
use super::discriminator::{Discriminator, DiscriminatorLogits};

/// BCE(σ(logits), target) with a constant target, mean over the batch.
pub fn bce_with_logits(logits: &Tensor, target: f64) -> Tensor {
    let target = logits.full_like(target);
    logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean)
}

/// One discriminator's loss, the six terms of spec §8 (with μ detached by the caller, see
/// [`discriminator_loss_on`]):
/// conditional — real 1, wrong 0, fake 0; unconditional (× `uncond_weight`) — real 1,
/// **wrong 1** (it is a real image; only its caption is wrong), fake 0.
pub fn discriminator_loss(
    real: &DiscriminatorLogits,
    wrong: &DiscriminatorLogits,
    fake: &DiscriminatorLogits,
    uncond_weight: f64,
) -> Tensor {
    let cond = bce_with_logits(&real.cond, 1.0)
        + bce_with_logits(&wrong.cond, 0.0)
        + bce_with_logits(&fake.cond, 0.0);
    let uncond = bce_with_logits(&real.uncond, 1.0)
        + bce_with_logits(&wrong.uncond, 1.0)
        + bce_with_logits(&fake.uncond, 0.0);
    cond + uncond * uncond_weight
}

/// Runs `d` on the real, mismatched and generated images of its scale and returns
/// [`discriminator_loss`]. The fake images and μ are detached here: the D step must reach
/// neither the generator nor the conditioning augmentation.
pub fn discriminator_loss_on(
    d: &Discriminator,
    real: &Tensor,
    wrong: &Tensor,
    fake: &Tensor,
    mu: &Tensor,
    uncond_weight: f64,
) -> Tensor {
    let mu = mu.detach();
    let real = d.forward_t(real, &mu, true);
    let wrong = d.forward_t(wrong, &mu, true);
    let fake = d.forward_t(&fake.detach(), &mu, true);
    discriminator_loss(&real, &wrong, &fake, uncond_weight)
}

/// The generator's adversarial loss summed over the scales: each D's conditional and
/// unconditional logits on the generated images pushed to 1. Those logits must come from μ
/// **not** detached, so the CA also learns from the conditional heads (spec §14.15).
pub fn generator_adversarial_loss(fakes: &[DiscriminatorLogits], uncond_weight: f64) -> Tensor {
    assert!(!fakes.is_empty(), "no discriminator outputs");
    fakes
        .iter()
        .map(|f| bce_with_logits(&f.cond, 1.0) + bce_with_logits(&f.uncond, 1.0) * uncond_weight)
        .reduce(|a, b| a + b)
        .unwrap()
}

/// Hinge loss of one discriminator: the conditional head wants real matching pairs above 1 and
/// generated and mismatched pairs below −1 (those two weighted ½ each, as DF-GAN); the
/// unconditional head calls both real images real (½ each) and the generated one fake.
pub fn hinge_discriminator_loss(
    real: &DiscriminatorLogits,
    wrong: &DiscriminatorLogits,
    fake: &DiscriminatorLogits,
    uncond_weight: f64,
) -> Tensor {
    let above = |x: &Tensor| (x.neg() + 1.0).relu().mean(Kind::Float);
    let below = |x: &Tensor| (x + 1.0).relu().mean(Kind::Float);
    let cond = above(&real.cond) + (below(&wrong.cond) + below(&fake.cond)) * 0.5;
    let uncond = (above(&real.uncond) + above(&wrong.uncond)) * 0.5 + below(&fake.uncond);
    cond + uncond * uncond_weight
}

/// The generator's hinge loss: raise both heads' logits on its images, summed over the scales.
pub fn hinge_generator_loss(fakes: &[DiscriminatorLogits], uncond_weight: f64) -> Tensor {
    assert!(!fakes.is_empty(), "no discriminator outputs");
    fakes
        .iter()
        .map(|f| -(f.cond.mean(Kind::Float) + f.uncond.mean(Kind::Float) * uncond_weight))
        .reduce(|a, b| a + b)
        .unwrap()
}

/// The matching-aware gradient penalty (DF-GAN): mean over the batch of ‖∇D‖⁶, the gradient of
/// the conditional logit of real matching pairs taken over the image **and** the condition, so D
/// is smooth around the real data and its true captions. `images` and `condition` must be the
/// leaves `logits` was computed from, with `requires_grad` set.
pub fn matching_aware_penalty(logits: &Tensor, images: &Tensor, condition: &Tensor) -> Tensor {
    let grads = Tensor::run_backward(&[logits.sum(Kind::Float)], &[images, condition], true, true);
    let b = images.size()[0];
    let flat = Tensor::cat(&[grads[0].view([b, -1]), grads[1].view([b, -1])], 1);
    let norm = flat
        .square()
        .sum_dim_intlist([1].as_slice(), false, Kind::Float)
        .sqrt();
    norm.pow_tensor_scalar(6).mean(Kind::Float)
}

/// The generator's total loss and its parts, for logging.
#[derive(Debug)]
pub struct GeneratorLoss {
    pub adversarial: Tensor,
    /// The RS term before weighting; `None` without RS.
    pub relation: Option<Tensor>,
    /// The KL term before weighting.
    pub kl: Tensor,
    /// adversarial + rs_weight · relation + kl_weight · kl.
    pub total: Tensor,
}

/// Σ_scales adversarial + `rs_weight`·RS + `kl_weight`·KL (spec §8), the adversarial term in
/// the configured form.
pub fn generator_loss(
    cfg: &RdgConfig,
    fakes: &[DiscriminatorLogits],
    relation: Option<Tensor>,
    mu: &Tensor,
    logvar: &Tensor,
) -> GeneratorLoss {
    let adversarial = match cfg.loss {
        AdversarialLoss::Bce => generator_adversarial_loss(fakes, cfg.uncond_weight),
        AdversarialLoss::Hinge => hinge_generator_loss(fakes, cfg.uncond_weight),
    };
    let kl = kl_loss(mu, logvar);
    let mut total = &adversarial + &kl * cfg.kl_weight;
    if let Some(r) = &relation {
        total += r * cfg.rs_weight;
    }
    GeneratorLoss {
        adversarial,
        relation,
        kl,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(cond: f32, uncond: f32) -> DiscriminatorLogits {
        DiscriminatorLogits {
            cond: Tensor::from_slice(&[cond, cond]),
            uncond: Tensor::from_slice(&[uncond, uncond]),
        }
    }

    #[test]
    fn bce_matches_the_formula_and_stays_finite() {
        let x = Tensor::from_slice(&[0.0f32, 2.0]);
        let got = bce_with_logits(&x, 1.0).double_value(&[]);
        let expect = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
        assert!((got - expect).abs() < 1e-6);
        // A separate sigmoid would give log(0) here.
        let confident = Tensor::from_slice(&[200.0f32]);
        let l = bce_with_logits(&confident, 0.0).double_value(&[]);
        assert!((l - 200.0).abs() < 1e-3, "{l}");
    }

    /// The six terms' targets: a perfect D (right sign everywhere, large margin) has ~0 loss,
    /// and the unconditional head must call the wrong image real.
    #[test]
    fn discriminator_targets() {
        let real = logits(30.0, 30.0);
        let wrong = logits(-30.0, 30.0);
        let fake = logits(-30.0, -30.0);
        assert!(discriminator_loss(&real, &wrong, &fake, 1.0).double_value(&[]) < 1e-6);
        let wrong_uncond_fake = logits(-30.0, -30.0);
        let l = discriminator_loss(&real, &wrong_uncond_fake, &fake, 1.0).double_value(&[]);
        assert!((l - 30.0).abs() < 1e-3, "{l}");
        // The unconditional weight scales only those three terms.
        assert!(discriminator_loss(&real, &wrong_uncond_fake, &fake, 0.0).double_value(&[]) < 1e-6);
    }

    #[test]
    fn hinge_targets() {
        let real = logits(2.0, 2.0);
        let wrong = logits(-2.0, 2.0);
        let fake = logits(-2.0, -2.0);
        assert!(hinge_discriminator_loss(&real, &wrong, &fake, 1.0).double_value(&[]) < 1e-9);
        // A fake logit of 0 costs ½ on the conditional head and 1 on the unconditional one.
        let unsure = logits(0.0, 0.0);
        let l = hinge_discriminator_loss(&real, &wrong, &unsure, 1.0).double_value(&[]);
        assert!((l - 1.5).abs() < 1e-6, "{l}");
        let g = hinge_generator_loss(&[logits(3.0, 1.0)], 2.0).double_value(&[]);
        assert!((g + 5.0).abs() < 1e-6, "{g}");
    }

    /// For D(x, c) = Σ a·x + Σ b·c the gradient is (a, b) for every sample.
    #[test]
    fn matching_aware_penalty_of_a_linear_critic() {
        let x = Tensor::ones([2, 3], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let c = Tensor::ones([2, 1], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let out =
            (&x * 2.0).sum_dim_intlist([1].as_slice(), false, Kind::Float) + (&c * 1.0).view([-1]);
        let p = matching_aware_penalty(&out, &x, &c).double_value(&[]);
        // ‖(2, 2, 2, 1)‖ = √13; ⁶ = 13³.
        assert!((p - 2197.0).abs() < 1e-2, "{p}");
    }

    #[test]
    fn generator_targets_and_total() {
        let fooled = [logits(30.0, 30.0), logits(30.0, 30.0)];
        assert!(generator_adversarial_loss(&fooled, 1.0).double_value(&[]) < 1e-6);
        let caught = [logits(-30.0, 0.0)];
        let l = generator_adversarial_loss(&caught, 2.0).double_value(&[]);
        assert!((l - (30.0 + 2.0 * 2f64.ln())).abs() < 1e-3, "{l}");

        let cfg = RdgConfig::paper();
        let mu = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let logvar = Tensor::zeros([1, 2], (tch::Kind::Float, tch::Device::Cpu));
        let rel = Tensor::from(0.5f32);
        let g = generator_loss(&cfg, &caught, Some(rel), &mu, &logvar);
        // KL = mean(½μ²) = 0.25; total = adv + 1.0·0.5 + 2.0·0.25.
        let adv = g.adversarial.double_value(&[]);
        assert!((g.kl.double_value(&[]) - 0.25).abs() < 1e-6);
        assert!((g.total.double_value(&[]) - (adv + 0.5 + 0.5)).abs() < 1e-5);
    }
}
