use super::*;
use crate::data::fixture::{fixture_pixel, write_image, OfficialSpec};
use crate::data::image_pipeline::{cub_crop_rect, load_base_image, probe_dimensions};
use crate::data::{Layout, Split, SplitBy};

#[test]
fn cub_layout_loads_with_the_reference_crop() {
    let dir = tempfile::tempdir().unwrap();
    let spec = OfficialSpec {
        bounding_boxes: true,
        cub_subfolder: true,
        width: 150,
        height: 100,
        ..OfficialSpec::default()
    };
    let fx = official_fixture(dir.path(), &spec);
    let ds = load(dir.path(), &LoadOptions::default());

    assert_eq!(
        ds.layout(),
        &Layout::Official {
            img_root: dir.path().join("CUB_200_2011")
        }
    );
    // 3 classes × 3 train images; 10 % of 3 rounds down to no validation image per class.
    assert_eq!(ds.split(Split::Train).len(), 9);
    assert_eq!(ds.split(Split::Val).len(), 0);
    assert_eq!(ds.split(Split::Test).len(), 4);
    assert_eq!(ds.classes().len(), 5);
    assert_eq!(ds.num_train_classes(), 3);
    assert!(ds.has_classes());
    for &i in ds.split(Split::Test) {
        assert!(
            ds.item(i).class_id >= 3,
            "unseen test classes follow the training ones"
        );
    }
    // Training classes re-indexed 0.. in sorted id order, with the key's folder as the label.
    assert_eq!(ds.classes()[0].original_id, Some(1));
    assert_eq!(ds.classes()[0].label, "001.Class_1");
    assert_eq!(ds.item(0).captions.len(), 2);

    for (key, bbox) in &fx.boxes {
        let i = ds.items().iter().position(|it| &it.key == key).unwrap();
        let item = ds.item(i);
        assert_eq!(item.bbox, Some(*bbox), "box of {key}");
        let (w, h) = probe_dimensions(&item.image).unwrap();
        let rect = cub_crop_rect(*bbox, w, h);
        // The reference arithmetic, spelled out once more on the written floats.
        let (x, y, bw, bh) = (bbox.x as i64, bbox.y as i64, bbox.w as i64, bbox.h as i64);
        let r = (bw.max(bh) * 3) / 4;
        let (cx, cy) = ((2 * x + bw) / 2, (2 * y + bh) / 2);
        assert_eq!(
            (rect.x0, rect.y0, rect.x1, rect.y1),
            (
                (cx - r).max(0) as u32,
                (cy - r).max(0) as u32,
                (cx + r).min(w as i64) as u32,
                (cy + r).min(h as i64) as u32
            )
        );
        // The dataset's base image is that crop, shorter side 304.
        let base = ds.base_image(i).unwrap();
        let (cw, ch) = (rect.width(), rect.height());
        let expected = if cw <= ch {
            (304, 304 * ch / cw)
        } else {
            (304 * cw / ch, 304)
        };
        assert_eq!(base.dimensions(), expected, "base image of {key}");
        // And its pixels come from the crop: without a resize, pixel (0, 0) is (x0, y0) (JPEG: within a few levels).
        let unscaled = load_base_image(&item.image, item.bbox, cw.min(ch)).unwrap();
        let got = unscaled.get_pixel(0, 0).0;
        let want = fixture_pixel(rect.x0, rect.y0, 0).0;
        for c in 0..2 {
            assert!(
                (got[c] as i32 - want[c] as i32).abs() <= 6,
                "{key}: crop origin pixel {got:?}, expected about {want:?}"
            );
        }
    }
}

#[test]
fn crop_pixels_are_exact_on_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    write_image(&path, 200, 120, 4).unwrap();
    let bbox = crate::data::BBox {
        x: 150.9,
        y: 10.2,
        w: 40.7,
        h: 60.0,
    };
    // ints 150 10 40 60: r = 45, centre (170, 40) → [125, 0, 200, 85] after clipping.
    let rect = cub_crop_rect(bbox, 200, 120);
    assert_eq!((rect.x0, rect.y0, rect.x1, rect.y1), (125, 0, 200, 85));
    let img = load_base_image(&path, Some(bbox), 75).unwrap();
    assert_eq!(img.dimensions(), (75, 85));
    for (x, y) in [(0, 0), (74, 84), (10, 20)] {
        assert_eq!(img.get_pixel(x, y), &fixture_pixel(125 + x, y, 4));
    }
}

#[test]
fn flickr_style_lists_without_classes_make_each_image_its_own_class() {
    let dir = tempfile::tempdir().unwrap();
    let spec = OfficialSpec {
        class_info: false,
        captions: 1,
        ..OfficialSpec::default()
    };
    official_fixture(dir.path(), &spec);
    let ds = load(dir.path(), &small_options());
    assert!(!ds.has_classes());
    assert_eq!(ds.classes().len(), 13);
    let mut rng = crate::data::batch_rng(1, 0, 0);
    for &i in ds.split(Split::Train) {
        assert_eq!(ds.draw_same_class_image(Split::Train, i, &mut rng), i);
    }
}

#[test]
fn validation_is_carved_from_training_images_or_classes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = OfficialSpec {
        train_classes: 4,
        train_per_class: 5,
        captions: 1,
        caption_seconds: 0.3,
        ..OfficialSpec::default()
    };
    official_fixture(dir.path(), &spec);
    let mut opts = small_options();
    opts.split.val_fraction = 0.2;
    let ds = load(dir.path(), &opts);
    // One of five images per class; every class keeps training images.
    assert_eq!(ds.split(Split::Val).len(), 4);
    assert_eq!(ds.split(Split::Train).len(), 16);
    assert!(ds.classes()[..4].iter().all(|c| c.counts == [4, 1, 0]));
    // The same seed picks the same images.
    let again = load(dir.path(), &opts);
    assert_eq!(ds.split(Split::Val), again.split(Split::Val));

    opts.split.by = SplitBy::Class;
    opts.split.val_fraction = 0.25;
    let ds = load(dir.path(), &opts);
    assert_eq!(ds.split(Split::Val).len(), 5, "one whole class of five");
    assert_eq!(ds.num_train_classes(), 3);
    let val_class = ds.item(ds.split(Split::Val)[0]).class_id;
    assert!(
        val_class >= 3,
        "held-out classes follow the training classes"
    );
    assert!(ds
        .split(Split::Val)
        .iter()
        .all(|&i| ds.item(i).class_id == val_class));
}

#[test]
fn synthetic_side_files_are_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let fx = official_fixture(dir.path(), &OfficialSpec::default());
    let key = &fx.train_keys[1];
    let attr = dir.path().join("attributes").join(format!("{key}.json"));
    std::fs::create_dir_all(attr.parent().unwrap()).unwrap();
    std::fs::write(&attr, r#"{"species": "test", "colours": ["red"]}"#).unwrap();
    std::fs::write(
        dir.path().join("dataset.json"),
        r#"{"kind": "birds", "seed": 7}"#,
    )
    .unwrap();
    let ds = load(dir.path(), &small_options());
    let item = ds.items().iter().find(|i| &i.key == key).unwrap();
    assert_eq!(item.attributes.as_ref().unwrap()["colours"][0], "red");
    assert!(ds.items().iter().filter(|i| i.attributes.is_some()).count() == 1);
    assert_eq!(ds.meta().unwrap()["kind"], "birds");
}

#[test]
fn captions_are_read_in_natural_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = OfficialSpec {
        train_classes: 1,
        train_per_class: 1,
        test_classes: 0,
        captions: 11,
        caption_seconds: 0.2,
        ..OfficialSpec::default()
    };
    official_fixture(dir.path(), &spec);
    let ds = load(dir.path(), &small_options());
    let names: Vec<String> = ds
        .item(0)
        .captions
        .iter()
        .map(|c| c.wav.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names[2].ends_with("_2.wav") && names[10].ends_with("_10.wav"),
        "{names:?}"
    );
}

#[test]
fn inspect_reports_counts_and_lengths() {
    let dir = tempfile::tempdir().unwrap();
    official_fixture(dir.path(), &OfficialSpec::default());
    let args = crate::data::InspectArgs {
        data: dir.path().to_path_buf(),
        cache: None,
        skip_bad: false,
        split_by: SplitBy::Image,
        val_fraction: 0.1,
        test_fraction: 0.2,
        seed: 200,
        same_class_pairs: true,
        quiet: true,
    };
    let text = crate::data::inspect::inspect(&args).unwrap();
    assert_contains(
        &text,
        &[
            "official S2IGAN layout",
            "train",
            "classes: 5 (3 with training images",
            "caption length",
            "bad items: none",
        ],
    );
}
