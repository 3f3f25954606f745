//! The bundle manifest: round trip, and one clear refusal for each way a bundle can be wrong.

use std::collections::BTreeMap;
use std::path::Path;

use s2i_shared::bundle::*;
use s2i_shared::frontend::{Frontend, FrontendConfig};

fn spec(name: &str, shape: Vec<Dim>) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape,
    }
}

fn make_bundle(dir: &Path) -> Manifest {
    let frontend = Frontend::default();
    let mut files = Vec::new();
    for (role, name, body) in [
        (
            Role::SpeechEncoder,
            "speech_encoder.onnx",
            b"encoder bytes".as_slice(),
        ),
        (
            Role::GeneratorStage1,
            "generator_stage1.onnx",
            b"stage one bytes".as_slice(),
        ),
        (
            Role::GeneratorStage2,
            "generator_stage2.onnx",
            b"stage two bytes".as_slice(),
        ),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
        files.push(ModelFile {
            role,
            path: name.into(),
            sha256: sha256_file(&dir.join(name)).unwrap(),
            precision: Precision::F32,
            inputs: vec![spec(
                "features",
                vec![Dim::Fixed(1), Dim::Fixed(40), Dim::Symbol("T".into())],
            )],
            outputs: vec![spec("embedding", vec![Dim::Fixed(1), Dim::Fixed(256)])],
        });
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        bundle_id: "test-bundle".into(),
        preset: "edge".into(),
        frontend: FrontendStamp::of(&frontend),
        files,
        hyper_parameters: BTreeMap::from([("ngf".to_string(), serde_json::json!(32))]),
        provenance: Provenance {
            dataset: "synthetic birds".into(),
            seed: 7,
            steps: BTreeMap::from([("sen".to_string(), 100)]),
            exporter: "test".into(),
            git_commit: None,
            created_at: None,
        },
        metrics: BTreeMap::from([("sen_map".to_string(), 0.42)]),
    };
    std::fs::write(dir.join(MANIFEST_FILE), manifest.to_json_pretty()).unwrap();
    manifest
}

fn rewrite(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST_FILE);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

/// A way to damage a good bundle, and what the refusal must say.
type Damage = (&'static str, Box<dyn Fn(&Path)>);

fn refusal(dir: &Path) -> String {
    let e = Manifest::load_verified(dir, &Frontend::default()).expect_err("bundle was accepted");
    let msg = e.to_string();
    println!("{msg}");
    msg
}

#[test]
fn a_good_bundle_round_trips_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let written = make_bundle(dir.path());
    let read = Manifest::load_verified(dir.path(), &Frontend::default()).unwrap();
    assert_eq!(read, written);
    assert_eq!(read.generator_stages(), 2);
    assert_eq!(
        read.file(Role::GeneratorStage2).unwrap().path,
        "generator_stage2.onnx"
    );
    // The symbolic frame dimension serialises as a string, fixed ones as numbers.
    let json = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
    assert!(json.contains("\"T\""));
}

#[test]
fn each_broken_bundle_is_refused_with_a_clear_reason() {
    let cases: Vec<Damage> =
        vec![
        (
            "cannot read the manifest",
            Box::new(|d| std::fs::remove_file(d.join(MANIFEST_FILE)).unwrap()),
        ),
        (
            "not a valid manifest",
            Box::new(|d| std::fs::write(d.join(MANIFEST_FILE), "{ not json").unwrap()),
        ),
        (
            "format version 9 is not supported",
            Box::new(|d| rewrite(d, |v| v["format_version"] = 9.into())),
        ),
        (
            "expected exactly one f32 speech_encoder file, found 2",
            Box::new(|d| rewrite(d, |v| v["files"][1]["role"] = "speech_encoder".into())),
        ),
        (
            "f32 generator stages must be 1..=n, each once; found [1, 3]",
            Box::new(|d| rewrite(d, |v| v["files"][2]["role"] = "generator_stage3".into())),
        ),
        (
            "the bundle has no f32 files",
            Box::new(|d| {
                rewrite(d, |v| {
                    for f in v["files"].as_array_mut().unwrap() {
                        f["precision"] = "int8".into();
                    }
                })
            }),
        ),
        (
            "the int8 generator has 1 stages, the f32 one 2",
            Box::new(|d| {
                rewrite(d, |v| {
                    let files = v["files"].as_array_mut().unwrap();
                    let mut extra: Vec<serde_json::Value> = files[..2].to_vec();
                    for f in &mut extra {
                        f["precision"] = "int8".into();
                    }
                    files.extend(extra);
                })
            }),
        ),
        (
            "must be relative and stay inside the bundle",
            Box::new(|d| rewrite(d, |v| v["files"][0]["path"] = "../../etc/passwd".into())),
        ),
        (
            "is not a 64-digit lower-case hex",
            Box::new(|d| rewrite(d, |v| v["files"][0]["sha256"] = "abc".into())),
        ),
        (
            "listed in the manifest but cannot be read",
            Box::new(|d| std::fs::remove_file(d.join("generator_stage1.onnx")).unwrap()),
        ),
        (
            "the file is corrupted or was replaced",
            Box::new(|d| std::fs::write(d.join("generator_stage2.onnx"), b"tampered").unwrap()),
        ),
        (
            "front end differs from this build's (n_mels: bundle 64 vs ours 40)",
            Box::new(|d| rewrite(d, |v| v["frontend"]["config"]["n_mels"] = 64.into())),
        ),
        (
            "(max_duration_ms: bundle 1000 vs ours 20000); its table hash is this build's own",
            Box::new(|d| rewrite(d, |v| v["frontend"]["config"]["max_duration_ms"] = 1000.into())),
        ),
        (
            "front end differs from this build's (same parameters, different tables); this build's tables hash to",
            Box::new(|d| rewrite(d, |v| v["frontend"]["table_hash"] = "0".repeat(64).into())),
        ),
    ];
    for (needle, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        make_bundle(dir.path());
        damage(dir.path());
        let msg = refusal(dir.path());
        assert!(msg.contains(needle), "{msg:?} should say {needle:?}");
        assert!(
            msg.contains(&dir.path().display().to_string()),
            "{msg:?} should name the bundle"
        );
    }
}

/// `work` on a thread, failing the test if it has not finished in 20 s (a refusal is instant; the
/// old reader hashed `/dev/zero` forever).
fn within_20_s<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("still running after 20 s")
}

#[cfg(unix)]
#[test]
fn links_and_special_files_in_a_bundle_are_refused_by_kind() {
    use std::os::unix::fs::symlink;
    // Each case: damage, then what the refusal says. A linked file or folder whose bytes hash
    // right is still refused: the hashes vouch for the bundle's own files only.
    let cases: Vec<Damage> = vec![
        (
            "generator_stage1.onnx: a symbolic link (to ",
            Box::new(|d| {
                let outside = d.parent().unwrap().join("outside.onnx");
                std::fs::rename(d.join("generator_stage1.onnx"), &outside).unwrap();
                symlink(&outside, d.join("generator_stage1.onnx")).unwrap();
            }),
        ),
        (
            "manifest.json: a symbolic link (to ",
            Box::new(|d| {
                let outside = d.parent().unwrap().join("outside.json");
                std::fs::rename(d.join(MANIFEST_FILE), &outside).unwrap();
                symlink(&outside, d.join(MANIFEST_FILE)).unwrap();
            }),
        ),
        (
            "nets: a symbolic link (to ",
            Box::new(|d| {
                let outside = d.parent().unwrap().join("outside");
                std::fs::create_dir(&outside).unwrap();
                std::fs::rename(
                    d.join("speech_encoder.onnx"),
                    outside.join("speech_encoder.onnx"),
                )
                .unwrap();
                symlink(&outside, d.join("nets")).unwrap();
                rewrite(d, |v| {
                    v["files"][0]["path"] = "nets/speech_encoder.onnx".into()
                });
            }),
        ),
        (
            "generator_stage2.onnx: a symbolic link (to /dev/zero)",
            Box::new(|d| {
                std::fs::remove_file(d.join("generator_stage2.onnx")).unwrap();
                symlink("/dev/zero", d.join("generator_stage2.onnx")).unwrap();
            }),
        ),
        (
            "generator_stage2.onnx: a FIFO (named pipe), not a regular file",
            Box::new(|d| {
                let path = d.join("generator_stage2.onnx");
                std::fs::remove_file(&path).unwrap();
                let status = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .unwrap();
                assert!(status.success());
            }),
        ),
        (
            "speech_encoder.onnx: a directory, not a regular file",
            Box::new(|d| {
                std::fs::remove_file(d.join("speech_encoder.onnx")).unwrap();
                std::fs::create_dir(d.join("speech_encoder.onnx")).unwrap();
            }),
        ),
        (
            "manifest.json: 1048577 bytes, more than the 1048576 bytes a bundle's manifest may have",
            Box::new(|d| {
                let path = d.join(MANIFEST_FILE);
                let mut text = std::fs::read(&path).unwrap();
                text.resize(1 << 20 | 1, b' ');
                std::fs::write(&path, text).unwrap();
            }),
        ),
    ];
    for (needle, damage) in cases {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("bundle");
        std::fs::create_dir(&dir).unwrap();
        make_bundle(&dir);
        damage(&dir);
        let msg = within_20_s({
            let dir = dir.clone();
            move || refusal(&dir)
        });
        assert!(msg.contains(needle), "{msg:?} should say {needle:?}");
        assert!(
            msg.contains("a bundle holds regular files only") || msg.contains("may have"),
            "{msg:?} should say why"
        );
    }
}

#[test]
fn a_front_end_config_differing_in_tables_only_changes_the_hash() {
    let a = Frontend::default();
    let b = Frontend::new(FrontendConfig {
        resampler_zero_crossings: 16,
        ..FrontendConfig::default()
    })
    .unwrap();
    assert_ne!(a.table_hash(), b.table_hash());
    assert_eq!(a.table_hash(), Frontend::default().table_hash());
}

#[test]
fn an_int8_model_beside_the_f32_one_is_a_valid_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = make_bundle(dir.path());
    assert!(!m.has_int8());
    let int8: Vec<ModelFile> = m
        .files
        .iter()
        .map(|f| ModelFile {
            precision: Precision::Int8,
            ..f.clone()
        })
        .collect();
    m.files.extend(int8);
    m.validate(&dir.path().join(MANIFEST_FILE)).unwrap();
    assert!(m.has_int8());
    assert_eq!(m.generator_stages(), 2);
    assert_eq!(
        m.file(Role::SpeechEncoder).unwrap().precision,
        Precision::F32
    );
    assert_eq!(
        m.file_for(Role::GeneratorStage2, Precision::Int8)
            .unwrap()
            .precision,
        Precision::Int8
    );
}
