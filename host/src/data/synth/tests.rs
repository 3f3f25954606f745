//! End-to-end checks of the generator on tiny sets: layout, determinism, colour faithfulness and
//! clear errors. They run real espeak-ng (installed by deploy/setup-dev.sh).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_pickle::DeOptions;

use super::colour::{ColourName, Rgb};
use super::species::{catalogue, Species, Split};
use super::*;

fn espeak() -> Espeak {
    Espeak::locate().expect("espeak-ng must be installed for these tests")
}

fn read_pickle<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_pickle::from_slice(&bytes, DeOptions::new()).unwrap()
}

/// Every file under `root`, relative path → bytes.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn tiny_set_has_the_layout_and_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut cfg = SynthConfig::new(Kind::Birds, &a, 12);
    cfg.captions = 2;
    cfg.seed = 42;
    cfg.threads = Some(2);
    let summary = generate_with(&cfg, espeak()).unwrap();
    assert_eq!(summary.images, 12);
    assert_eq!(summary.wavs, 24);
    assert!(summary.test_images > 0 && summary.train_images > 0);

    // Layout: every listed key has its PNG, K wavs and attributes; ids align with class dirs.
    let mut train_classes = HashSet::new();
    let mut test_classes = HashSet::new();
    let mut all_keys = Vec::new();
    for (split, classes) in [("train", &mut train_classes), ("test", &mut test_classes)] {
        let keys: Vec<String> = read_pickle(&a.join(split).join("filenames.pickle"));
        let ids: Vec<i64> = read_pickle(&a.join(split).join("class_info.pickle"));
        assert_eq!(keys.len(), ids.len());
        for (key, id) in keys.iter().zip(&ids) {
            let (dir, base) = key.split_once('/').unwrap();
            assert_eq!(dir[..3].parse::<i64>().unwrap(), *id, "{key}");
            assert!(base.starts_with(&dir[4..]), "{key}");
            let png = image::open(a.join(format!("images/{key}.png"))).unwrap();
            assert_eq!((png.width(), png.height()), (256, 256));
            assert_eq!(png.color(), image::ColorType::Rgb8);
            for k in 0..2 {
                let wav = a.join(format!("audio/{key}/{base}_{k}.wav"));
                let r = hound::WavReader::open(&wav).unwrap();
                assert_eq!(r.spec().bits_per_sample, 16);
                assert!(r.duration() > 4000, "{}", wav.display());
            }
            assert!(!a.join(format!("audio/{key}/{base}_2.wav")).exists());
            let attrs: serde_json::Value = serde_json::from_slice(
                &fs::read(a.join(format!("attributes/{key}.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(attrs["captions"].as_array().unwrap().len(), 2);
            assert_eq!(attrs["class_id"].as_i64(), Some(*id));
            classes.insert(*id);
            all_keys.push(key.clone());
        }
    }
    assert_eq!(all_keys.len(), 12);
    assert!(train_classes.is_disjoint(&test_classes));
    assert!(!test_classes.is_empty());
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(a.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(info["generator"], layout_writer::GENERATOR);
    assert_eq!(info["images"], 12);
    assert!(a.join("contact_sheet.png").is_file());
    // Nothing temporary is left behind.
    let files = snapshot(&a);
    assert!(files.keys().all(|k| !k.ends_with(".tmp")));
    assert!(!tmp.path().join(".a.partial").exists());

    // Same seed, different thread count: identical bytes (PNGs, wavs, captions, pickles).
    cfg.out = b.clone();
    cfg.threads = Some(1);
    generate_with(&cfg, espeak()).unwrap();
    let other = snapshot(&b);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>()
    );
    for (k, v) in &files {
        assert!(other[k] == *v, "{k} differs between runs");
    }

    // Another seed changes the pictures; a re-run replaces the earlier set in place.
    cfg.seed = 43;
    generate_with(&cfg, espeak()).unwrap();
    let third = snapshot(&b);
    let first_png = files.keys().find(|k| k.starts_with("images/001.")).unwrap();
    assert_ne!(files[first_png], third[first_png], "{first_png}");
}

#[test]
fn drawn_colours_match_the_words() {
    // The colour a caption names must be the colour the eye sees: sample the breast of every bird
    // class and a petal of every flower class, through background, shading, lighting and noise.
    let mut failures = Vec::new();
    for class in catalogue(Kind::Birds) {
        let Species::Bird(sp) = &class.species else {
            panic!("a bird catalogue holds birds")
        };
        let mut rng = ChaCha8Rng::seed_from_u64(class.id as u64);
        let (pm, _, probe) = draw_bird::render(sp, &mut rng);
        let c = disc_mean(&pm, probe.breast, probe.radius);
        if ColourName::nearest(c) != sp.body {
            failures.push(format!(
                "{}: body reads {:?} ({c:?})",
                class.name,
                ColourName::nearest(c)
            ));
        }
    }
    for class in catalogue(Kind::Flowers) {
        let Species::Flower(sp) = &class.species else {
            panic!("a flower catalogue holds flowers")
        };
        for seed in 0..3u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(class.id as u64 * 100 + seed);
            let (pm, _, probe) = draw_flower::render(sp, &mut rng);
            let c = disc_mean(&pm, probe.petal, probe.radius);
            if ColourName::nearest(c) != sp.petal_colour {
                failures.push(format!(
                    "{}: petals read {:?} ({c:?})",
                    class.name,
                    ColourName::nearest(c)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn disc_mean(pm: &tiny_skia::Pixmap, (x, y): (f32, f32), r: f32) -> Rgb {
    let (mut s, mut n) = ([0f32; 3], 0f32);
    for dy in -(r as i32)..=r as i32 {
        for dx in -(r as i32)..=r as i32 {
            if (dx * dx + dy * dy) as f32 > r * r {
                continue;
            }
            let Some(p) = pm.pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32) else {
                continue;
            };
            s[0] += p.red() as f32;
            s[1] += p.green() as f32;
            s[2] += p.blue() as f32;
            n += 1.0;
        }
    }
    assert!(n > 0.0, "probe ({x}, {y}) is inside the image");
    Rgb::new(s[0] / n / 255.0, s[1] / n / 255.0, s[2] / n / 255.0)
}

#[test]
fn bad_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let err = |cfg: SynthConfig| format!("{:#}", generate(&cfg).unwrap_err());

    assert!(err(SynthConfig::new(Kind::Birds, &out, 0)).contains("--images"));
    let mut cfg = SynthConfig::new(Kind::Flowers, &out, 3);
    cfg.captions = 0;
    assert!(err(cfg.clone()).contains("--captions"));
    cfg.captions = 1;
    cfg.threads = Some(0);
    assert!(err(cfg.clone()).contains("--threads"));
    cfg.threads = None;
    for bad in [species::MIN_CLASSES - 1, species::MAX_CLASSES + 1] {
        cfg.classes = Some(bad);
        let e = err(cfg.clone());
        assert!(
            e.contains("--classes") && e.contains(&bad.to_string()),
            "{e}"
        );
    }

    // Someone's folder is never replaced.
    let theirs = tmp.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::write(theirs.join("notes.txt"), "keep me").unwrap();
    let e = err(SynthConfig::new(Kind::Birds, &theirs, 1));
    assert!(e.contains("not a synthetic set"), "{e}");
    assert!(theirs.join("notes.txt").exists());

    // An output below a plain file cannot be created.
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let e = err(SynthConfig::new(Kind::Birds, file.join("set"), 1));
    assert!(e.contains("cannot create"), "{e}");
    assert!(!out.exists());
}

#[test]
fn split_follows_the_catalogue() {
    for kind in [Kind::Birds, Kind::Flowers] {
        let classes = catalogue(kind);
        for c in &classes {
            assert_eq!(c.split == Split::Test, c.id % species::TEST_EVERY == 0);
            assert!(c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_'));
        }
    }
}
