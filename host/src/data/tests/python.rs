//! Python's own `pickle` reads the split lists we write (ours, protocol 2, and the synthetic
//! generator's, protocol 3), so the original S2IGAN code could consume our sets.

use std::path::PathBuf;
use std::process::Command;

use crate::data::official::{write_class_info, write_key_list};

/// The project's Python: `$VIRTUAL_ENV/bin/python`, else `<repo>/.venv/bin/python`.
fn python() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("VIRTUAL_ENV")
        .map(|v| PathBuf::from(v).join("bin/python"))
        .into_iter()
        .chain(std::iter::once(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        ))
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => p.clone(),
        None => panic!(
            "no Python to check the pickles with: tried {candidates:?}; run deploy/setup-dev.sh (it makes .venv) \
             or set VIRTUAL_ENV"
        ),
    }
}

fn python_reads(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import json, pickle, sys\nwith open(sys.argv[1], 'rb') as f:\n    v = pickle.load(f)\nprint(json.dumps({'type': type(v).__name__, 'items': [type(x).__name__ for x in v], 'value': v}))",
        ])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

#[test]
fn python_pickle_reads_our_split_lists() {
    let dir = tempfile::tempdir().unwrap();
    let keys = vec![
        "002.Laysan_Albatross/Laysan_Albatross_0044_784".to_string(),
        "017.Cardinal/Cardinal_0001_17057".to_string(),
    ];
    let names = dir.path().join("filenames.pickle");
    write_key_list(&names, &keys).unwrap();
    let v = python_reads(&names);
    assert_eq!(v["type"], "list");
    assert_eq!(v["items"], serde_json::json!(["str", "str"]));
    assert_eq!(v["value"], serde_json::json!(keys));

    let info = dir.path().join("class_info.pickle");
    write_class_info(&info, &[2, 17]).unwrap();
    let v = python_reads(&info);
    assert_eq!(v["items"], serde_json::json!(["int", "int"]));
    assert_eq!(v["value"], serde_json::json!([2, 17]));
}

#[test]
fn python_pickle_reads_the_synthetic_generators_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filenames.pickle");
    let keys = vec!["001.Finch/Finch_0001", "001.Finch/Finch_0002"];
    crate::data::synth::layout_writer::write_pickle(&path, &keys).unwrap();
    let v = python_reads(&path);
    assert_eq!(v["type"], "list");
    assert_eq!(v["value"], serde_json::json!(keys));
    // And the loader reads what Python reads.
    assert_eq!(crate::data::official::read_key_list(&path).unwrap(), keys);
    let ids = dir.path().join("class_info.pickle");
    crate::data::synth::layout_writer::write_pickle(&ids, &[1i64, 1]).unwrap();
    assert_eq!(python_reads(&ids)["value"], serde_json::json!([1, 1]));
    assert_eq!(
        crate::data::official::read_class_info(&ids).unwrap(),
        vec![1, 1]
    );
}
