//! The synthetic generator's output loads through the official-layout path, attributes included.

use super::*;
use crate::data::synth::{generate, Kind, SynthConfig};
use crate::data::{batch_rng, Draw, Layout, Split};

#[test]
fn a_synthetic_set_loads_as_the_official_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flowers");
    // 40 flower classes filled round-robin: 48 images give eight classes a second image.
    let cfg = SynthConfig {
        captions: 2,
        seed: 3,
        threads: Some(2),
        ..SynthConfig::new(Kind::Flowers, &out, 48)
    };
    let made = match generate(&cfg) {
        Ok(s) => s,
        Err(e) => panic!("the synthetic generator failed (is espeak-ng installed?): {e:#}"),
    };
    let ds = load(&out, &small_options());

    assert_eq!(
        ds.layout(),
        &Layout::Official {
            img_root: out.clone()
        }
    );
    assert!(ds.report().skipped.is_empty());
    assert_eq!(ds.split(Split::Train).len(), made.train_images);
    assert_eq!(ds.split(Split::Test).len(), made.test_images);
    assert_eq!(ds.num_train_classes(), made.train_classes);
    assert_eq!(ds.classes().len(), made.classes);
    assert_eq!(ds.report().cache.computed, made.wavs);
    assert!(ds.has_classes());
    assert!(ds.meta().is_some_and(|m| m.get("generator").is_some()));
    for item in ds.items() {
        assert_eq!(item.captions.len(), 2);
        let attr = item
            .attributes
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no attributes", item.key));
        assert_eq!(attr["key"], item.key.as_str());
        assert_eq!(
            attr["class_id"].as_i64(),
            ds.classes()[item.class_id].original_id,
            "attributes and class_info agree for {}",
            item.key
        );
    }
    let idx = ds.split(Split::Train)[..4].to_vec();
    let batch = ds
        .sen_batch(&idx, Draw::train(), &mut batch_rng(0, 0, 0))
        .unwrap();
    assert_eq!(batch.speech.size()[..2], [4, 40]);
    let batch = ds
        .gan_batch(Split::Train, &idx, Draw::train(), &mut batch_rng(0, 0, 1))
        .unwrap();
    assert_eq!(batch.images.len(), 3);

    // The second load is all cache hits.
    let again = load(&out, &small_options());
    assert_eq!(again.report().cache.hits, made.wavs);
}
