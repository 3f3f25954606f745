//! Random manifests beside the shipped bundle's real models: random values for the
//! hyper-parameters the board reads, and random shapes, element types and names for the tensors
//! of random files. Whatever the manifest says, `s2i check` (run under a 1 GiB address-space
//! limit) either accepts it, and then `generate` draws with it, or refuses it with exit status 1
//! and one line naming the bundle; it never panics, aborts on an allocation, or hangs, and its
//! peak resident memory stays under 150 MB.
#![cfg(target_os = "linux")]

mod fault_support;

use std::ffi::OsStr;

use fault_support::*;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A number, or something that is not a whole number.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..300).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(100_000_000_000_000u64)),
        any::<i64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        "[a-z]{0,8}".prop_map(Value::from),
        Just(Value::Null),
        Just(json!([1, 2])),
    ]
}

/// A dimension: small, any size, or named.
fn dim() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..300).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        "[a-z]{1,6}".prop_map(Value::from),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    /// A hyper-parameter the board reads (path under hyper_parameters), set to a value.
    Hyper(&'static [&'static str], Value),
    /// One dimension of a tensor of a file set (file, inputs/outputs, tensor, dimension).
    Dim(usize, bool, usize, usize, Value),
    /// A dimension added to or removed from a tensor.
    Rank(usize, bool, usize, bool),
    /// A tensor's element type.
    Type(usize, bool, usize, &'static str),
    /// A tensor's name.
    Name(usize, bool, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let keys: [&'static [&'static str]; 6] = [
        &["generator", "z_dim"],
        &["min_frames"],
        &["generator", "condition_dim"],
        &["condition"],
        &["generator"],
        &["stages"],
    ];
    prop_oneof![
        (0usize..keys.len(), value()).prop_map(move |(k, v)| Edit::Hyper(keys[k], v)),
        (0usize..6, any::<bool>(), 0usize..3, 0usize..4, dim())
            .prop_map(|(f, i, t, d, v)| Edit::Dim(f, i, t, d, v)),
        (0usize..6, any::<bool>(), 0usize..3, any::<bool>())
            .prop_map(|(f, i, t, add)| Edit::Rank(f, i, t, add)),
        (
            0usize..6,
            any::<bool>(),
            0usize..3,
            prop_oneof![
                Just("f32"),
                Just("i64"),
                Just("i32"),
                Just("i8"),
                Just("u8")
            ]
        )
            .prop_map(|(f, i, t, d)| Edit::Type(f, i, t, d)),
        (0usize..6, any::<bool>(), 0usize..3, "[a-z_]{1,10}")
            .prop_map(|(f, i, t, n)| Edit::Name(f, i, t, n)),
    ]
}

/// The tensor an edit names, if the manifest has it.
fn tensor(m: &mut Value, file: usize, inputs: bool, index: usize) -> Option<&mut Value> {
    let side = if inputs { "inputs" } else { "outputs" };
    m["files"].get_mut(file)?.get_mut(side)?.get_mut(index)
}

fn apply(m: &mut Value, edit: &Edit) {
    match edit {
        Edit::Hyper(path, v) => {
            let mut at = &mut m["hyper_parameters"];
            for key in &path[..path.len() - 1] {
                if !at[*key].is_object() {
                    at[*key] = json!({});
                }
                at = &mut at[*key];
            }
            at[path[path.len() - 1]] = v.clone();
        }
        Edit::Dim(f, i, t, d, v) => {
            if let Some(shape) = tensor(m, *f, *i, *t).and_then(|t| t["shape"].as_array_mut()) {
                if let Some(slot) = shape.get_mut(*d) {
                    *slot = v.clone();
                }
            }
        }
        Edit::Rank(f, i, t, add) => {
            if let Some(shape) = tensor(m, *f, *i, *t).and_then(|t| t["shape"].as_array_mut()) {
                if *add {
                    shape.push(json!(1));
                } else {
                    shape.pop();
                }
            }
        }
        Edit::Type(f, i, t, d) => {
            if let Some(t) = tensor(m, *f, *i, *t) {
                t["dtype"] = json!(d);
            }
        }
        Edit::Name(f, i, t, n) => {
            if let Some(t) = tensor(m, *f, *i, *t) {
                t["name"] = json!(n);
            }
        }
    }
}

proptest! {
    // Each case runs the binary (a refusal takes a fraction of a second, an accepted bundle its
    // dry runs): enough cases to cover every kind of edit, few enough for CI.
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn any_manifest_is_run_or_refused_in_one_line_within_bounds(
        edits in proptest::collection::vec(edit(), 1..4)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = default_manifest();
        for e in &edits {
            apply(&mut manifest, e);
        }
        let bundle = bundle_with(dir.path(), &manifest);
        let check = s2i(&[OsStr::new("check"), OsStr::new("--bundle"), bundle.as_os_str()]);
        println!("{edits:?}\n  -> {:?} {} ({} KiB)", check.code, check.stderr.trim(), check.max_rss_kb);
        prop_assert!(!check.killed, "hung: {check:?}");
        prop_assert!(check.max_rss_kb < RSS_LIMIT_KB, "peak RSS {} KiB: {check:?}", check.max_rss_kb);
        match check.code {
            Some(0) => {
                // Accepted: then it draws.
                let out = dir.path().join("bird.png");
                let drawn = s2i(&[
                    OsStr::new("generate"),
                    OsStr::new("--bundle"),
                    bundle.as_os_str(),
                    OsStr::new("--wav"),
                    sample("yellow_body_black_wings.wav").as_os_str(),
                    OsStr::new("--out"),
                    out.as_os_str(),
                ]);
                prop_assert_eq!(drawn.code, Some(0), "check passed, generate failed: {:?}", drawn);
            }
            Some(1) => {
                let lines: Vec<&str> = check.stderr.lines().collect();
                prop_assert_eq!(lines.len(), 1, "{:?}", check);
                prop_assert!(
                    lines[0].contains(&bundle.display().to_string()),
                    "does not name the bundle: {:?}", check
                );
            }
            _ => prop_assert!(false, "neither accepted nor refused: {:?}", check),
        }
    }
}
