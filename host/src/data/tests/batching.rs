use super::*;
use crate::data::fixture::OfficialSpec;
use crate::data::{batch_rng, BatchPlan, Draw, Split};
use tch::Kind;

fn fixture_dataset(opts: &LoadOptions) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let spec = OfficialSpec {
        captions: 3,
        ..OfficialSpec::default()
    };
    official_fixture(dir.path(), &spec);
    let ds = load(dir.path(), opts);
    (dir, ds)
}

fn to_vec_f32(t: &tch::Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

fn to_vec_i64(t: &tch::Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn sen_batch_is_sorted_padded_and_shaped() {
    let (_dir, ds) = fixture_dataset(&small_options());
    let idx: Vec<usize> = ds.split(Split::Train).to_vec();
    let b = ds
        .sen_batch(&idx, Draw::train(), &mut batch_rng(200, 0, 0))
        .unwrap();
    let n = idx.len() as i64;
    let lengths = to_vec_i64(&b.lengths);
    let t = *lengths.iter().max().unwrap();
    assert_eq!(b.speech.size(), vec![n, 40, t]);
    assert_eq!(b.speech.kind(), Kind::Float);
    assert_eq!(b.lengths.kind(), Kind::Int64);
    assert_eq!(b.images.size(), vec![n, 3, 32, 32]);
    assert_eq!(b.class_ids.size(), vec![n]);
    assert!(
        lengths.windows(2).all(|w| w[0] >= w[1]),
        "sorted longest first: {lengths:?}"
    );

    let speech = to_vec_f32(&b.speech);
    for (row, &len) in lengths.iter().enumerate() {
        let i = b.indices[row];
        let k = b.caption_ids[row];
        assert_eq!(len as usize, ds.item(i).captions[k].frames);
        let f = ds.features(i, k).unwrap();
        for band in [0usize, 17, 39] {
            let at = (row * 40 + band) * t as usize;
            assert_eq!(
                &speech[at..at + len as usize],
                &f.data[band * f.frames..(band + 1) * f.frames]
            );
            assert!(
                speech[at + len as usize..at + t as usize]
                    .iter()
                    .all(|&v| v == 0.0),
                "zero padding"
            );
        }
    }
    let classes = to_vec_i64(&b.class_ids);
    for (row, &i) in b.indices.iter().enumerate() {
        assert_eq!(classes[row], ds.item(i).class_id as i64);
    }
    assert_eq!(
        to_vec_i64(&b.image_ids),
        b.indices.iter().map(|&i| i as i64).collect::<Vec<_>>()
    );
    let px = to_vec_f32(&b.images);
    assert!(px.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn batches_are_a_function_of_seed_epoch_and_step() {
    let (_dir, ds) = fixture_dataset(&small_options());
    let plan = BatchPlan::train(4);
    let e0 = ds.epoch_batches(Split::Train, plan, 200, 0).unwrap();
    assert_eq!(e0, ds.epoch_batches(Split::Train, plan, 200, 0).unwrap());
    assert_ne!(e0, ds.epoch_batches(Split::Train, plan, 200, 1).unwrap());
    assert_eq!(e0.len(), 2, "9 items, batch 4, last dropped");
    let eval = ds
        .epoch_batches(Split::Test, BatchPlan::eval(3), 200, 0)
        .unwrap();
    assert_eq!(eval.concat(), ds.split(Split::Test).to_vec());

    let a = ds
        .sen_batch(&e0[1], Draw::train(), &mut batch_rng(200, 0, 1))
        .unwrap();
    let b = ds
        .sen_batch(&e0[1], Draw::train(), &mut batch_rng(200, 0, 1))
        .unwrap();
    assert_eq!(a.caption_ids, b.caption_ids);
    assert!(a.images.equal(&b.images) && a.speech.equal(&b.speech));
    let c = ds
        .sen_batch(&e0[1], Draw::train(), &mut batch_rng(200, 0, 2))
        .unwrap();
    assert!(!a.images.equal(&c.images), "another step draws other crops");
}

#[test]
fn evaluation_draws_caption_zero_and_the_centre_crop() {
    let (_dir, ds) = fixture_dataset(&small_options());
    let idx = ds.split(Split::Test).to_vec();
    let a = ds
        .sen_batch(&idx, Draw::eval(), &mut batch_rng(1, 0, 0))
        .unwrap();
    let b = ds
        .sen_batch(&idx, Draw::eval(), &mut batch_rng(2, 5, 9))
        .unwrap();
    assert!(a.caption_ids.iter().all(|&k| k == 0));
    assert!(a.images.equal(&b.images));
    // Training draws use every caption sooner or later.
    let mut seen = std::collections::BTreeSet::new();
    for step in 0..20 {
        seen.extend(
            ds.sen_batch(&idx, Draw::train(), &mut batch_rng(1, 0, step))
                .unwrap()
                .caption_ids,
        );
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn gan_batch_has_the_pyramid_and_the_relation_pairs() {
    let (_dir, ds) = fixture_dataset(&small_options());
    let idx = ds.split(Split::Train).to_vec();
    let mut rng = batch_rng(200, 3, 0);
    let b = ds
        .gan_batch(Split::Train, &idx, Draw::train(), &mut rng)
        .unwrap();
    let n = idx.len() as i64;
    let sizes: Vec<Vec<i64>> = b.images.iter().map(|t| t.size()).collect();
    assert_eq!(
        sizes,
        vec![vec![n, 3, 8, 8], vec![n, 3, 16, 16], vec![n, 3, 32, 32]]
    );
    assert_eq!(b.wrong_images.len(), 3);
    assert_eq!(b.same_class_images.size(), vec![n, 3, 32, 32]);
    assert_eq!(b.indices, idx);
    for (r, &i) in idx.iter().enumerate() {
        let s = b.same_class_indices[r];
        assert_ne!(s, i, "three images per class: another one is drawn");
        assert_eq!(ds.item(s).class_id, ds.item(i).class_id);
        assert_eq!(ds.item(b.wrong_indices[r]).split, Split::Train);
    }
    let caps = to_vec_i64(&b.caption_ids);
    assert!(caps.iter().all(|&k| (0..3).contains(&k)));
    // The 32² stage is the crop the smaller stages are resized from: their means agree.
    let m32 = b.images[2].mean(Kind::Float).double_value(&[]);
    let m8 = b.images[0].mean(Kind::Float).double_value(&[]);
    assert!((m32 - m8).abs() < 0.05, "{m32} vs {m8}");

    // Wrong images avoid the anchor's class most of the time (one re-draw, as in the paper).
    let mut same = 0;
    let mut total = 0;
    for step in 0..50 {
        let mut rng = batch_rng(7, 0, step);
        for &i in &idx {
            same += (ds
                .item(ds.draw_wrong_image(Split::Train, i, &mut rng))
                .class_id
                == ds.item(i).class_id) as u32;
            total += 1;
        }
    }
    // P(same) = (1/3)² ≈ 0.11 with three equal classes.
    assert!(
        same * 4 < total,
        "{same} of {total} wrong images share the class"
    );
}

#[test]
fn in_memory_options_change_speed_not_batches() {
    let (dir, plain) = fixture_dataset(&small_options());
    let mut opts = small_options();
    opts.keep_features_in_memory = true;
    opts.keep_images_in_memory = true;
    let mem = load(dir.path(), &opts);
    let idx = plain.split(Split::Train).to_vec();
    for step in 0..2 {
        let a = plain
            .sen_batch(&idx, Draw::train(), &mut batch_rng(3, 0, step))
            .unwrap();
        let b = mem
            .sen_batch(&idx, Draw::train(), &mut batch_rng(3, 0, step))
            .unwrap();
        assert!(a.speech.equal(&b.speech) && a.images.equal(&b.images));
        assert_eq!(a.indices, b.indices);
    }
}
