//! Captions from a small grammar: each mentions a random subset of the drawn attributes with
//! varied templates and synonyms, in the loose lower-case style of crowd-written CUB captions.
//!
//! Body and wing colours are mentioned most often: they carry the demo's phrases.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::colour::ColourName;
use super::draw_bird::Pose;
use super::species::{
    BirdSpecies, Eye, FlowerSpecies, Leaves, Length, PetalCount, PetalShape, Size,
};

fn one<'a>(rng: &mut ChaCha8Rng, xs: &[&'a str]) -> &'a str {
    xs.choose(rng).copied().unwrap_or("")
}

fn colour(rng: &mut ChaCha8Rng, c: ColourName) -> String {
    // An occasional intensifier, only where it does not contradict the drawn shade.
    let bright = matches!(
        c,
        ColourName::Red | ColourName::Yellow | ColourName::Orange | ColourName::Blue
    );
    if bright && rng.gen_bool(0.08) {
        format!("bright {}", c.word())
    } else {
        c.word().to_string()
    }
}

/// "a", "a and b", "a, b and c" (sometimes with a serial comma).
fn list(rng: &mut ChaCha8Rng, items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => {
            let comma = if n > 2 && rng.gen_bool(0.3) { "," } else { "" };
            format!("{}{comma} and {}", items[..n - 1].join(", "), items[n - 1])
        }
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// `a`/`an` + phrase.
fn a(phrase: &str) -> String {
    format!("{} {phrase}", article(phrase))
}

fn size_word(rng: &mut ChaCha8Rng, s: Size) -> &'static str {
    match s {
        Size::Small => one(rng, &["small", "tiny", "little"]),
        Size::Medium => one(rng, &["medium sized", "average sized", "mid sized"]),
        Size::Large => one(rng, &["large", "big"]),
    }
}

fn beak_len_word(rng: &mut ChaCha8Rng, l: Length) -> &'static str {
    match l {
        Length::Short => one(rng, &["short", "small", "stubby", "short thick"]),
        Length::Medium => one(rng, &["medium length", "medium sized", "pointed"]),
        Length::Long => one(rng, &["long", "very long", "long thin", "long pointed"]),
    }
}

fn tail_len_word(rng: &mut ChaCha8Rng, l: Length) -> &'static str {
    match l {
        Length::Short => one(rng, &["short", "stubby", "short"]),
        Length::Medium => one(rng, &["medium length", "medium sized"]),
        Length::Long => one(rng, &["long", "very long"]),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BirdFact {
    Body,
    Wing,
    Head,
    Crown,
    Beak,
    Tail,
    Size,
    Eye,
    Crest,
    WingBars,
    Pose,
}

/// One caption for a bird of species `sp` drawn in `pose`, and the `species` fields it names
/// (so an evaluation can ask whether a picture shows what its caption actually said).
pub fn bird(sp: &BirdSpecies, pose: Pose, rng: &mut ChaCha8Rng) -> (String, Vec<&'static str>) {
    use BirdFact::*;
    let beak_named: std::cell::Cell<&'static [&'static str]> = std::cell::Cell::new(&[]);
    let mut facts = Vec::new();
    let weights: [(BirdFact, f64); 11] = [
        (Body, 0.85),
        (Wing, 0.75),
        (Head, if sp.head != sp.body { 0.45 } else { 0.15 }),
        (Crown, if sp.crown != sp.head { 0.35 } else { 0.0 }),
        (Beak, 0.5),
        (Tail, 0.3),
        (Size, 0.4),
        (
            Eye,
            if sp.eye == self::Eye::Black {
                0.08
            } else {
                0.3
            },
        ),
        (Crest, if sp.crest { 0.5 } else { 0.0 }),
        (WingBars, if sp.wing_bars { 0.4 } else { 0.0 }),
        (Pose, 0.15),
    ];
    for (f, p) in weights {
        if rng.gen_bool(p) {
            facts.push(f);
        }
    }
    if facts.len() < 2 {
        // A caption needs something to say: fall back on the defining colours.
        for f in [Body, Wing] {
            if !facts.contains(&f) {
                facts.push(f);
            }
        }
    }
    // Crowd captions are short: at most four facts besides the pose, keeping body and wings.
    while facts.iter().filter(|&&f| f != Pose).count() > 4 {
        let optional: Vec<usize> = (0..facts.len())
            .filter(|&i| !matches!(facts[i], Body | Wing | Pose))
            .collect();
        let Some(&i) = optional.choose(rng) else {
            break;
        };
        facts.remove(i);
    }
    let has = |f: BirdFact| facts.contains(&f);
    let size = has(Size).then(|| size_word(rng, sp.size));

    // Noun phrases for everything except the parts a frame may fold into its opening.
    let np = |f: BirdFact, rng: &mut ChaCha8Rng| -> String {
        match f {
            Body => {
                let part = one(rng, &["belly", "breast", "body", "chest", "underside"]);
                match rng.gen_range(0..3) {
                    0 => format!("{} feathers on its {part}", colour(rng, sp.body)),
                    _ => a(&format!("{} {part}", colour(rng, sp.body))),
                }
            }
            Wing => match rng.gen_range(0..4) {
                0 => format!("wings that are {}", colour(rng, sp.wing)),
                1 => format!("{} wing feathers", colour(rng, sp.wing)),
                _ => format!("{} wings", colour(rng, sp.wing)),
            },
            Head => match rng.gen_range(0..3) {
                0 => format!("a head that is {}", colour(rng, sp.head)),
                _ => a(&format!("{} head", colour(rng, sp.head))),
            },
            Crown => {
                let part = one(rng, &["crown", "cap", "crown"]);
                a(&format!("{} {part}", colour(rng, sp.crown)))
            }
            Beak => {
                let bill = one(rng, &["beak", "bill", "beak"]);
                let form = rng.gen_range(0..3);
                beak_named.set(match form {
                    0 => &["beak"],
                    1 => &["beak_colour"],
                    _ => &["beak", "beak_colour"],
                });
                match form {
                    0 => a(&format!("{} {bill}", beak_len_word(rng, sp.beak))),
                    1 => a(&format!("{} {bill}", colour(rng, sp.beak_colour))),
                    _ => a(&format!(
                        "{} {} {bill}",
                        beak_len_word(rng, sp.beak),
                        colour(rng, sp.beak_colour)
                    )),
                }
            }
            Tail => match rng.gen_range(0..3) {
                0 => format!("{} tail feathers", tail_len_word(rng, sp.tail)),
                _ => a(&format!("{} tail", tail_len_word(rng, sp.tail))),
            },
            Eye => match sp.eye {
                self::Eye::WhiteRing => one(
                    rng,
                    &[
                        "a white ring around its eye",
                        "white eye rings",
                        "a white eyering",
                    ],
                )
                .to_string(),
                self::Eye::Red => one(rng, &["red eyes", "bright red eyes"]).to_string(),
                self::Eye::Yellow => one(rng, &["yellow eyes", "a yellow eye"]).to_string(),
                self::Eye::Black => one(rng, &["black eyes", "dark eyes"]).to_string(),
            },
            Crest => one(
                rng,
                &[
                    "a crest on its head",
                    "a pointed crest",
                    "a tuft of feathers on its head",
                ],
            )
            .to_string(),
            WingBars => one(
                rng,
                &[
                    "white wing bars",
                    "white stripes on its wings",
                    "white bars on the wings",
                ],
            )
            .to_string(),
            Size | Pose => String::new(),
        }
    };
    let pose_phrase = has(Pose).then(|| match pose {
        self::Pose::Perched => one(
            rng,
            &["perched on a branch", "sitting on a branch", "on a twig"],
        ),
        self::Pose::Standing => one(rng, &["standing on the ground", "on the ground"]),
        self::Pose::Flying => one(rng, &["flying", "in flight", "flying in the sky"]),
    });

    let mut text = match rng.gen_range(0..6) {
        // Adjective-led: "a small yellow bird with black wings and a short beak".
        0 | 1 if has(Body) => {
            let rest: Vec<String> = facts
                .iter()
                .filter(|&&f| f != Body && f != Size && f != Pose)
                .map(|&f| np(f, rng))
                .collect();
            let body = colour(rng, sp.body);
            let head = match size {
                Some(s) => format!("{s} {body}"),
                None => body,
            };
            let opening = match rng.gen_range(0..4) {
                0 => format!("this {head} bird"),
                1 => format!("this is {}", a(&format!("{head} bird"))),
                _ => a(&format!("{head} bird")),
            };
            if rest.is_empty() {
                opening
            } else if opening.starts_with("this ") && !opening.starts_with("this is") {
                format!("{opening} has {}", list(rng, &rest))
            } else {
                format!("{opening} with {}", list(rng, &rest))
            }
        }
        // CUB's "this bird is yellow with black wings".
        2 if has(Body) => {
            let rest: Vec<String> = facts
                .iter()
                .filter(|&&f| f != Body && f != Size && f != Pose)
                .map(|&f| np(f, rng))
                .collect();
            let subject = match size {
                Some(s) => format!("this {s} bird"),
                None => one(rng, &["this bird", "the bird"]).to_string(),
            };
            let mostly = one(rng, &["", "mostly ", "mainly ", "mostly "]);
            let body = colour(rng, sp.body);
            if rest.is_empty() {
                format!("{subject} is {mostly}{body}")
            } else if rng.gen_bool(0.3) {
                let pron = one(rng, &["it has", "it also has"]);
                format!("{subject} is {mostly}{body}. {pron} {}", list(rng, &rest))
            } else {
                format!("{subject} is {mostly}{body} with {}", list(rng, &rest))
            }
        }
        // "this bird has a yellow belly and black wings".
        _ => {
            let nps: Vec<String> = facts
                .iter()
                .filter(|&&f| f != Size && f != Pose)
                .map(|&f| np(f, rng))
                .collect();
            let opening = match size {
                Some(s) => match rng.gen_range(0..3) {
                    0 => format!("this {s} bird has"),
                    1 => a(&format!("{s} bird with")),
                    _ => format!("the {s} bird has"),
                },
                None => one(
                    rng,
                    &[
                        "this bird has",
                        "the bird has",
                        "a bird with",
                        "this particular bird has",
                        "this is a bird with",
                    ],
                )
                .to_string(),
            };
            format!("{opening} {}", list(rng, &nps))
        }
    };
    if let Some(p) = pose_phrase {
        text = format!("{text}, {p}");
    }
    // Every fact but the pose becomes words in each frame above.
    let mut named: Vec<&'static str> = Vec::new();
    for f in &facts {
        match f {
            Body => named.push("body"),
            Wing => named.push("wing"),
            Head => named.push("head"),
            Crown => named.push("crown"),
            Beak => named.extend_from_slice(beak_named.get()),
            Tail => named.push("tail"),
            Size => named.push("size"),
            Eye => named.push("eye"),
            Crest => named.push("crest"),
            WingBars => named.push("wing_bars"),
            Pose => {}
        }
    }
    named.sort_unstable();
    (text, named)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlowerFact {
    Colour,
    Count,
    Shape,
    Centre,
    Size,
    Leaves,
    Double,
}

fn count_word(c: PetalCount) -> &'static str {
    match c {
        PetalCount::Four => "four",
        PetalCount::Five => "five",
        PetalCount::Six => "six",
        PetalCount::Eight => "eight",
        PetalCount::Many => "many",
    }
}

fn shape_word(rng: &mut ChaCha8Rng, s: PetalShape) -> &'static str {
    match s {
        PetalShape::Round => one(rng, &["rounded", "round", "oval"]),
        PetalShape::Pointed => one(rng, &["pointed", "pointy", "sharp pointed"]),
        PetalShape::Notched => one(rng, &["notched", "heart shaped"]),
        PetalShape::Narrow => one(rng, &["long thin", "narrow", "thin"]),
    }
}

/// One caption for a flower of species `sp`.
pub fn flower(sp: &FlowerSpecies, rng: &mut ChaCha8Rng) -> String {
    use FlowerFact::*;
    let mut facts = Vec::new();
    for (f, p) in [
        (Colour, 0.9),
        (Count, 0.45),
        (Shape, 0.4),
        (Centre, 0.6),
        (Size, 0.3),
        (Leaves, 0.3),
        (Double, if sp.double { 0.4 } else { 0.0 }),
    ] {
        if rng.gen_bool(p) {
            facts.push(f);
        }
    }
    if facts.len() < 2 {
        for f in [Colour, Centre] {
            if !facts.contains(&f) {
                facts.push(f);
            }
        }
    }
    let has = |f: FlowerFact| facts.contains(&f);
    let petal_colour = colour(rng, sp.petal_colour);

    // The petal phrase gathers count, shape and colour: "five pointed pink petals".
    let mut petal_words = Vec::new();
    if has(Count) {
        petal_words.push(count_word(sp.petal_count).to_string());
    }
    if has(Shape) {
        petal_words.push(shape_word(rng, sp.petal_shape).to_string());
    }
    let colour_in_subject = has(Colour) && rng.gen_bool(0.35);
    if has(Colour) && !colour_in_subject {
        petal_words.push(petal_colour.clone());
    }
    let mut nps = Vec::new();
    if !petal_words.is_empty() {
        let phrase = format!("{} petals", petal_words.join(" "));
        // A lone shape word reads better after the noun: "petals that are pointed".
        if petal_words.len() == 1 && has(Shape) && rng.gen_bool(0.5) {
            nps.push(format!("petals that are {}", petal_words[0]));
        } else {
            nps.push(phrase);
        }
    }
    if has(Centre) {
        let c = colour(rng, sp.centre);
        nps.push(match rng.gen_range(0..5) {
            0 => format!("{c} stamen"),
            1 => a(&format!("{c} middle")),
            2 => a(&format!("{c} centre covered in stamens")),
            _ => a(&format!("{c} center")),
        });
    }
    if has(Double) {
        nps.push(one(rng, &["two layers of petals", "layered petals"]).to_string());
    }
    if has(Leaves) {
        nps.push(
            match sp.leaves {
                self::Leaves::None => one(rng, &["no leaves", "a bare stem"]),
                self::Leaves::Few => one(rng, &["a few green leaves", "a couple of leaves"]),
                self::Leaves::Many => {
                    one(rng, &["lots of green leaves", "many leaves on its stem"])
                }
            }
            .to_string(),
        );
    }
    let size = has(Size).then(|| size_word(rng, sp.size));
    let mut subject = String::new();
    if let Some(s) = size {
        subject.push_str(s);
        subject.push(' ');
    }
    if colour_in_subject {
        subject.push_str(&petal_colour);
        subject.push(' ');
    }
    subject.push_str("flower");
    let body = list(rng, &nps);
    if nps.is_empty() {
        return format!("this is {}", a(&subject));
    }
    match rng.gen_range(0..5) {
        0 => format!("{} with {body}", a(&subject)),
        1 => format!("this {subject} has {body}"),
        2 => format!("the {subject} has {body}"),
        3 if colour_in_subject => format!("this flower is {petal_colour} and has {body}"),
        _ => format!("this {subject} has {body}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::species::{catalogue, Species};
    use crate::data::synth::Kind;
    use rand::SeedableRng;

    #[test]
    fn captions_name_only_true_colours_and_vary() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = std::collections::HashSet::new();
        for class in catalogue(Kind::Birds) {
            let Species::Bird(sp) = &class.species else {
                unreachable!()
            };
            let allowed = [sp.body, sp.wing, sp.head, sp.crown, sp.beak_colour];
            for _ in 0..20 {
                let (text, names) = bird(sp, Pose::Perched, &mut rng);
                // The named fields' colours are in the text.
                for (field, c) in [("body", sp.body), ("wing", sp.wing), ("head", sp.head)] {
                    if names.contains(&field) {
                        assert!(text.contains(c.word()), "{text:?} should name the {field}");
                    }
                }
                if !names.contains(&"wing") && !names.contains(&"wing_bars") {
                    assert!(!text.contains("wing"), "{text:?} names no wing colour");
                }
                for word in text.split(|c: char| !c.is_alphabetic()) {
                    if let Some(c) = ColourName::ALL.iter().find(|c| c.word() == word) {
                        let ok = allowed.contains(c)
                            || (*c == ColourName::White
                                && (sp.wing_bars || sp.eye == Eye::WhiteRing))
                            || (*c == ColourName::Red && sp.eye == Eye::Red)
                            || (*c == ColourName::Yellow && sp.eye == Eye::Yellow)
                            || (*c == ColourName::Black && sp.eye == Eye::Black);
                        assert!(ok, "{text:?} names {c:?} for {}", class.name);
                    }
                }
                assert!(!text.contains("  ") && !text.starts_with(' '), "{text:?}");
                seen.insert(text);
            }
        }
        assert!(seen.len() > 900, "captions vary ({} distinct)", seen.len());
        for class in catalogue(Kind::Flowers) {
            let Species::Flower(sp) = &class.species else {
                unreachable!()
            };
            for _ in 0..10 {
                let text = flower(sp, &mut rng);
                assert!(text.contains("flower") || text.contains("petal"), "{text}");
            }
        }
    }
}
