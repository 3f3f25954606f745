use super::*;
use crate::data::fixture::{manifest_csv, manifest_jsonl, write_collection_files};
use crate::data::{Layout, Split, SplitBy};

const CLASSES: [&str; 3] = ["vases", "coins", "masks"];

#[test]
fn csv_manifest_loads_with_text_classes_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &CLASSES, 5, 2).unwrap();
    let manifest = dir.path().join("objects.csv");
    std::fs::write(&manifest, manifest_csv(&rows)).unwrap();
    let mut opts = small_options();
    opts.split.val_fraction = 0.2;
    let ds = load(&manifest, &opts);
    assert_eq!(
        ds.layout(),
        &Layout::Collection {
            manifest: manifest.clone()
        }
    );
    assert_eq!(ds.items().len(), 15);
    assert!(
        ds.items().iter().all(|i| i.captions.len() == 2),
        "rows of one image are grouped"
    );
    let labels: Vec<&str> = ds.classes().iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, vec!["coins", "masks", "vases"]);
    // By image within each class: of 5, one test (20 %), one val (20 %), three train.
    for c in ds.classes() {
        assert_eq!(c.counts, [3, 1, 1], "{}", c.label);
    }
    let vase = ds
        .items()
        .iter()
        .find(|i| i.key == "img/vases_0.png")
        .unwrap();
    assert_eq!(vase.image, dir.path().join("img/vases_0.png"));
    assert_eq!(ds.classes()[vase.class_id].label, "vases");
}

#[test]
fn jsonl_manifest_in_a_folder_loads_the_same_items() {
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &CLASSES, 3, 2).unwrap();
    std::fs::write(dir.path().join("manifest.jsonl"), manifest_jsonl(&rows)).unwrap();
    let from_jsonl = load(dir.path(), &small_options());
    std::fs::remove_file(dir.path().join("manifest.jsonl")).unwrap();
    std::fs::write(dir.path().join("manifest.csv"), manifest_csv(&rows)).unwrap();
    let from_csv = load(dir.path(), &small_options());
    let keys = |ds: &Dataset| {
        ds.items()
            .iter()
            .map(|i| (i.key.clone(), i.class_id, i.split, i.captions.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&from_jsonl), keys(&from_csv));
    assert_eq!(
        from_csv.report().cache.hits,
        18,
        "the same wavs share the cache"
    );
}

#[test]
fn collections_can_hold_out_whole_classes() {
    let dir = tempfile::tempdir().unwrap();
    let classes = ["a", "b", "c", "d", "e"];
    let rows = write_collection_files(dir.path(), &classes, 2, 1).unwrap();
    std::fs::write(dir.path().join("manifest.csv"), manifest_csv(&rows)).unwrap();
    let mut opts = small_options();
    opts.split.by = SplitBy::Class;
    opts.split.test_fraction = 0.2;
    opts.split.val_fraction = 0.2;
    let ds = load(dir.path(), &opts);
    assert_eq!(ds.split(Split::Test).len(), 2);
    assert_eq!(ds.split(Split::Val).len(), 2);
    assert_eq!(ds.num_train_classes(), 3);
    for c in ds.classes() {
        assert_eq!(
            c.counts.iter().filter(|&&n| n > 0).count(),
            1,
            "a class lies in one split"
        );
    }
}

#[test]
fn small_classes_keep_two_training_images() {
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &["x", "y"], 2, 1).unwrap();
    std::fs::write(dir.path().join("manifest.csv"), manifest_csv(&rows)).unwrap();
    let mut opts = small_options();
    opts.split.test_fraction = 0.5;
    opts.require_same_class_pairs = true;
    let ds = load(dir.path(), &opts);
    assert_eq!(ds.split(Split::Train).len(), 4);
    assert!(ds.split(Split::Test).is_empty());
}
