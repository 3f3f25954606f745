//! A cartoon flower seen from the front (slightly tilted): a ring (or two) of petals, a textured
//! centre, a stem with leaves, and blurred flowers of the same species behind it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tiny_skia::{Path, PathBuilder, Pixmap, Transform};

use super::background::{self, Backdrop, BackgroundSpec};
use super::canvas::{self, SIZE};
use super::colour::Rgb;
use super::draw_bird::draw_leaf;
use super::lighting::Lighting;
use super::species::{FlowerSpecies, Leaves, PetalShape, Size};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowerColours {
    pub petal: Rgb,
    pub centre: Rgb,
    pub stem: Rgb,
}

/// The per-image jitter of one flower picture.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowerScene {
    pub centre: [f32; 2],
    pub radius: f32,
    pub rotation_deg: f32,
    /// Foreshortening of the tilted flower head: 1 = seen face-on.
    pub squash: f32,
    pub squash_axis_deg: f32,
    pub stem_bend: f32,
    pub leaf_count: u32,
    pub background_flowers: u32,
    pub colours: FlowerColours,
    pub background: BackgroundSpec,
    pub lighting: Lighting,
}

/// Where tests may sample the petal colour (image coordinates).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub petal: (f32, f32),
    pub radius: f32,
}

fn base_radius(size: Size) -> f32 {
    match size {
        Size::Small => 58.0,
        Size::Medium => 76.0,
        Size::Large => 94.0,
    }
}

pub fn render(sp: &FlowerSpecies, rng: &mut ChaCha8Rng) -> (Pixmap, FlowerScene, Probe) {
    let mut tone = ChaCha8Rng::seed_from_u64(sp.tone_seed);
    let petal = sp
        .petal_colour
        .rejitter(sp.petal_colour.shade(&mut tone, 1.0), rng, 1.0);
    let centre = sp
        .centre
        .rejitter(sp.centre.shade(&mut tone, 1.0), rng, 1.0);
    let g = tone.gen_range(0.38..0.55) * rng.gen_range(0.93..1.07);
    let stem = Rgb::new(g * tone.gen_range(0.4..0.65), g, g * 0.35);
    let radius = base_radius(sp.size) * rng.gen_range(0.9..1.1);
    let s = SIZE as f32;
    let leaf_count = match sp.leaves {
        Leaves::None => 0,
        Leaves::Few => rng.gen_range(1..=2),
        Leaves::Many => rng.gen_range(4..=6),
    };
    let mut scene = FlowerScene {
        // Near the middle, like a photographed bloom; the stem needs room below.
        centre: [
            rng.gen_range(s * 0.3..s * 0.7),
            rng.gen_range(s * 0.3..s * 0.58),
        ],
        radius,
        rotation_deg: rng.gen_range(0.0..360.0),
        squash: if rng.gen_bool(0.6) {
            rng.gen_range(0.62..0.95)
        } else {
            1.0
        },
        squash_axis_deg: rng.gen_range(-30.0..30.0),
        stem_bend: rng.gen_range(-40.0..40.0),
        leaf_count,
        background_flowers: rng.gen_range(0..4),
        colours: FlowerColours {
            petal,
            centre,
            stem,
        },
        background: BackgroundSpec::sample(rng, &Backdrop::FLOWER),
        lighting: Lighting::sample(rng),
    };

    let mut pm = canvas::new_pixmap();
    for attempt in 0..6 {
        pm = canvas::new_pixmap();
        let mut bg_rng = ChaCha8Rng::seed_from_u64(scene.background.seed);
        background::paint(&mut pm, &scene.background, &mut bg_rng);
        let r = scene.radius;
        let [cx, cy] = scene.centre;
        let around = canvas::mean_rgb(&pm, cx - r, cy - r, cx + r, cy + r);
        if around.distance(scene.colours.petal) >= 0.3 || attempt == 5 {
            // Far flowers of the same species, blurred with the backdrop.
            for _ in 0..scene.background_flowers {
                let far = FlowerScene {
                    centre: [bg_rng.gen_range(0.0..s), bg_rng.gen_range(0.0..s)],
                    radius: scene.radius * bg_rng.gen_range(0.3..0.55),
                    rotation_deg: bg_rng.gen_range(0.0..360.0),
                    squash: bg_rng.gen_range(0.5..1.0),
                    ..scene.clone()
                };
                draw_head(&mut pm, &far, sp, &mut bg_rng, 0.85);
            }
            background::finish(&mut pm, &scene.background);
            break;
        }
        scene.background = BackgroundSpec::sample(rng, &Backdrop::FLOWER);
    }

    draw_stem(&mut pm, &scene, rng);
    draw_head(&mut pm, &scene, sp, rng, 1.0);
    scene.lighting.apply(&mut pm);

    // On the first petal's axis: past its vein and the centre disc, short of a notched tip.
    let mut p = tiny_skia::Point::from_xy(scene.radius * 0.74, 0.0);
    head_ts(&scene).map_point(&mut p);
    let probe = Probe {
        petal: (p.x, p.y),
        radius: 2.0,
    };
    (pm, scene, probe)
}

/// Places, rotates and foreshortens the flower head.
fn head_ts(scene: &FlowerScene) -> Transform {
    Transform::from_translate(scene.centre[0], scene.centre[1])
        .pre_rotate(scene.squash_axis_deg)
        .pre_scale(1.0, scene.squash)
        .pre_rotate(scene.rotation_deg - scene.squash_axis_deg)
}

/// One petal along +x from the centre, length `l`, half-width `w`.
fn petal_path(shape: PetalShape, l: f32, w: f32) -> Path {
    let mut pb = PathBuilder::new();
    pb.move_to(0.0, 0.0);
    match shape {
        PetalShape::Round | PetalShape::Narrow => {
            pb.cubic_to(l * 0.25, -w, l * 1.05, -w * 1.05, l, 0.0);
            pb.cubic_to(l * 1.05, w * 1.05, l * 0.25, w, 0.0, 0.0);
        }
        PetalShape::Pointed => {
            pb.cubic_to(l * 0.3, -w * 1.1, l * 0.7, -w * 0.75, l, 0.0);
            pb.cubic_to(l * 0.7, w * 0.75, l * 0.3, w * 1.1, 0.0, 0.0);
        }
        PetalShape::Notched => {
            pb.cubic_to(l * 0.25, -w, l * 1.02, -w * 1.1, l * 0.98, -w * 0.3);
            pb.line_to(l * 0.84, 0.0);
            pb.line_to(l * 0.98, w * 0.3);
            pb.cubic_to(l * 1.02, w * 1.1, l * 0.25, w, 0.0, 0.0);
        }
    }
    pb.close();
    pb.finish().expect("petal path")
}

/// Petal half-width from the shape, capped so neighbours overlap only a little.
fn petal_width(sp: &FlowerSpecies, r: f32) -> f32 {
    let n = sp.petals.max(3);
    let gap_w = (std::f32::consts::PI * r / n as f32) * 0.85;
    let shape_w = match sp.petal_shape {
        PetalShape::Round => r * 0.5,
        PetalShape::Pointed => r * 0.34,
        PetalShape::Notched => r * 0.46,
        PetalShape::Narrow => r * 0.14,
    };
    shape_w.min(gap_w.max(r * 0.1))
}

fn draw_head(
    pm: &mut Pixmap,
    scene: &FlowerScene,
    sp: &FlowerSpecies,
    rng: &mut ChaCha8Rng,
    alpha: f32,
) {
    let ts = head_ts(scene);
    let n = sp.petals.max(3);
    let r = scene.radius;
    let c = &scene.colours;
    let step = 360.0 / n as f32;
    let w = petal_width(sp, r);
    let paint = canvas::radial(
        (0.0, 0.0),
        r,
        &[
            (0.0, c.petal.darken(0.28), alpha),
            (0.3, c.petal.darken(0.05), alpha),
            (0.7, c.petal, alpha),
            (1.0, c.petal.lighten(0.12), alpha),
        ],
    );
    let rings: &[(f32, f32, f32)] = if sp.double {
        &[(1.0, 0.0, 0.0), (0.72, 0.5, 0.06)]
    } else {
        &[(1.0, 0.0, 0.0)]
    };
    for &(scale, offset, darker) in rings {
        let mut order: Vec<u32> = (0..n).collect();
        // Petals overlap in a random order, as in a real bloom.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        for i in order {
            let a = (i as f32 + offset) * step + rng.gen_range(-3.0..3.0);
            let l = r * scale * rng.gen_range(0.92..1.04);
            let Some(p) = petal_path(sp.petal_shape, l, w * scale.sqrt())
                .transform(Transform::from_rotate(a))
            else {
                continue;
            };
            // Outline under each petal's fill: later petals keep a visible edge over earlier ones.
            canvas::stroke_rgb(pm, &p, c.petal.ink(), 0.8 * alpha, 1.3, ts);
            if darker > 0.0 {
                let inner = canvas::radial(
                    (0.0, 0.0),
                    r * scale,
                    &[
                        (0.0, c.petal.darken(0.22), alpha),
                        (1.0, c.petal.darken(darker), alpha),
                    ],
                );
                canvas::fill(pm, &p, &inner, ts);
            } else {
                canvas::fill(pm, &p, &paint, ts);
            }
            if alpha >= 1.0 {
                let (ca, sa) = (a.to_radians().cos(), a.to_radians().sin());
                let vein = canvas::polyline(&[
                    (l * 0.12 * ca, l * 0.12 * sa),
                    (l * 0.7 * ca, l * 0.7 * sa),
                ]);
                canvas::stroke_rgb(pm, &vein, c.petal.darken(0.3), 0.35, 0.9, ts);
            }
        }
    }

    // Centre disc with stamens.
    let cr = r * if n > 10 { 0.3 } else { 0.22 };
    let disc = canvas::circle(0.0, 0.0, cr);
    canvas::stroke_rgb(pm, &disc, c.centre.ink(), alpha, 1.5, ts);
    canvas::fill(
        pm,
        &disc,
        &canvas::radial(
            (-cr * 0.25, -cr * 0.25),
            cr * 1.2,
            &[
                (0.0, c.centre.lighten(0.2), alpha),
                (0.7, c.centre, alpha),
                (1.0, c.centre.darken(0.25), alpha),
            ],
        ),
        ts,
    );
    if alpha >= 1.0 {
        let dots = (cr * 1.2) as usize;
        for _ in 0..dots {
            let a: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            let d = cr * rng.gen_range(0.2..0.85f32).sqrt();
            let tone = if rng.gen_bool(0.5) {
                c.centre.darken(0.3)
            } else {
                c.centre.lighten(0.3)
            };
            let dot = canvas::circle(d * a.cos(), d * a.sin(), rng.gen_range(0.8..1.8));
            canvas::fill_rgb(pm, &dot, tone, 0.9, ts);
        }
    }
}

fn draw_stem(pm: &mut Pixmap, scene: &FlowerScene, rng: &mut ChaCha8Rng) {
    let s = SIZE as f32;
    let [cx, cy] = scene.centre;
    let end = (cx + scene.stem_bend * 0.6, s + 10.0);
    let ctrl = (cx + scene.stem_bend, (cy + s) / 2.0);
    let stem = canvas::curve((cx, cy), ctrl, end);
    let id = Transform::identity();
    let w = (scene.radius * 0.09).max(3.0);
    canvas::stroke_rgb(pm, &stem, scene.colours.stem.darken(0.35), 1.0, w + 2.0, id);
    canvas::stroke_rgb(pm, &stem, scene.colours.stem, 1.0, w, id);
    let at = |t: f32| {
        let u = 1.0 - t;
        (
            u * u * cx + 2.0 * u * t * ctrl.0 + t * t * end.0,
            u * u * cy + 2.0 * u * t * ctrl.1 + t * t * end.1,
        )
    };
    for i in 0..scene.leaf_count {
        // Leaves start below the petals so they stay visible.
        let t0 = (scene.radius * 0.9 / (s - cy + 10.0)).min(0.8);
        let t =
            t0 + (1.0 - t0) * (i as f32 + rng.gen_range(0.2..0.8)) / scene.leaf_count.max(1) as f32;
        let p = at(t.min(0.97));
        let side = if i % 2 == 0 { -1.0 } else { 1.0 };
        let angle = if side < 0.0 {
            rng.gen_range(190.0..240.0)
        } else {
            rng.gen_range(-60.0..-10.0)
        };
        let len = scene.radius * rng.gen_range(0.55..0.85);
        draw_leaf(pm, p, angle, len, rng);
    }
}
