//! RDG end to end on a small real synthetic set: a tiny GAN run computes every loss without NaN,
//! an interrupted and resumed run logs exactly the losses of an uninterrupted one, sampling
//! turns a wav into a picture, and bad input (SEN of another size, stale embeddings, small
//! images, NaN) gets clear errors with the last checkpoint intact.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use s2i_host::data::synth::{generate, Kind, SynthConfig};
use s2i_host::data::Split;
use s2i_host::eval::gan::{self, GanEvalArgs};
use s2i_host::rdg::sample::{self, SampleArgs};
use s2i_host::rdg::trainer::{self, RdgTrainArgs, Stop};
use s2i_host::sen::config::SenConfig;
use s2i_host::sen::extract;
use s2i_host::sen::load_sen;
use s2i_host::sen::trainer::{load_dataset, SenTrainer};
use s2i_host::train::{DeviceChoice, Interrupt};
use serde_json::{json, Value};
use tch::Device;

/// libtorch's RNG is global to the process: runs in parallel test threads would draw from each
/// other's streams, so the tests of this file take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

struct Fixture {
    data: PathBuf,
    sen: PathBuf,
}

/// 120 birds, 2 captions each; an (untrained) edge SEN saved as a run folder with its extracted
/// embeddings. The GAN only needs the SEN's shapes and a fixed image encoder.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let data = dir.join("birds");
        let mut cfg = SynthConfig::new(Kind::Birds, &data, 120);
        cfg.captions = 2;
        generate(&cfg).expect("the synthetic generator failed (is espeak-ng installed?)");
        let sen = dir.join("sen");
        std::fs::create_dir_all(&sen).unwrap();
        let c = SenConfig::edge();
        let ds = load_dataset(&data, &c, false).unwrap();
        let t = SenTrainer::new(&c, ds.num_train_classes() as i64, None, Device::Cpu);
        t.model_checkpoint(json!({"dataset": {"table_hash": ds.report().table_hash}}))
            .save(&sen.join("best.safetensors"))
            .unwrap();
        let loaded = load_sen(&sen, Device::Cpu, None).unwrap();
        let e = extract::extract(&loaded, &ds, Device::Cpu).unwrap();
        extract::save(&e, &sen.join(extract::EMBEDDINGS_FILE)).unwrap();
        Fixture { data, sen }
    })
}

/// The edge layout at toy width.
fn args(out: &Path) -> RdgTrainArgs {
    let f = fixture();
    let mut a = RdgTrainArgs::new(&f.data, &f.sen, out);
    a.ngf = Some(4);
    a.ndf = Some(4);
    a.batch_size = Some(8);
    a.epochs = Some(1);
    a.sample_every = 4;
    a.device = DeviceChoice::Cpu;
    a
}

/// The logged losses, without the CPU time each step was logged at (a measurement of this
/// machine, not of training).
fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let cpu = v.as_object_mut().unwrap().remove("cpu_s");
            assert!(cpu.and_then(|c| c.as_f64()).is_some_and(|c| c > 0.0), "{l}");
            v
        })
        .collect()
}

#[test]
fn a_tiny_gan_run_is_finite_and_resumes_exactly() {
    let _turn = serial();
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();

    let whole = dir.path().join("whole");
    let s = trainer::run_with(&args(&whole), Interrupt::never()).unwrap();
    assert_eq!(s.stop, Stop::Finished);
    let reference = metrics(&whole);
    assert!(reference.len() >= 5, "{} steps", reference.len());
    for m in &reference {
        for key in ["d64", "d128", "rs", "g", "g_adv", "g_rs", "kl"] {
            let v = m[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite(), "{key} = {v} in {m}");
        }
    }
    for f in [
        "run.json",
        "last.safetensors",
        "generator.safetensors",
        "loss.png",
    ] {
        assert!(whole.join(f).exists(), "{f} missing");
    }
    let grid = image::open(whole.join("samples").join("latest.png")).unwrap();
    assert!(grid.width() > 3 * 128 && grid.height() > 2 * 128);
    assert!(whole.join("samples").join("step_000004.png").exists());

    // Ctrl-C after the first step, then --resume: the same losses, step for step.
    let parts = dir.path().join("parts");
    let stop = Interrupt::never();
    stop.request();
    let s = trainer::run_with(&args(&parts), stop).unwrap();
    assert_eq!((s.stop, s.position.global_step), (Stop::Interrupted, 1));
    let e = trainer::run_with(&args(&parts), Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--resume"), "{e}");
    let mut resume = args(&parts);
    resume.resume = true;
    let s = trainer::run_with(&resume, Interrupt::never()).unwrap();
    assert_eq!(s.stop, Stop::Finished);
    assert_eq!(metrics(&parts), reference);

    // Sampling: a test caption's wav in, a 128² picture out.
    let ds = load_dataset(&fixture().data, &SenConfig::edge(), false).unwrap();
    let test_item = ds.item(ds.split(Split::Test)[0]);
    let wav = test_item.captions[0].wav.clone();
    let out = dir.path().join("pictures");
    let written = sample::run(&SampleArgs {
        rdg: whole.clone(),
        wav: vec![wav],
        sen: None,
        out: out.clone(),
        seed: 100,
        all_stages: true,
        bn: s2i_host::rdg::load::BnStatistics::Running,
        device: DeviceChoice::Cpu,
        threads: None,
        inception_weights: None,
    })
    .unwrap();
    assert_eq!(written.len(), 2);
    let picture = image::open(&written[0]).unwrap();
    assert_eq!((picture.width(), picture.height()), (128, 128));

    // Evaluation on the test captions, without a probe or Inception weights: the IED mAP beside
    // its references, the missing figures named, the JSON and the comparison picture written.
    let report = gan::run(&GanEvalArgs {
        rdg: whole.clone(),
        data: fixture().data.clone(),
        probe: None,
        inception_weights: None,
        sen: None,
        embeddings: None,
        out: None,
        seed: 100,
        bn: s2i_host::rdg::load::BnStatistics::Running,
        device: DeviceChoice::Cpu,
        threads: None,
    })
    .unwrap();
    assert_eq!(report.test_classes, 12);
    assert_eq!(report.generated_images, 2 * report.test_images);
    assert_eq!(report.map_queries, 24);
    for v in [
        report.ied_map.generated,
        report.ied_map.floor,
        report.ied_map.ceiling,
        report.map_chance,
    ] {
        assert!((0.0..=1.0).contains(&v), "{report:?}");
    }
    assert!(report.fid.is_none() && report.attribute_accuracy.is_empty());
    assert!(report.bird_present.is_none() && report.probe_frechet.is_none());
    // Inception figures, the probe's figures, and the bird-presence rate.
    assert_eq!(report.unavailable.len(), 3, "{:?}", report.unavailable);
    assert!(report.unavailable[2].starts_with("bird present"));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("eval_test.json")).unwrap())
            .unwrap();
    assert_eq!(json["report"]["map_queries"], 24);
    let picture = image::open(whole.join("eval_test.png")).unwrap();
    assert!(picture.width() > 3 * 128);
}

#[test]
fn the_ablations_run() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(&dir.path().join("no-dense-no-rs"));
    a.no_dense = true;
    a.no_rs = true;
    a.max_minutes = Some(0.0); // one step is enough to run every path
    let s = trainer::run_with(&a, Interrupt::never()).unwrap();
    assert_eq!(s.stop, Stop::TimeLimit);
    let m = &metrics(&a.out)[0];
    assert!(m["rs"].is_null() && m["g_rs"].is_null(), "{m}");
    assert!(m["g"].as_f64().unwrap().is_finite());
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(a.out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["config"]["dense"], false);
    assert_eq!(run["config"]["rs"], false);
}

#[test]
fn bad_input_gets_clear_errors_and_keeps_the_checkpoint() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();

    // A generator preset whose embedding size is not the SEN's.
    let mut a = args(&dir.path().join("paper"));
    a.preset = "paper".into();
    a.ngf = Some(8);
    let e = trainer::run_with(&a, Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(e.contains("256") && e.contains("1024"), "{e}");

    // Embeddings of another SEN checkpoint.
    let stale = dir.path().join("stale.safetensors");
    let mut emb = extract::load(&f.sen.join(extract::EMBEDDINGS_FILE), None).unwrap();
    emb.checkpoint_sha256 = "f".repeat(64);
    extract::save(&emb, &stale).unwrap();
    let mut a = args(&dir.path().join("stale"));
    a.embeddings = Some(stale);
    let e = trainer::run_with(&a, Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stale.safetensors") && e.contains("another SEN checkpoint"),
        "{e}"
    );

    // Images smaller than the last stage draws.
    let e = {
        let mut a = args(&dir.path().join("big"));
        a.stages = Some(3);
        a.ngf = Some(8);
        let small = copy_dataset(&f.data, &dir.path().join("small"));
        a.data = small;
        format!(
            "{:#}",
            trainer::run_with(&a, Interrupt::never()).unwrap_err()
        )
    };
    assert!(e.contains("100×100") && e.contains("256²"), "{e}");

    // A NaN: the run stops naming the loss and the step, and the last checkpoint survives.
    let run = dir.path().join("nan");
    let stop = Interrupt::never();
    stop.request();
    trainer::run_with(&args(&run), stop).unwrap();
    let last = run.join(trainer::LAST);
    let before = std::fs::read(&last).unwrap();
    let poisoned = dir.path().join("nan.safetensors");
    let mut emb = extract::load(&f.sen.join(extract::EMBEDDINGS_FILE), None).unwrap();
    emb.data.iter_mut().for_each(|x| *x = f32::NAN);
    extract::save(&emb, &poisoned).unwrap();
    let mut a = args(&run);
    a.resume = true;
    a.embeddings = Some(poisoned);
    let e = trainer::run_with(&a, Interrupt::never())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("D64 loss became NaN") && e.contains("epoch 1 step 1") && e.contains("intact"),
        "{e}"
    );
    assert_eq!(std::fs::read(&last).unwrap(), before);
}

/// A copy of the dataset with the first image shrunk to 100×100.
fn copy_dataset(from: &Path, to: &Path) -> PathBuf {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy_dir(from, to);
    let ds = load_dataset(to, &SenConfig::edge(), false).unwrap();
    let first = &ds.items()[0].image;
    let img = image::open(first).unwrap().thumbnail_exact(100, 100);
    img.save(first).unwrap();
    to.to_path_buf()
}

/// The project venv's Python (with onnx and onnxruntime), set up by deploy/setup-dev.sh.
fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run deploy/setup-dev.sh",
        python.display()
    );
    python
}

/// onnx.checker and onnxruntime on `model` with `inputs`; returns onnxruntime's outputs.
fn onnxruntime_outputs(model: &Path, inputs: &[tch::Tensor], names: &[&str]) -> Vec<tch::Tensor> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, t) in inputs.iter().enumerate() {
        let f = dir.path().join(format!("input{i}.npy"));
        t.write_npy(&f).unwrap();
        files.push(f);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/onnx_check.py");
    let out = std::process::Command::new(venv_python())
        .arg(script)
        .arg(model)
        .arg(dir.path())
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    names
        .iter()
        .map(|n| tch::Tensor::read_npy(dir.path().join(format!("{n}.npy"))).unwrap())
        .collect()
}

#[test]
fn export_writes_a_bundle_that_tract_and_onnxruntime_agree_on_and_verify_guards() {
    use prost::Message;
    use s2i_host::export::{self, check, ExportArgs};
    use s2i_shared::bundle::{Manifest, Precision, Role};

    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("rdg");
    let mut a = args(&run);
    a.max_minutes = Some(0.0);
    trainer::run_with(&a, Interrupt::never()).unwrap();

    let bundle = dir.path().join("models").join("tiny");
    let mut e = ExportArgs::new(&fixture().sen, &run, &bundle);
    e.recalibration_batches = 2;
    e.int8 = true;
    let manifest = export::export(&e).unwrap();
    assert_eq!(
        manifest.files.len(),
        6,
        "encoder and two stages, in f32 and in int8"
    );
    assert!(manifest.metrics["export_max_relative_error"] < 1e-4);
    assert_eq!(manifest.hyper_parameters["condition"], "mean");
    // int8 against f32 on the fixture's test utterances (an untrained generator: loose bounds;
    // the shipped bundle's targets are checked in device/tests/int8.rs).
    let cosine = manifest.metrics["int8_embedding_cosine_min"];
    let psnr = manifest.metrics["int8_stage2_psnr_db_mean"];
    println!("int8 vs f32: embedding cosine min {cosine:.4}, stage 2 PSNR mean {psnr:.1} dB");
    assert!(cosine > 0.95 && cosine <= 1.0 + 1e-9, "{cosine}");
    assert!(psnr > 20.0 && psnr.is_finite(), "{psnr}");
    // Nothing but the bundle is left beside it (the temporary folder was renamed).
    let siblings: Vec<_> = std::fs::read_dir(bundle.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(siblings.len(), 1);
    assert!(!std::fs::read_dir(&bundle).unwrap().any(|f| f
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
    let report = export::verify(&bundle).unwrap().to_string();
    assert!(report.contains("verified"), "{report}");
    let again = export::export(&e).unwrap_err().to_string();
    assert!(
        again.contains("already exists") && again.contains("--force"),
        "{again}"
    );

    // Every file passes onnx.checker, and onnxruntime computes what tract computes (int8: up
    // to a rounding step flipped by float summation order before a quantisation).
    // Utterance frames padded as the board pads them to one of its fixed lengths.
    let features = tch::Tensor::randn([1, 40, 150], (tch::Kind::Float, Device::Cpu));
    let encoder_inputs = export::speech_encoder::encoder_inputs(&features, 180);
    let noise = tch::Tensor::randn([1, 100], (tch::Kind::Float, Device::Cpu));
    for (precision, tolerance) in [(Precision::F32, 1e-4), (Precision::Int8, 2e-2)] {
        let file = |role| manifest.file_for(role, precision).unwrap();
        let embedding = {
            let plan = check::tract_plan(&bundle.join(&file(Role::SpeechEncoder).path)).unwrap();
            check::run(&plan, &encoder_inputs).unwrap().remove(0)
        };
        let mut stage1_out: Vec<tch::Tensor> = Vec::new();
        for (role, inputs) in [
            (
                Role::SpeechEncoder,
                encoder_inputs.iter().map(|t| t.shallow_clone()).collect(),
            ),
            (
                Role::GeneratorStage1,
                vec![embedding.shallow_clone(), noise.shallow_clone()],
            ),
            (Role::GeneratorStage2, vec![]),
        ] {
            let file = file(role);
            let inputs = if inputs.is_empty() {
                vec![stage1_out[1].shallow_clone(), stage1_out[2].shallow_clone()]
            } else {
                inputs
            };
            let path = bundle.join(&file.path);
            let names: Vec<&str> = file.outputs.iter().map(|t| t.name.as_str()).collect();
            let reference = onnxruntime_outputs(&path, &inputs, &names);
            let plan = check::tract_plan(&path).unwrap();
            let got = check::run(&plan, &inputs).unwrap();
            let err = check::compare(&path, &names, &reference, &got, tolerance).unwrap();
            println!("{}: tract vs onnxruntime {err:.1e}", file.path);
            if role == Role::GeneratorStage1 {
                stage1_out = got;
            }
        }
    }

    // The board pads each utterance up to a fixed planned length (tract fuses the GRU only
    // then): for lengths on and off the step, its embedding is the unpadded one's; more lengths
    // than it keeps plans for, and the first again after its plan was dropped.
    let board =
        s2i_device::infer::Pipeline::load(&bundle, &s2i_shared::frontend::Frontend::default())
            .unwrap();
    let unpadded = check::tract_plan(&bundle.join(&manifest.files[0].path)).unwrap();
    let step = s2i_device::infer::PADDED_LENGTH_STEP as i64;
    let mut lengths = vec![2 * step, 2 * step + 1, 7 * step - 3];
    lengths.extend((3..=8).map(|k| k * step));
    lengths.push(2 * step);
    for frames in lengths {
        let x = tch::Tensor::randn([1, 40, frames], (tch::Kind::Float, Device::Cpu));
        let expected = check::run(
            &unpadded,
            &export::speech_encoder::encoder_inputs(&x, frames),
        )
        .unwrap()
        .remove(0);
        let got = board
            .run_network(
                0,
                std::iter::once(check::to_tract(&x).unwrap().into()).collect(),
            )
            .unwrap()
            .remove(0);
        let got = check::from_tract(&got).unwrap();
        let err = check::relative_error(&expected, &got);
        println!("{frames} frames, padded on the board: {err:.1e}");
        assert!(err < 1e-5, "{frames} frames: {err}");
    }

    // The board's loader plans the int8 files in integers: one integer matrix product or one of
    // our int8 direct convolutions per ConvInteger.
    let int8 = s2i_device::infer::Pipeline::load_precision(
        &bundle,
        &s2i_shared::frontend::Frontend::default(),
        Precision::Int8,
    )
    .unwrap();
    let mut integer_products = 0;
    for usage in int8.kernels() {
        let model =
            tract_onnx::pb::ModelProto::decode(std::fs::read(&usage.file).unwrap().as_slice())
                .unwrap();
        let conv_integer = model
            .graph
            .unwrap()
            .node
            .iter()
            .filter(|n| n.op_type == "ConvInteger")
            .count();
        println!(
            "{}: {} of {} matrix products on integer kernels ({}), {} int8 direct convolutions",
            usage.file.display(),
            usage.integer,
            usage.matrix_products,
            usage.kernels.join(", "),
            usage.integer_convolutions
        );
        assert_eq!(usage.in_integers(), conv_integer, "{usage:?}");
        integer_products += usage.in_integers();
    }
    // Narrow convolutions stay f32 (`INT8_MIN_OUTPUT_CHANNELS`), wide ones must not.
    assert!(integer_products > 0);

    // Where this CPU has our int8 direct convolution, the export's quantisation before and
    // dequantisation after each int8 convolution fold into it, bit for bit.
    if let Some(isa) = s2i_kernels::DotIsa::detect() {
        use s2i_kernels::integer_conv::{Input, IntegerConv, Output};
        use tract_onnx::prelude::*;
        for usage in int8.kernels().iter().skip(1) {
            let typed = tract_onnx::onnx()
                .model_for_path(&usage.file)
                .unwrap()
                .into_typed()
                .unwrap();
            let options = s2i_kernels::PlanOptions {
                integer_conv: Some(isa),
                ..s2i_kernels::PlanOptions::stock()
            };
            let plan = s2i_kernels::plan::optimise_with(typed.clone(), options).unwrap();
            let convs: Vec<&IntegerConv> = plan
                .nodes()
                .iter()
                .filter_map(|n| n.op_as::<IntegerConv>())
                .collect();
            println!(
                "{}: {} int8 direct convolutions",
                usage.file.display(),
                convs.len()
            );
            assert!(!convs.is_empty());
            for conv in &convs {
                assert!(matches!(conv.input, Input::Quantised(_)), "{conv:?}");
                assert!(matches!(conv.output, Output::Dequantised(_)), "{conv:?}");
            }
            // Folding changes no value: the same f32 operations in the same order.
            let inputs: TVec<TValue> = (0..typed.inputs.len())
                .map(|i| {
                    let fact = typed.input_fact(i).unwrap();
                    let shape = fact.shape.as_concrete().unwrap().to_vec();
                    let n: usize = shape.iter().product();
                    let values = s2i_kernels::self_check::values(n, i as u64);
                    Tensor::from_shape(&shape, &values).unwrap().into_tvalue()
                })
                .collect();
            let stock = s2i_kernels::PlanOptions::stock();
            let stock = s2i_kernels::plan::optimise_with(typed, stock).unwrap();
            let want = stock.into_runnable().unwrap().run(inputs.clone()).unwrap();
            let got = plan.into_runnable().unwrap().run(inputs).unwrap();
            for (a, b) in want.iter().zip(&got) {
                assert_eq!(
                    a.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
                    b.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
                    "{}",
                    usage.file.display()
                );
            }
        }
    }

    // --verify refuses each kind of damage, naming the problem.
    let damaged = |name: &str, damage: &dyn Fn(&Path)| -> String {
        let copy = dir.path().join(name);
        std::fs::create_dir_all(&copy).unwrap();
        for f in std::fs::read_dir(&bundle).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
        }
        damage(&copy);
        format!("{:#}", export::verify(&copy).unwrap_err())
    };
    let rewrite_manifest = |b: &Path, edit: &dyn Fn(&mut serde_json::Value)| {
        let p = b.join("manifest.json");
        let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        edit(&mut m);
        std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    };
    let stage2 = manifest.file(Role::GeneratorStage2).unwrap().path.clone();
    let msg = damaged("missing", &|b| {
        std::fs::remove_file(b.join(&stage2)).unwrap()
    });
    assert!(
        msg.contains(&stage2) && msg.contains("cannot be read"),
        "{msg}"
    );
    let msg = damaged("mismatch", &|b| {
        let p = b.join(&stage2);
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(&p, bytes).unwrap();
    });
    assert!(msg.contains(&stage2) && msg.contains("SHA-256"), "{msg}");
    // Corrupted, and the manifest's hash updated to match: tract itself must refuse it.
    let msg = damaged("corrupted", &|b| {
        let p = b.join(&stage2);
        std::fs::write(&p, b"not an onnx model at all").unwrap();
        let sha = s2i_shared::bundle::sha256_file(&p).unwrap();
        rewrite_manifest(b, &|m| {
            for f in m["files"].as_array_mut().unwrap() {
                if f["path"] == stage2.as_str() {
                    f["sha256"] = json!(sha);
                }
            }
        });
    });
    assert!(
        msg.contains(&stage2) && msg.contains("not a loadable ONNX model"),
        "{msg}"
    );
    let msg = damaged("frontend", &|b| {
        rewrite_manifest(b, &|m| m["frontend"]["table_hash"] = json!("0".repeat(64)))
    });
    assert!(msg.contains("front end differs from this build's"), "{msg}");
    let msg = damaged("version", &|b| {
        rewrite_manifest(b, &|m| m["format_version"] = json!(99))
    });
    assert!(msg.contains("format version 99"), "{msg}");
    // The untouched bundle still verifies, and its manifest reads back equal.
    assert_eq!(Manifest::read(&bundle).unwrap(), manifest);
}
