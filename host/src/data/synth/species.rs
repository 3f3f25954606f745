//! The fixed catalogue of synthetic species: each class is one attribute tuple.
//!
//! The catalogue comes from a constant seed, never from `--seed`, so class 007 is the same bird in
//! every generated set. As in CUB and Oxford-102 the test classes are disjoint from the training
//! classes, and every attribute value a test class uses also occurs in some training class: the
//! test set asks for unseen combinations of seen words.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::colour::ColourName;
use super::Kind;

/// The seed of the species catalogue; changing it changes every class.
const SPECIES_SEED: u64 = 0x5216_a9e5_0b1d_f10e;

/// Default number of bird and flower classes; every `TEST_EVERY`-th class id is a test class (20 %).
pub const BIRD_CLASSES: usize = 60;
pub const FLOWER_CLASSES: usize = 40;
pub const TEST_EVERY: u32 = 5;
/// Bounds of `--classes`: at least two test classes, and few enough that unique names (body ×
/// wing × genus for birds, petal × centre × genus for flowers: over 1000 each) stay plentiful.
pub const MIN_CLASSES: usize = 10;
pub const MAX_CLASSES: usize = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    Small,
    Medium,
    Large,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Length {
    Short,
    Medium,
    Long,
}

impl Length {
    pub const ALL: [Length; 3] = [Length::Short, Length::Medium, Length::Long];
}

/// What shows at the eye: a dark eye, a coloured iris, or a white ring around a dark eye.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eye {
    Black,
    Red,
    Yellow,
    WhiteRing,
}

impl Eye {
    pub const ALL: [Eye; 4] = [Eye::Black, Eye::Red, Eye::Yellow, Eye::WhiteRing];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PetalShape {
    Round,
    Pointed,
    Notched,
    Narrow,
}

impl PetalShape {
    pub const ALL: [PetalShape; 4] = [
        PetalShape::Round,
        PetalShape::Pointed,
        PetalShape::Notched,
        PetalShape::Narrow,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leaves {
    None,
    Few,
    Many,
}

impl Leaves {
    pub const ALL: [Leaves; 3] = [Leaves::None, Leaves::Few, Leaves::Many];
}

/// Petal counts named in captions; `Many` species draw a fixed count between 13 and 20.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PetalCount {
    Four,
    Five,
    Six,
    Eight,
    Many,
}

impl PetalCount {
    pub const ALL: [PetalCount; 5] = [
        PetalCount::Four,
        PetalCount::Five,
        PetalCount::Six,
        PetalCount::Eight,
        PetalCount::Many,
    ];
}

pub const BODY_COLOURS: [ColourName; 11] = ColourName::ALL;
pub const BEAK_COLOURS: [ColourName; 7] = [
    ColourName::Black,
    ColourName::Grey,
    ColourName::Orange,
    ColourName::Yellow,
    ColourName::Red,
    ColourName::Pink,
    ColourName::Brown,
];
/// Green petals vanish into foliage, and brown/black/grey ones do not look like flowers.
pub const PETAL_COLOURS: [ColourName; 7] = [
    ColourName::Red,
    ColourName::Orange,
    ColourName::Yellow,
    ColourName::Blue,
    ColourName::Purple,
    ColourName::Pink,
    ColourName::White,
];
pub const CENTRE_COLOURS: [ColourName; 8] = [
    ColourName::Yellow,
    ColourName::Orange,
    ColourName::Brown,
    ColourName::Black,
    ColourName::Green,
    ColourName::White,
    ColourName::Red,
    ColourName::Purple,
];

/// One bird class. `tone_seed` fixes the species' own shade of each colour word.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BirdSpecies {
    pub body: ColourName,
    pub wing: ColourName,
    pub head: ColourName,
    pub crown: ColourName,
    pub beak_colour: ColourName,
    pub beak: Length,
    pub tail: Length,
    pub size: Size,
    pub eye: Eye,
    pub crest: bool,
    pub wing_bars: bool,
    pub tone_seed: u64,
}

impl BirdSpecies {
    /// A coarse "genus" from the body plan, so names hint at the shape like CUB's do.
    pub fn genus(&self) -> &'static str {
        match (self.size, self.beak, self.crest) {
            (Size::Small, _, true) => "Titmouse",
            (Size::Medium, _, true) => "Cardinal",
            (Size::Large, _, true) => "Jay",
            (Size::Small, Length::Short, _) => "Finch",
            (Size::Small, Length::Medium, _) => "Warbler",
            (Size::Small, Length::Long, _) => "Sunbird",
            (Size::Medium, Length::Short, _) => "Bunting",
            (Size::Medium, Length::Medium, _) => "Tanager",
            (Size::Medium, Length::Long, _) => "Kingfisher",
            (Size::Large, Length::Short, _) => "Grosbeak",
            (Size::Large, Length::Medium, _) => "Thrush",
            (Size::Large, Length::Long, _) => "Thrasher",
        }
    }

    pub fn name(&self) -> String {
        format!(
            "{}_{}_Winged_{}",
            self.body.title(),
            self.wing.title(),
            self.genus()
        )
    }

    fn values(&self) -> Vec<String> {
        vec![
            format!("body:{:?}", self.body),
            format!("wing:{:?}", self.wing),
            format!("head:{:?}", self.head),
            format!("crown:{:?}", self.crown),
            format!("beak_colour:{:?}", self.beak_colour),
            format!("beak:{:?}", self.beak),
            format!("tail:{:?}", self.tail),
            format!("size:{:?}", self.size),
            format!("eye:{:?}", self.eye),
            format!("crest:{}", self.crest),
            format!("wing_bars:{}", self.wing_bars),
        ]
    }
}

/// One flower class. `petals` is the drawn count (fixed per species, also for `Many`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowerSpecies {
    pub petal_colour: ColourName,
    pub petal_count: PetalCount,
    pub petals: u32,
    pub petal_shape: PetalShape,
    pub centre: ColourName,
    pub size: Size,
    pub leaves: Leaves,
    pub double: bool,
    pub tone_seed: u64,
}

impl FlowerSpecies {
    pub fn genus(&self) -> &'static str {
        use PetalCount::*;
        use PetalShape::*;
        match (self.petal_count, self.petal_shape) {
            (Four, Round) => "Poppy",
            (Four, Pointed) => "Dogwood",
            (Four, Notched) => "Primrose",
            (Four, Narrow) => "Clematis",
            (Five, Round) => "Buttercup",
            (Five, Pointed) => "Starflower",
            (Five, Notched) => "Phlox",
            (Five, Narrow) => "Periwinkle",
            (Six, Round) => "Crocus",
            (Six, Pointed) => "Lily",
            (Six, Notched) => "Windflower",
            (Six, Narrow) => "Spiderwort",
            (Eight, Round) => "Anemone",
            (Eight, Pointed) => "Dahlia",
            (Eight, Notched) => "Cosmos",
            (Eight, Narrow) => "Starwort",
            (Many, Round) => "Zinnia",
            (Many, Pointed) => "Gerbera",
            (Many, Notched) => "Carnation",
            (Many, Narrow) => "Daisy",
        }
    }

    pub fn name(&self) -> String {
        format!(
            "{}_{}_Eyed_{}",
            self.petal_colour.title(),
            self.centre.title(),
            self.genus()
        )
    }

    fn values(&self) -> Vec<String> {
        vec![
            format!("petal_colour:{:?}", self.petal_colour),
            format!("petal_count:{:?}", self.petal_count),
            format!("petal_shape:{:?}", self.petal_shape),
            format!("centre:{:?}", self.centre),
            format!("size:{:?}", self.size),
            format!("leaves:{:?}", self.leaves),
            format!("double:{}", self.double),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Species {
    Bird(BirdSpecies),
    Flower(FlowerSpecies),
}

impl Species {
    pub fn name(&self) -> String {
        match self {
            Species::Bird(b) => b.name(),
            Species::Flower(f) => f.name(),
        }
    }

    /// Every attribute value as "attribute:value", for the seen/unseen checks.
    pub fn values(&self) -> Vec<String> {
        match self {
            Species::Bird(b) => b.values(),
            Species::Flower(f) => f.values(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

/// One class of the catalogue: 1-based id, CUB-style name, split and attribute tuple.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Class {
    pub id: u32,
    pub name: String,
    pub split: Split,
    pub species: Species,
}

impl Class {
    /// `001.Yellow_Black_Winged_Finch`: the folder name in `images/` and `audio/`.
    pub fn dir(&self) -> String {
        format!("{:03}.{}", self.id, self.name)
    }
}

/// The default number of classes of `kind`.
pub fn default_classes(kind: Kind) -> usize {
    match kind {
        Kind::Birds => BIRD_CLASSES,
        Kind::Flowers => FLOWER_CLASSES,
    }
}

/// The fixed catalogue for `kind` at its default size, ordered by id.
pub fn catalogue(kind: Kind) -> Vec<Class> {
    catalogue_of(kind, default_classes(kind))
}

/// The fixed catalogue for `kind` with `n` classes (within [`MIN_CLASSES`, `MAX_CLASSES`]).
///
/// Training classes are drawn first from one stream, so a training class has the same id and
/// species whatever `n` is; only the test classes depend on `n`.
pub fn catalogue_of(kind: Kind, n: usize) -> Vec<Class> {
    let n_test = (1..=n as u32).filter(|id| id % TEST_EVERY == 0).count();
    let n_train = n - n_test;
    let mut rng = ChaCha8Rng::seed_from_u64(SPECIES_SEED ^ kind as u64);

    let mut names = HashSet::new();
    let mut train = Vec::with_capacity(n_train);
    let mut counts = Counts::default();
    for i in 0..n_train {
        // The first classes pin the demo grid (yellow/red/grey body × brown/black/blue wings), so
        // the demo's phrases are training classes whatever the balanced draw does.
        let pinned = match kind {
            Kind::Birds if i < 9 => Some((
                [ColourName::Yellow, ColourName::Red, ColourName::Grey][i / 3],
                [ColourName::Brown, ColourName::Black, ColourName::Blue][i % 3],
            )),
            _ => None,
        };
        let sp = loop {
            let sp = match kind {
                Kind::Birds => Species::Bird(draw_bird(&mut rng, &counts, pinned, None)),
                Kind::Flowers => Species::Flower(draw_flower(&mut rng, &counts, None)),
            };
            if names.insert(sp.name()) {
                break sp;
            }
        };
        counts.add(&sp);
        train.push(sp);
    }

    // Test classes draw only from values the training classes use.
    let seen: HashSet<String> = train.iter().flat_map(|s| s.values()).collect();
    let mut test = Vec::with_capacity(n_test);
    for _ in 0..n_test {
        let sp = loop {
            let sp = match kind {
                Kind::Birds => Species::Bird(draw_bird(&mut rng, &counts, None, Some(&seen))),
                Kind::Flowers => Species::Flower(draw_flower(&mut rng, &counts, Some(&seen))),
            };
            if sp.values().iter().all(|v| seen.contains(v)) && names.insert(sp.name()) {
                break sp;
            }
        };
        counts.add(&sp);
        test.push(sp);
    }

    let (mut train, mut test) = (train.into_iter(), test.into_iter());
    (1..=n as u32)
        .map(|id| {
            let (split, species) = if id % TEST_EVERY == 0 {
                (Split::Test, test.next())
            } else {
                (Split::Train, train.next())
            };
            let species = species.expect("split sizes counted above");
            Class {
                id,
                name: species.name(),
                split,
                species,
            }
        })
        .collect()
}

/// How often each attribute value has been used so far, to keep the catalogue balanced (every
/// colour word shows up in several classes, not by luck).
#[derive(Default)]
struct Counts(std::collections::HashMap<String, usize>);

impl Counts {
    fn add(&mut self, sp: &Species) {
        for v in sp.values() {
            *self.0.entry(v).or_default() += 1;
        }
    }

    fn get(&self, key: &str) -> usize {
        self.0.get(key).copied().unwrap_or(0)
    }
}

/// Picks a value of attribute `attr`: usually one of the least used, sometimes any; only values
/// passing `ok` (constraints, and for test classes "seen in training").
fn pick<T: Copy + std::fmt::Debug>(
    rng: &mut ChaCha8Rng,
    counts: &Counts,
    attr: &str,
    values: &[T],
    seen: Option<&HashSet<String>>,
    ok: impl Fn(T) -> bool,
) -> T {
    let key = |v: T| format!("{attr}:{v:?}");
    let allowed: Vec<T> = values
        .iter()
        .copied()
        .filter(|&v| ok(v) && seen.is_none_or(|s| s.contains(&key(v))))
        .collect();
    let allowed = if allowed.is_empty() {
        values.to_vec()
    } else {
        allowed
    };
    if rng.gen_bool(0.75) {
        let min = allowed.iter().map(|&v| counts.get(&key(v))).min();
        let rare: Vec<T> = allowed
            .iter()
            .copied()
            .filter(|&v| Some(counts.get(&key(v))) == min)
            .collect();
        *rare.choose(rng).expect("non-empty")
    } else {
        *allowed.choose(rng).expect("non-empty")
    }
}

/// A yes/no attribute with probability `p_true`, flipped for a test class when only the other
/// value was seen in training.
fn pick_bool(
    rng: &mut ChaCha8Rng,
    attr: &str,
    p_true: f64,
    seen: Option<&HashSet<String>>,
) -> bool {
    let want = rng.gen_bool(p_true);
    match seen {
        Some(s) if !s.contains(&format!("{attr}:{want}")) => !want,
        _ => want,
    }
}

fn draw_bird(
    rng: &mut ChaCha8Rng,
    counts: &Counts,
    pinned: Option<(ColourName, ColourName)>,
    seen: Option<&HashSet<String>>,
) -> BirdSpecies {
    let body = match pinned {
        Some((b, _)) => b,
        None => pick(rng, counts, "body", &BODY_COLOURS, seen, |_| true),
    };
    // Wings in the body colour would be invisible, and captions would name two parts one colour.
    let wing = match pinned {
        Some((_, w)) => w,
        None => pick(rng, counts, "wing", &BODY_COLOURS, seen, |c| c != body),
    };
    // Heads often match the body (plain birds), otherwise a contrasting hood.
    let head = if rng.gen_bool(0.35) && seen.is_none_or(|s| s.contains(&format!("head:{body:?}"))) {
        body
    } else {
        pick(rng, counts, "head", &BODY_COLOURS, seen, |_| true)
    };
    let crown = if rng.gen_bool(0.45) {
        head
    } else {
        pick(rng, counts, "crown", &BODY_COLOURS, seen, |c| c != head)
    };
    let crown = if seen.is_some_and(|s| !s.contains(&format!("crown:{crown:?}"))) {
        head
    } else {
        crown
    };
    let beak_colour = pick(rng, counts, "beak_colour", &BEAK_COLOURS, seen, |c| {
        c != head
    });
    let beak = pick(rng, counts, "beak", &Length::ALL, seen, |_| true);
    let tail = pick(rng, counts, "tail", &Length::ALL, seen, |_| true);
    let size = pick(rng, counts, "size", &Size::ALL, seen, |_| true);
    // A black eye on a black head would be invisible; such birds get a ring or a bright iris.
    let eye = pick(rng, counts, "eye", &Eye::ALL, seen, |e| {
        !(head == ColourName::Black && e == Eye::Black)
    });
    let crest = pick_bool(rng, "crest", 0.25, seen);
    let wing_bars = pick_bool(rng, "wing_bars", 0.3, seen) && !matches!(wing, ColourName::White);
    BirdSpecies {
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
    }
}

fn draw_flower(
    rng: &mut ChaCha8Rng,
    counts: &Counts,
    seen: Option<&HashSet<String>>,
) -> FlowerSpecies {
    let petal_colour = pick(rng, counts, "petal_colour", &PETAL_COLOURS, seen, |_| true);
    let centre = pick(rng, counts, "centre", &CENTRE_COLOURS, seen, |c| {
        c != petal_colour
    });
    let petal_count = pick(rng, counts, "petal_count", &PetalCount::ALL, seen, |_| true);
    let petals = match petal_count {
        PetalCount::Four => 4,
        PetalCount::Five => 5,
        PetalCount::Six => 6,
        PetalCount::Eight => 8,
        PetalCount::Many => rng.gen_range(13..=20),
    };
    let petal_shape = pick(rng, counts, "petal_shape", &PetalShape::ALL, seen, |_| true);
    let size = pick(rng, counts, "size", &Size::ALL, seen, |_| true);
    let leaves = pick(rng, counts, "leaves", &Leaves::ALL, seen, |_| true);
    let double = pick_bool(rng, "double", 0.25, seen);
    FlowerSpecies {
        petal_colour,
        petal_count,
        petals,
        petal_shape,
        centre,
        size,
        leaves,
        double,
        tone_seed: rng.gen(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_fixed_disjoint_and_seen() {
        for kind in [Kind::Birds, Kind::Flowers] {
            let a = catalogue(kind);
            let b = catalogue(kind);
            assert_eq!(
                a.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                b.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
            );
            let names: HashSet<_> = a.iter().map(|c| &c.name).collect();
            assert_eq!(names.len(), a.len(), "class names are unique");
            let train_values: HashSet<String> = a
                .iter()
                .filter(|c| c.split == Split::Train)
                .flat_map(|c| c.species.values())
                .collect();
            for c in a.iter().filter(|c| c.split == Split::Test) {
                for v in c.species.values() {
                    assert!(train_values.contains(&v), "{} uses unseen {v}", c.name);
                }
            }
            let n_test = a.iter().filter(|c| c.split == Split::Test).count();
            assert_eq!(n_test * 5, a.len());
        }
        let birds = catalogue(Kind::Birds);
        assert!(birds.len() >= 50);
        assert!(catalogue(Kind::Flowers).len() >= 30);
        let bodies: HashSet<_> = birds
            .iter()
            .filter_map(|c| match &c.species {
                Species::Bird(b) if c.split == Split::Train => Some(b.body),
                _ => None,
            })
            .collect();
        assert_eq!(
            bodies.len(),
            11,
            "every colour word is some training body colour"
        );
    }

    #[test]
    fn a_larger_catalogue_keeps_the_training_classes_and_adds_unseen_tests() {
        for kind in [Kind::Birds, Kind::Flowers] {
            let small = catalogue(kind);
            let large = catalogue_of(kind, 200);
            assert_eq!(large.len(), 200);
            let names: HashSet<_> = large.iter().map(|c| &c.name).collect();
            assert_eq!(names.len(), 200, "class names are unique");
            assert_eq!(large.iter().filter(|c| c.split == Split::Test).count(), 40);
            for (a, b) in small.iter().zip(&large) {
                if a.split == Split::Train {
                    assert_eq!((a.id, &a.name), (b.id, &b.name), "training class kept");
                }
            }
            let seen: HashSet<String> = large
                .iter()
                .filter(|c| c.split == Split::Train)
                .flat_map(|c| c.species.values())
                .collect();
            for c in large.iter().filter(|c| c.split == Split::Test) {
                assert!(
                    c.species.values().iter().all(|v| seen.contains(v)),
                    "{}",
                    c.name
                );
            }
        }
    }
}
