//! One whole RDG optimisation step on a tiny model: G forward, each D's step, the RS step, the G
//! step with every loss term, the EMA update. The training loop proper lives elsewhere; this
//! checks the pieces fit and every loss is finite.

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use super::config::tiny;
use super::*;

fn finite(t: &Tensor) -> f64 {
    let v = t.double_value(&[]);
    assert!(v.is_finite(), "non-finite loss {v}");
    v
}

fn adam(vs: &nn::VarStore, cfg: &RdgConfig, lr: f64) -> nn::Optimizer {
    nn::Adam {
        beta1: cfg.betas.0,
        beta2: cfg.betas.1,
        wd: 0.0,
        eps: 1e-8,
        amsgrad: false,
    }
    .build(vs, lr)
    .unwrap()
}

#[test]
fn one_training_step_runs_every_loss_without_nan() {
    tch::manual_seed(42);
    let cfg = tiny(2);
    let opts = (Kind::Float, Device::Cpu);
    let b = cfg.batch_size as i64;

    let g_vs = nn::VarStore::new(Device::Cpu);
    let g = Generator::new(g_vs.root() / "g", &cfg);
    init_weights(&g_vs);
    let d_vs: Vec<nn::VarStore> = cfg
        .image_sizes()
        .iter()
        .map(|_| nn::VarStore::new(Device::Cpu))
        .collect();
    let ds: Vec<Discriminator> = cfg
        .image_sizes()
        .into_iter()
        .zip(&d_vs)
        .map(|(s, vs)| Discriminator::for_scale(vs.root() / format!("d{s}"), &cfg, s))
        .collect();
    d_vs.iter().for_each(init_weights);
    let rs_vs = nn::VarStore::new(Device::Cpu);
    let rs = RelationSupervisor::new(rs_vs.root() / "rs", cfg.embedding_dim);
    init_weights(&rs_vs);

    let mut opt_g = adam(&g_vs, &cfg, cfg.lr_g);
    let mut opt_d: Vec<_> = d_vs.iter().map(|vs| adam(vs, &cfg, cfg.lr_d)).collect();
    let mut opt_rs = adam(&rs_vs, &cfg, cfg.lr_rs);
    let mut ema = Ema::new(&g_vs, cfg.ema_decay);

    // A stand-in for the frozen image encoder: fixed pooling and projection, unit vectors.
    let projection = Tensor::randn([3 * 16, cfg.embedding_dim], opts);
    let encode = |images: &Tensor| {
        let e = images
            .adaptive_avg_pool2d([4, 4])
            .flatten(1, -1)
            .matmul(&projection);
        &e / e.norm_scalaropt_dim(2.0, [1].as_slice(), true)
    };
    let images = |s: i64| Tensor::rand([b, 3, s, s], opts) * 2.0 - 1.0;
    let real: Vec<Tensor> = cfg.image_sizes().into_iter().map(images).collect();
    let wrong: Vec<Tensor> = cfg.image_sizes().into_iter().map(images).collect();
    let same_class = images(*cfg.image_sizes().last().unwrap());
    let embedding = Tensor::randn([b, cfg.embedding_dim], opts);
    let z = Tensor::randn([b, cfg.z_dim], opts);
    let before = g_vs.variables()["g.stage2.up.conv.weight"].copy();

    // (1) G forward once.
    let out = g.forward_t(&embedding, &z, true, true);

    // (2) Each D on real / wrong / detached fake.
    for (i, d) in ds.iter().enumerate() {
        let loss = discriminator_loss_on(
            d,
            &real[i],
            &wrong[i],
            &out.images[i],
            &out.mu,
            cfg.uncond_weight,
        );
        finite(&loss);
        opt_d[i].backward_step(&loss);
    }
    // The D steps reach neither G nor the CA.
    for t in g_vs.trainable_variables() {
        assert!(!t.grad().defined() || t.grad().abs().max().double_value(&[]) == 0.0);
    }

    // (3) RS on the four pair types.
    let fake_last = out.images.last().unwrap();
    let real_e = encode(real.last().unwrap());
    let rs_loss = supervisor_loss(
        &rs,
        &RelationEmbeddings {
            real: &real_e,
            same_class: &encode(&same_class),
            generated: &encode(fake_last),
            wrong: &encode(wrong.last().unwrap()),
        },
        true,
    );
    finite(&rs_loss);
    opt_rs.backward_step(&rs_loss);

    // (4) G: adversarial over all scales (μ not detached), RS term, KL.
    let fakes: Vec<DiscriminatorLogits> = ds
        .iter()
        .zip(&out.images)
        .map(|(d, img)| d.forward_t(img, &out.mu, true))
        .collect();
    let relation = generator_relation_loss(&rs, &real_e, &encode(fake_last));
    let loss = generator_loss(&cfg, &fakes, Some(relation), &out.mu, &out.logvar);
    for t in [
        &loss.adversarial,
        &loss.kl,
        loss.relation.as_ref().unwrap(),
        &loss.total,
    ] {
        finite(t);
    }
    opt_g.backward_step(&loss.total);
    let ca_grad = g_vs.variables()["g.ca.fc.weight"].grad();
    assert!(ca_grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);

    // (5) EMA.
    ema.update(&g_vs);

    let after = g_vs.variables()["g.stage2.up.conv.weight"].copy();
    assert!(
        (&after - &before).abs().max().double_value(&[]) > 0.0,
        "G did not move"
    );
    for (_, t) in g_vs.variables().iter().chain(rs_vs.variables().iter()) {
        assert!(finite(&t.abs().max()) < 1e3);
    }
    // The average moved 0.1 % of the way: between the old and the new weights.
    let avg = ema
        .named_averages()
        .into_iter()
        .find(|(n, _)| n == "g.stage2.up.conv.weight")
        .unwrap()
        .1;
    let expected = &before * cfg.ema_decay + &after * (1.0 - cfg.ema_decay);
    assert!((avg - expected).abs().max().double_value(&[]) < 1e-6);
}
