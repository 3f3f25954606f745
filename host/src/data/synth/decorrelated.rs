//! Species outside the fixed catalogue, with every attribute drawn independently.
//!
//! In the catalogue each class fixes a whole attribute tuple, so across ~48 training classes one
//! attribute predicts the others and an attribute classifier trained on the set learns "which
//! class is this". Random species with independent, uniform attributes break those links: the
//! attribute probe (`eval::probe`) trains on them beside the real images. The drawing is the
//! generator's own (`draw_bird::render`, `draw_flower::render`), without captions or speech.
//!
//! A caller that judges a dataset's unseen test classes passes their main colour pairs (birds:
//! body × wing, flowers: petal × centre, the pair that names a class) as `exclude`, so no random
//! species reproduces a test class's defining combination.

use std::collections::HashSet;

use anyhow::{bail, Result};
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::colour::ColourName;
use super::species::{
    BirdSpecies, Eye, FlowerSpecies, Leaves, Length, PetalCount, PetalShape, Size, Species,
    BEAK_COLOURS, BODY_COLOURS, CENTRE_COLOURS, PETAL_COLOURS,
};
use super::{canvas, derive_rng, draw_bird, draw_flower, Kind, Scene};
use crate::data::image_pipeline::resize_shorter_side;

/// RNG stream of [`draw_image`] (the generator's own streams are 1 and 2).
const STREAM_DRAWN: u64 = 3;

/// The colour pair that names a class: birds (body, wing), flowers (petal colour, centre).
pub type MainPair = (ColourName, ColourName);

/// The [`MainPair`] of a species.
pub fn main_pair(species: &Species) -> MainPair {
    match species {
        Species::Bird(b) => (b.body, b.wing),
        Species::Flower(f) => (f.petal_colour, f.centre),
    }
}

/// Every main pair a random species of `kind` can have, in vocabulary order.
pub fn main_pairs(kind: Kind) -> Vec<MainPair> {
    let (first, second): (&[ColourName], &[ColourName]) = match kind {
        Kind::Birds => (&BODY_COLOURS, &BODY_COLOURS),
        Kind::Flowers => (&PETAL_COLOURS, &CENTRE_COLOURS),
    };
    first
        .iter()
        .flat_map(|&a| second.iter().map(move |&b| (a, b)))
        .collect()
}

/// A species of `kind` whose attributes are drawn independently and uniformly from the
/// vocabularies the catalogue uses (booleans with p = 0.5), except that the main pair is uniform
/// over the pairs not in `exclude`. Unlike catalogue classes, a wing may share the body colour
/// and a centre the petal colour.
///
/// One exception keeps every label visible: white wing bars on a white wing cannot be seen, so
/// a white-winged bird has none (as in the catalogue).
///
/// Errors when `exclude` leaves no pair.
pub fn random_species<R: Rng + ?Sized>(
    kind: Kind,
    exclude: &HashSet<MainPair>,
    rng: &mut R,
) -> Result<Species> {
    let pairs: Vec<MainPair> = main_pairs(kind)
        .into_iter()
        .filter(|p| !exclude.contains(p))
        .collect();
    let Some(&(first, second)) = pairs.choose(rng) else {
        bail!("every {kind:?} colour pair is excluded: no random species left to draw");
    };
    fn any<T: Copy, R: Rng + ?Sized>(values: &[T], rng: &mut R) -> T {
        *values.choose(rng).expect("vocabularies are non-empty")
    }
    Ok(match kind {
        Kind::Birds => {
            let (body, wing) = (first, second);
            let head = any(&BODY_COLOURS, rng);
            let crown = any(&BODY_COLOURS, rng);
            let beak_colour = any(&BEAK_COLOURS, rng);
            let beak = any(&Length::ALL, rng);
            let tail = any(&Length::ALL, rng);
            let size = any(&Size::ALL, rng);
            let eye = any(&Eye::ALL, rng);
            let crest = rng.gen_bool(0.5);
            let wing_bars = rng.gen_bool(0.5) && wing != ColourName::White;
            Species::Bird(BirdSpecies {
                body,
                wing,
                head,
                crown,
                beak_colour,
                beak,
                tail,
                size,
                eye,
                crest,
                wing_bars,
                tone_seed: rng.gen(),
            })
        }
        Kind::Flowers => {
            let (petal_colour, centre) = (first, second);
            let petal_count = any(&PetalCount::ALL, rng);
            let petals = match petal_count {
                PetalCount::Four => 4,
                PetalCount::Five => 5,
                PetalCount::Six => 6,
                PetalCount::Eight => 8,
                PetalCount::Many => rng.gen_range(13..=20),
            };
            Species::Flower(FlowerSpecies {
                petal_colour,
                petal_count,
                petals,
                petal_shape: any(&PetalShape::ALL, rng),
                centre,
                size: any(&Size::ALL, rng),
                leaves: any(&Leaves::ALL, rng),
                double: rng.gen_bool(0.5),
                tone_seed: rng.gen(),
            })
        }
    })
}

/// Draws one image of `species` (the per-image jitter from `seed`) and resamples it to
/// `size`×`size` the way the dataset loader resizes a set's images (bilinear, shorter side).
/// Returns the image and an attributes record shaped like `attributes/<key>.json`'s:
/// `{"species": …, "scene": …}` (no key, class or captions).
pub fn draw_image(species: &Species, seed: u64, size: u32) -> (RgbImage, Value) {
    let mut rng = derive_rng(&[STREAM_DRAWN, seed]);
    let (pixmap, scene) = match species {
        Species::Bird(sp) => {
            let (pm, scene, _) = draw_bird::render(sp, &mut rng);
            (pm, Scene::Bird(scene))
        }
        Species::Flower(sp) => {
            let (pm, scene, _) = draw_flower::render(sp, &mut rng);
            (pm, Scene::Flower(scene))
        }
    };
    let full = RgbImage::from_raw(canvas::SIZE, canvas::SIZE, canvas::to_rgb8(&pixmap))
        .expect("a canvas holds SIZE² RGB pixels");
    let image = resize_shorter_side(&full, size);
    (image, json!({ "species": species, "scene": scene }))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Every value each attribute took over the draws ("attribute:value" sets per attribute).
    fn value_sets(species: &[Species]) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for sp in species {
            for v in sp.values() {
                let (attr, value) = v.split_once(':').unwrap();
                out.entry(attr.to_string())
                    .or_default()
                    .insert(value.to_string());
            }
        }
        out
    }

    #[test]
    fn random_birds_cover_every_value_with_independent_colours() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let draws: Vec<Species> = (0..2000)
            .map(|_| random_species(Kind::Birds, &HashSet::new(), &mut rng).unwrap())
            .collect();
        let sets = value_sets(&draws);
        let count = |attr: &str| sets[attr].len();
        for attr in ["body", "wing", "head", "crown"] {
            assert_eq!(count(attr), BODY_COLOURS.len(), "{attr}: {:?}", sets[attr]);
        }
        assert_eq!(count("beak_colour"), BEAK_COLOURS.len());
        assert_eq!(count("beak"), 3);
        assert_eq!(count("tail"), 3);
        assert_eq!(count("size"), 3);
        assert_eq!(count("eye"), Eye::ALL.len());
        assert_eq!(count("crest"), 2);
        assert_eq!(count("wing_bars"), 2);

        // Body and wing are independent: most of the 121 pairs occur, each body with many wings,
        // and the share of birds whose wing matches the body is near 1/11 (the catalogue: 0).
        let pairs: HashSet<MainPair> = draws.iter().map(main_pair).collect();
        assert!(pairs.len() > 110, "{} pairs", pairs.len());
        for body in BODY_COLOURS {
            let wings = pairs.iter().filter(|p| p.0 == body).count();
            assert!(wings >= 8, "{body:?} has {wings} wing colours");
        }
        let same = draws
            .iter()
            .filter(|s| main_pair(s).0 == main_pair(s).1)
            .count() as f64
            / draws.len() as f64;
        assert!((0.05..0.14).contains(&same), "{same}");
        // Head is not tied to body either.
        let head_is_body = draws
            .iter()
            .filter(|s| matches!(s, Species::Bird(b) if b.head == b.body))
            .count() as f64
            / draws.len() as f64;
        assert!(head_is_body < 0.14, "{head_is_body}");
        // White wings never carry (invisible) white bars.
        assert!(draws
            .iter()
            .all(|s| !matches!(s, Species::Bird(b) if b.wing == ColourName::White && b.wing_bars)));
    }

    #[test]
    fn random_flowers_cover_every_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let draws: Vec<Species> = (0..2000)
            .map(|_| random_species(Kind::Flowers, &HashSet::new(), &mut rng).unwrap())
            .collect();
        let sets = value_sets(&draws);
        assert_eq!(sets["petal_colour"].len(), PETAL_COLOURS.len());
        assert_eq!(sets["centre"].len(), CENTRE_COLOURS.len());
        assert_eq!(sets["petal_count"].len(), PetalCount::ALL.len());
        assert_eq!(sets["petal_shape"].len(), PetalShape::ALL.len());
        assert_eq!(sets["size"].len(), 3);
        assert_eq!(sets["leaves"].len(), 3);
        assert_eq!(sets["double"].len(), 2);
        let pairs: HashSet<MainPair> = draws.iter().map(main_pair).collect();
        assert_eq!(pairs.len(), PETAL_COLOURS.len() * CENTRE_COLOURS.len());
    }

    #[test]
    fn excluded_pairs_never_appear() {
        for kind in [Kind::Birds, Kind::Flowers] {
            let all = main_pairs(kind);
            // Every third pair is excluded: far more than a dataset's test classes.
            let exclude: HashSet<MainPair> = all.iter().copied().step_by(3).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let seen: HashSet<MainPair> = (0..3000)
                .map(|_| main_pair(&random_species(kind, &exclude, &mut rng).unwrap()))
                .collect();
            assert!(seen.is_disjoint(&exclude), "{kind:?}");
            assert_eq!(seen.len(), all.len() - exclude.len(), "{kind:?}");

            let everything: HashSet<MainPair> = all.into_iter().collect();
            let err = random_species(kind, &everything, &mut rng).unwrap_err();
            assert!(err.to_string().contains("excluded"), "{err}");
        }
    }

    #[test]
    fn drawn_images_have_the_size_and_are_reproducible() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for kind in [Kind::Birds, Kind::Flowers] {
            let sp = random_species(kind, &HashSet::new(), &mut rng).unwrap();
            let (a, record) = draw_image(&sp, 5, 76);
            assert_eq!(a.dimensions(), (76, 76));
            let (b, again) = draw_image(&sp, 5, 76);
            assert_eq!(a, b, "{kind:?}: the same seed draws the same image");
            assert_eq!(record, again);
            let (c, _) = draw_image(&sp, 6, 76);
            assert_ne!(a, c, "{kind:?}: another seed draws another image");
            let (full, _) = draw_image(&sp, 5, canvas::SIZE);
            assert_eq!(full.dimensions(), (canvas::SIZE, canvas::SIZE));

            // The record is the attributes files' species record.
            let back: Species = serde_json::from_value(record["species"].clone()).unwrap();
            assert_eq!(back, sp);
            assert!(record["scene"].is_object());
            let tag = match kind {
                Kind::Birds => "bird",
                Kind::Flowers => "flower",
            };
            assert_eq!(record["species"]["kind"], tag);
        }
    }
}
