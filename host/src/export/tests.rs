//! tch forward vs tract running the written file (design decision 3: relative error < 1e-4).

use tch::{nn, Device, Kind, Tensor};

use super::check::{check_file, F32_TOLERANCE};
use super::generator::{self, names as gnames, ConditionMode};
use super::onnx::write_model;
use super::quantize::ConvPrecision;
use super::speech_encoder::{encoder_inputs, names as snames, speech_encoder_graph};
use crate::rdg::config::tiny;
use crate::rdg::generator::Generator;
use crate::sen::config::{SenConfig, SpeechEncoderConfig};
use crate::sen::speech_encoder::SpeechEncoder;

/// Trained networks have BN statistics away from (0, 1) and γ away from 1; so must the tests,
/// or a mistake in folding would go unseen. The ranges are those of trained BNs (γ about
/// 1 ± 0.2, variances 0.5–2): far wider ones make a random 4-up-block network so ill-conditioned
/// that f32 summation order alone moves its output by 1e-4.
fn randomise_batch_norms(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            let fresh = if name.ends_with("running_var") {
                Tensor::rand_like(&t) * 1.5 + 0.5
            } else if name.ends_with("running_mean") {
                Tensor::randn_like(&t) * 0.5
            } else if name.contains("bn") && name.ends_with("weight") {
                Tensor::randn_like(&t) * 0.2 + 1.0
            } else if name.contains("bn") && name.ends_with("bias") {
                Tensor::randn_like(&t) * 0.2
            } else {
                continue;
            };
            t.copy_(&fresh);
        }
    });
}

fn stage_names(k: usize) -> Vec<&'static str> {
    if k == 1 {
        vec![gnames::IMAGE, gnames::FEATURES, gnames::CONDITION]
    } else {
        vec![gnames::IMAGE, gnames::FEATURES]
    }
}

/// Checks every stage under tract; returns each stage's ONNX op types.
fn check_generator(
    stages: usize,
    dense: bool,
    mode: ConditionMode,
    embedding_scale: f64,
) -> Vec<Vec<String>> {
    check_generator_with(stages, dense, mode, embedding_scale, tiny(stages).ngf)
}

fn check_generator_with(
    stages: usize,
    dense: bool,
    mode: ConditionMode,
    embedding_scale: f64,
    ngf: i64,
) -> Vec<Vec<String>> {
    let cfg = crate::rdg::config::RdgConfig {
        dense,
        embedding_scale,
        ngf,
        ..tiny(stages)
    };
    check_stages(&cfg, mode)
}

/// The stages of a generator of `cfg` (random weights: tch's initialisation, the affines of a
/// fused one not zeroed) written and run under tract against tch; returns each stage's op types.
fn check_stages(cfg: &crate::rdg::config::RdgConfig, mode: ConditionMode) -> Vec<Vec<String>> {
    tch::manual_seed(11);
    let stages = cfg.stages;
    let vs = nn::VarStore::new(Device::Cpu);
    let gen = Generator::new(vs.root() / "g", cfg);
    randomise_batch_norms(&vs);
    let dir = tempfile::tempdir().unwrap();
    let mut op_types = Vec::new();
    for k in 1..=stages {
        let graph = if k == 1 {
            generator::stage1_graph(&gen, mode, ConvPrecision::F32)
        } else {
            generator::refine_graph(&gen, k, ConvPrecision::F32)
        };
        op_types.push(graph.op_types().into_iter().map(String::from).collect());
        let path = dir.path().join(format!("stage{k}.onnx"));
        write_model(&graph.finish(&[]), &path).unwrap();
        let inputs = generator::random_inputs(&gen, k, mode);
        let reference = generator::reference_stage(&gen, k, &inputs);
        let err = check_file(&path, &stage_names(k), &inputs, &reference)
            .unwrap_or_else(|e| panic!("stage {k}: {e:#}"));
        println!("stage {k}: max relative error {err:.1e}");
        assert!(err < F32_TOLERANCE, "stage {k}: {err}");
    }
    op_types
}

#[test]
fn a_wide_image_head_runs_as_taps_and_a_narrow_one_as_a_convolution() {
    // ngf 16 as in the edge preset: stage 1's head reads 16 channels, stage 2's 8.
    let ops = check_generator_with(2, true, ConditionMode::Mean, 16.0, 16);
    let sums = |k: usize| ops[k].iter().filter(|op| *op == "Sum").count();
    assert_eq!(sums(0), 1, "stage 1's image head as taps");
    assert_eq!(sums(1), 0, "stage 2's image head as a convolution");
}

/// The fused generator at the board's widths (ngf 16, the taps head) and three stages.
#[test]
fn fused_generator_stages_match_tch_under_tract() {
    for (stages, ngf) in [(2, 16), (3, 4)] {
        let cfg = crate::rdg::config::RdgConfig {
            architecture: crate::rdg::config::Architecture::Fused,
            ngf,
            embedding_scale: 16.0,
            ..tiny(stages)
        };
        let ops = check_stages(&cfg, ConditionMode::Mean);
        // No up-sampled tensor: every ×2 is a DepthToSpace interleave.
        assert!(ops
            .iter()
            .flatten()
            .all(|op| op != "Resize" && op != "Upsample"));
        assert!(ops[0].iter().any(|op| op == "DepthToSpace"));
    }
}

#[test]
fn every_generator_stage_matches_tch_under_tract() {
    check_generator(3, true, ConditionMode::Mean, 16.0);
}

#[test]
fn stages_without_the_dense_skip_and_with_a_sampled_condition_match_too() {
    check_generator(2, false, ConditionMode::Sample, 1.0);
}

#[test]
fn the_stages_chain_into_the_whole_generator() {
    // Stage 1's outputs fed to stage 2 give the generator's own forward pass.
    tch::manual_seed(12);
    let vs = nn::VarStore::new(Device::Cpu);
    let gen = Generator::new(vs.root() / "g", &tiny(2));
    randomise_batch_norms(&vs);
    let s1 = generator::random_inputs(&gen, 1, ConditionMode::Mean);
    let out1 = generator::reference_stage(&gen, 1, &s1);
    let out2 =
        generator::reference_stage(&gen, 2, &[out1[1].shallow_clone(), out1[2].shallow_clone()]);
    let whole = tch::no_grad(|| gen.forward_t(&s1[0], &s1[1], false, false));
    assert!(whole.images[0].allclose(&out1[0], 1e-6, 1e-6, false));
    assert!(whole.images[1].allclose(&out2[0], 1e-6, 1e-6, false));
}

fn tiny_sed() -> SpeechEncoderConfig {
    SpeechEncoderConfig {
        gru_hidden: 8,
        attention_hidden: 6,
        conv_channels: [6, 10],
        ..SenConfig::edge().speech
    }
}

/// A tiny random speech encoder (BN statistics randomised) and its f32 graph written to `path`.
struct WrittenSed {
    cfg: SpeechEncoderConfig,
    sed: SpeechEncoder,
    path: std::path::PathBuf,
    _vs: nn::VarStore,
    _dir: tempfile::TempDir,
}

fn written_sed(seed: i64) -> WrittenSed {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = tiny_sed();
    let sed = SpeechEncoder::new(vs.root() / "sed", &cfg);
    // Masked BN keeps its statistics under other names: randomise them too.
    tch::no_grad(|| {
        for bn in [&sed.bn1, &sed.bn2] {
            let (mut m, mut v) = (
                bn.running_mean.shallow_clone(),
                bn.running_var.shallow_clone(),
            );
            m.copy_(&(Tensor::randn_like(&m) * 0.5));
            v.copy_(&(Tensor::rand_like(&v) * 2.0 + 0.2));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sed.onnx");
    write_model(
        &speech_encoder_graph(&sed, ConvPrecision::F32).finish(&[]),
        &path,
    )
    .unwrap();
    WrittenSed {
        cfg,
        sed,
        path,
        _vs: vs,
        _dir: dir,
    }
}

#[test]
fn the_speech_encoder_matches_tch_under_tract_for_several_lengths() {
    let WrittenSed { cfg, sed, path, .. } = &written_sed(13);
    let plan = super::check::tract_plan(path).unwrap();
    let min = cfg.min_frames();
    // Unpadded, then padded up to the fixed lengths the board plans for.
    for (frames, padded_to) in [
        (min, min),
        (37, 37),
        (120, 120),
        (301, 301),
        (min, min + 9),
        (37, 60),
        (120, 200),
    ] {
        let x = Tensor::randn([1, cfg.n_mels, frames], (Kind::Float, Device::Cpu));
        let reference = tch::no_grad(|| sed.forward_t(&x, &[frames], false));
        let inputs = encoder_inputs(&x, padded_to);
        let fixed = super::check::tract_plan_fixed(
            path,
            &[
                &[1, cfg.n_mels as usize, padded_to as usize],
                &[1, 1, padded_to as usize],
            ],
        )
        .unwrap();
        let fused = fixed
            .model()
            .nodes()
            .iter()
            .filter(|n| matches!(n.op().name().as_ref(), "GruSeq" | "RecurrentGru"))
            .count();
        // Each layer's two directions fuse once the length is fixed (from 4 GRU steps on), into
        // tract's GruSeq or, where this CPU has a path, our RecurrentGru.
        if cfg.encoded_frames(padded_to) >= 4 {
            assert_eq!(fused, 2 * cfg.gru_layers, "{padded_to} frames");
        }
        for (form, plan) in [("symbolic", &plan), ("fixed", &fixed)] {
            let got = super::check::run(plan, &inputs).unwrap();
            let err = super::check::compare(
                path,
                &[snames::EMBEDDING],
                &[reference.shallow_clone()],
                &got,
                F32_TOLERANCE,
            )
            .unwrap_or_else(|e| panic!("{frames} frames padded to {padded_to}, {form}: {e:#}"));
            println!("{frames} → {padded_to} frames, {form} length: {err:.1e}");
        }
    }
}

#[test]
fn padding_without_the_mask_would_move_the_embedding() {
    // The mask is what makes padding harmless: the same padded features marked as speech
    // give another embedding (so the test above cannot pass by padding doing nothing).
    let WrittenSed { cfg, sed, path, .. } = &written_sed(14);
    let plan = super::check::tract_plan(path).unwrap();
    let x = Tensor::randn([1, cfg.n_mels, 80], (Kind::Float, Device::Cpu));
    let reference = tch::no_grad(|| sed.forward_t(&x, &[80], false));
    let mut inputs = encoder_inputs(&x, 120);
    let _ = inputs[1].fill_(1.0);
    let got = super::check::run(&plan, &inputs).unwrap();
    let err = super::check::relative_error(&reference, &got[0]);
    assert!(
        err > 1e-2,
        "unmasked padding moved the embedding by only {err:.1e}"
    );
}
