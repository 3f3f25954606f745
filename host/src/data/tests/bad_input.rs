//! Each kind of bad input gets one clear message naming the file; `skip_bad` lists them instead.

use super::*;
use crate::data::fixture::{manifest_csv, write_collection_files, OfficialSpec};
use crate::data::official::{write_class_info, write_key_list};

fn fixture(dir: &Path) -> crate::data::fixture::OfficialFixture {
    official_fixture(
        dir,
        &OfficialSpec {
            captions: 1,
            caption_seconds: 0.3,
            ..OfficialSpec::default()
        },
    )
}

fn image_of(fx: &crate::data::fixture::OfficialFixture, key: &str) -> std::path::PathBuf {
    fx.img_root.join("images").join(format!("{key}.png"))
}

fn wav_of(fx: &crate::data::fixture::OfficialFixture, key: &str) -> std::path::PathBuf {
    let base = key.rsplit('/').next().unwrap();
    fx.img_root
        .join("audio")
        .join(key)
        .join(format!("{base}_0.wav"))
}

#[test]
fn missing_image() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let key = fx.train_keys[2].clone();
    std::fs::remove_file(image_of(&fx, &key)).unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[
            &format!("images/{key}.jpg"),
            "image (also tried .png",
            "is missing",
            &format!("listed for {key}"),
        ],
    );
}

#[test]
fn missing_wav_in_a_manifest_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &["a", "b"], 2, 1).unwrap();
    std::fs::write(dir.path().join("manifest.csv"), manifest_csv(&rows)).unwrap();
    std::fs::remove_file(dir.path().join(&rows[1].1[0])).unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[
            &rows[1].1[0],
            "spoken caption (wav) is missing",
            "manifest.csv line 3",
        ],
    );
}

#[test]
fn missing_caption_folder() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let key = fx.test_keys[0].clone();
    std::fs::remove_dir_all(fx.img_root.join("audio").join(&key)).unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[&format!("audio/{key}"), "spoken-caption folder is missing"],
    );
}

#[test]
fn unreadable_image() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let path = image_of(&fx, &fx.train_keys[0]);
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n this is not really a png").unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[&path.display().to_string(), "cannot read the image"],
    );
}

#[test]
fn wav_the_front_end_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let wav = wav_of(&fx, &fx.train_keys[4]);
    std::fs::write(&wav, b"RIFF\x10\x00\x00\x00WAVEjunk that is not a wav").unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[&wav.display().to_string(), "the front end rejected the wav"],
    );
}

#[test]
fn silent_wav_is_rejected_with_the_front_ends_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let wav = wav_of(&fx, &fx.train_keys[1]);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for _ in 0..8000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[&wav.display().to_string(), "rejected the wav", "no speech"],
    );
}

#[test]
fn pickle_holding_a_dict() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let path = dir.path().join("train").join("filenames.pickle");
    let mut map = std::collections::BTreeMap::new();
    map.insert("keys".to_string(), vec!["a".to_string()]);
    std::fs::write(
        &path,
        serde_pickle::to_vec(&map, Default::default()).unwrap(),
    )
    .unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[
            &path.display().to_string(),
            "expected a list of str keys, found a dict",
        ],
    );
}

#[test]
fn pickle_that_is_not_a_pickle() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let path = dir.path().join("test").join("class_info.pickle");
    std::fs::write(&path, b"1,2,3\n").unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[&path.display().to_string(), "cannot decode the pickle"],
    );
}

#[test]
fn class_info_of_the_wrong_length() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let info = dir.path().join("train").join("class_info.pickle");
    write_class_info(&info, &[1, 1, 2]).unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[
            &info.display().to_string(),
            &format!(
                "holds 3 class ids but {}",
                dir.path().join("train").join("filenames.pickle").display()
            ),
            &format!("lists {} keys", fx.train_keys.len()),
        ],
    );
}

#[test]
fn class_info_for_one_split_only() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let info = dir.path().join("test").join("class_info.pickle");
    std::fs::remove_file(&info).unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[
            &info.display().to_string(),
            "class list (the other split has one) is missing",
        ],
    );
}

#[test]
fn manifest_row_with_too_few_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &["a"], 2, 1).unwrap();
    let mut csv = manifest_csv(&rows);
    csv.push_str("img/a_0.png,audio/a_0_0.wav\n");
    let manifest = dir.path().join("m.csv");
    std::fs::write(&manifest, csv).unwrap();
    let msg = load_err(&manifest, &small_options());
    assert_contains(
        &msg,
        &[
            &manifest.display().to_string(),
            "line 4",
            "too few fields: expected 3 (image,wav,class), found 2",
        ],
    );
}

#[test]
fn manifest_without_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.csv");
    std::fs::write(&manifest, "picture,audio,label\nx.png,x.wav,a\n").unwrap();
    let msg = load_err(&manifest, &small_options());
    assert_contains(
        &msg,
        &[
            "m.csv, line 1",
            "must name the columns image, wav and class",
        ],
    );
}

#[test]
fn manifest_image_with_two_classes_and_bad_jsonl_lines() {
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &["a"], 1, 2).unwrap();
    let manifest = dir.path().join("m.csv");
    std::fs::write(
        &manifest,
        format!(
            "image,wav,class\n{0},{1},a\n{0},{2},b\n",
            rows[0].0, rows[0].1[0], rows[0].1[1]
        ),
    )
    .unwrap();
    assert_contains(
        &load_err(&manifest, &small_options()),
        &["line 3", "has class \"a\" on line 2 but \"b\" here"],
    );

    let jsonl = dir.path().join("m.jsonl");
    std::fs::write(
        &jsonl,
        format!("{{\"image\": \"{}\", \"class\": \"a\"}}\n", rows[0].0),
    )
    .unwrap();
    assert_contains(
        &load_err(&jsonl, &small_options()),
        &["m.jsonl, line 1", "missing field `wavs`"],
    );
}

#[test]
fn class_with_one_image_when_same_class_pairs_are_needed() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = write_collection_files(dir.path(), &["many"], 3, 1).unwrap();
    rows.extend(write_collection_files(dir.path(), &["lonely"], 1, 1).unwrap());
    std::fs::write(dir.path().join("manifest.csv"), manifest_csv(&rows)).unwrap();
    let mut opts = small_options();
    opts.split.test_fraction = 0.0;
    // Without the requirement it loads (same-class draws fall back to the image itself).
    load(dir.path(), &opts);
    opts.require_same_class_pairs = true;
    let msg = load_err(dir.path(), &opts);
    assert_contains(
        &msg,
        &[
            "class \"lonely\" has only one training image",
            "manifest.csv line 5",
            "needs at least two",
        ],
    );
}

#[test]
fn folder_that_is_not_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &[
            &dir.path().display().to_string(),
            "not a dataset: expected the official S2IGAN layout (train/filenames.pickle",
            "or a collection manifest",
        ],
    );
    let msg = load_err(&dir.path().join("nowhere"), &small_options());
    assert_contains(
        &msg,
        &["nowhere: not a dataset: expected an existing folder or manifest file"],
    );
}

#[test]
fn split_lists_without_images() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    write_key_list(
        &dir.path().join("train/filenames.pickle"),
        &["a/b".to_string()],
    )
    .unwrap();
    let msg = load_err(dir.path(), &small_options());
    assert_contains(
        &msg,
        &["not a dataset: expected an images/ folder in it, in CUB_200_2011/ or in Oxford102/"],
    );
}

#[test]
fn skip_bad_skips_counts_and_reports_everything() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    std::fs::remove_file(image_of(&fx, &fx.train_keys[0])).unwrap();
    std::fs::write(image_of(&fx, &fx.train_keys[1]), b"garbage").unwrap();
    std::fs::write(wav_of(&fx, &fx.train_keys[2]), b"garbage").unwrap();
    std::fs::remove_dir_all(fx.img_root.join("audio").join(&fx.test_keys[0])).unwrap();
    let mut opts = small_options();
    opts.skip_bad = true;
    let ds = load(dir.path(), &opts);
    let skipped = &ds.report().skipped;
    let items: Vec<&str> = skipped.iter().map(|b| b.item.as_str()).collect();
    assert_eq!(
        items,
        vec![
            fx.train_keys[0].clone(),
            fx.test_keys[0].clone(),
            fx.train_keys[1].clone(),
            format!("{} caption 0", fx.train_keys[2]),
            fx.train_keys[2].clone(),
        ],
        "{skipped:#?}"
    );
    assert_contains(
        &skipped[0].reason,
        &["image (also tried .png", "is missing"],
    );
    assert_contains(&skipped[1].reason, &["spoken-caption folder is missing"]);
    assert_contains(&skipped[2].reason, &["cannot read the image"]);
    assert_contains(&skipped[3].reason, &["rejected the wav"]);
    assert_contains(&skipped[4].reason, &["every spoken caption was skipped"]);
    assert_eq!(ds.items().len(), 13 - 4);
    let text = crate::data::inspect::summary(&ds);
    assert_contains(&text, &["bad items: 5 skipped", &fx.train_keys[1]]);

    // A manifest's bad rows are skipped and named the same way.
    let dir = tempfile::tempdir().unwrap();
    let rows = write_collection_files(dir.path(), &["a"], 3, 1).unwrap();
    let mut csv = manifest_csv(&rows);
    csv.push_str("only-one-field\n");
    std::fs::write(dir.path().join("manifest.csv"), csv).unwrap();
    let ds = load(dir.path(), &opts);
    assert_eq!(ds.items().len(), 3);
    assert_eq!(ds.report().skipped.len(), 1);
    assert_contains(&ds.report().skipped[0].item, &["manifest.csv line 5"]);
    assert_contains(&ds.report().skipped[0].reason, &["too few fields"]);
}

#[test]
fn truncated_image_is_caught_at_load_when_images_are_kept_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let path = image_of(&fx, &fx.train_keys[3]);
    let bytes = std::fs::read(&path).unwrap();
    // The header survives (dimensions still read), the pixel data does not.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    // Header checks alone pass; the batch that draws it names the file.
    let ds = load(dir.path(), &small_options());
    let i = ds
        .items()
        .iter()
        .position(|it| it.key == fx.train_keys[3])
        .unwrap();
    let err = ds
        .sen_batch(
            &[i],
            crate::data::Draw::eval(),
            &mut crate::data::batch_rng(0, 0, 0),
        )
        .unwrap_err()
        .to_string();
    assert_contains(
        &err,
        &[&path.display().to_string(), "cannot read the image"],
    );

    let mut opts = small_options();
    opts.keep_images_in_memory = true;
    let msg = load_err(dir.path(), &opts);
    assert_contains(
        &msg,
        &[&path.display().to_string(), "cannot read the image"],
    );
    opts.skip_bad = true;
    let ds = load(dir.path(), &opts);
    assert_eq!(ds.report().skipped.len(), 1);
    assert_eq!(ds.report().skipped[0].item, fx.train_keys[3]);
}
