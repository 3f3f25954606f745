//! A cartoon bird in side view: body, folded or spread wings, tail, head with crown, crest, eye and
//! beak, on a perch, on the ground or in flight.
//!
//! Geometry lives in a local frame (facing +x, y down, body centre at the origin, about one pixel
//! per unit at scale 1); one transform places, scales, mirrors and tilts the whole bird.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tiny_skia::{FillRule, Mask, Path, PathBuilder, Pixmap, Point, Transform};

use super::background::{self, Backdrop, BackgroundSpec, Ground};
use super::canvas::{self, SIZE};
use super::colour::{ColourName, Rgb};
use super::lighting::Lighting;
use super::species::{BirdSpecies, Eye, Length, Size};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pose {
    Perched,
    Standing,
    Flying,
}

/// The colours actually drawn for each part (species tone plus image jitter).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BirdColours {
    pub body: Rgb,
    pub wing: Rgb,
    pub head: Rgb,
    pub crown: Rgb,
    pub beak: Rgb,
    pub legs: Rgb,
    pub iris: Rgb,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Perch {
    pub x: f32,
    pub y: f32,
    pub angle_deg: f32,
    pub thickness: f32,
    pub bark: Rgb,
}

/// Everything drawn for one image beyond the species tuple: the per-image jitter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BirdScene {
    pub pose: Pose,
    pub facing_left: bool,
    pub centre: [f32; 2],
    pub scale: f32,
    pub tilt_deg: f32,
    pub head_tilt_deg: f32,
    pub head_radius: f32,
    /// Species-fixed stretch along and across the body axis.
    pub body_aspect: [f32; 2],
    pub tail_angle_deg: f32,
    pub tail_length: f32,
    pub beak_length: f32,
    pub wing_raise: f32,
    pub wing_droop: f32,
    pub colours: BirdColours,
    pub background: BackgroundSpec,
    pub perch: Option<Perch>,
    pub lighting: Lighting,
}

/// Where tests may sample a part's colour (image coordinates, a disc of `radius`).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub breast: (f32, f32),
    pub radius: f32,
}

const HEAD: (f32, f32) = (30.0, -25.0);
const NECK: (f32, f32) = (22.0, -12.0);
/// Root of a spread wing on the back, front and rear ends.
const WING_FRONT: (f32, f32) = (18.0, -14.0);
const WING_BACK: (f32, f32) = (-24.0, -8.0);
/// Where the test samples body colour: in front of the wing, below the head, above the legs.
const BREAST: (f32, f32) = (18.0, 14.0);

fn base_scale(size: Size) -> f32 {
    match size {
        Size::Small => 1.05,
        Size::Medium => 1.3,
        Size::Large => 1.55,
    }
}

fn beak_dims(len: Length) -> (f32, f32) {
    // (length, thickness): short beaks are thick seed-crackers, long ones slender probes.
    match len {
        Length::Short => (9.0, 8.0),
        Length::Medium => (16.0, 6.5),
        Length::Long => (29.0, 5.5),
    }
}

fn tail_len(len: Length) -> f32 {
    match len {
        Length::Short => 16.0,
        Length::Medium => 32.0,
        Length::Long => 56.0,
    }
}

/// Samples the per-image jitter for `sp`, draws the image and returns it with what was drawn.
pub fn render(sp: &BirdSpecies, rng: &mut ChaCha8Rng) -> (Pixmap, BirdScene, Probe) {
    let mut tone = ChaCha8Rng::seed_from_u64(sp.tone_seed);
    let part = |name: ColourName, tone: &mut ChaCha8Rng, rng: &mut ChaCha8Rng| {
        let species_shade = name.shade(tone, 1.0);
        name.rejitter(species_shade, rng, 1.0)
    };
    let legs = match tone.gen_range(0..3) {
        0 => Rgb::new(0.22, 0.2, 0.2),
        1 => Rgb::new(0.72, 0.52, 0.46),
        _ => Rgb::new(0.45, 0.35, 0.28),
    };
    let colours = BirdColours {
        body: part(sp.body, &mut tone, rng),
        wing: part(sp.wing, &mut tone, rng),
        head: part(sp.head, &mut tone, rng),
        crown: part(sp.crown, &mut tone, rng),
        beak: part(sp.beak_colour, &mut tone, rng),
        legs,
        iris: match sp.eye {
            Eye::Red => part(ColourName::Red, &mut tone, rng),
            Eye::Yellow => part(ColourName::Yellow, &mut tone, rng),
            Eye::WhiteRing => Rgb::new(0.97, 0.97, 0.96),
            Eye::Black => Rgb::new(0.05, 0.05, 0.05),
        },
    };
    let head_radius = 17.0 * tone.gen_range(0.92..1.1) * rng.gen_range(0.97..1.03);
    // Plump or slender: a species-fixed stretch of the whole body plan.
    let body_aspect = [tone.gen_range(0.9..1.12), tone.gen_range(0.88..1.08)];

    let pose = match rng.gen_range(0..10) {
        0..=4 => Pose::Perched,
        5..=7 => Pose::Standing,
        _ => Pose::Flying,
    };
    let (tilt_deg, tail_angle_deg) = match pose {
        Pose::Perched => (rng.gen_range(-34.0..-10.0), rng.gen_range(18.0..42.0)),
        Pose::Standing => (rng.gen_range(-16.0..2.0), rng.gen_range(5.0..28.0)),
        Pose::Flying => (rng.gen_range(-12.0..10.0), rng.gen_range(-8.0..14.0)),
    };
    let (beak_length, _) = beak_dims(sp.beak);
    let mut scene = BirdScene {
        pose,
        facing_left: rng.gen_bool(0.5),
        centre: [128.0, 128.0],
        scale: base_scale(sp.size) * rng.gen_range(0.9..1.1),
        tilt_deg,
        head_tilt_deg: rng.gen_range(-14.0..14.0),
        head_radius,
        body_aspect,
        tail_angle_deg,
        tail_length: tail_len(sp.tail) * rng.gen_range(0.9..1.1),
        beak_length: beak_length * rng.gen_range(0.92..1.08),
        wing_raise: rng.gen_range(0.2..1.0),
        wing_droop: rng.gen_range(-4.0..8.0),
        colours,
        background: BackgroundSpec::sample(rng, &Backdrop::BIRD),
        perch: None,
        lighting: Lighting::sample(rng),
    };
    place(&mut scene, sp, rng);

    let bbox = bird_bbox(&scene, sp);
    let (feet_y, _) = feet(&scene);
    if pose == Pose::Standing {
        let g = Ground::ALL[rng.gen_range(0..Ground::ALL.len())];
        scene.background.ground = Some((g, feet_y - rng.gen_range(12.0..60.0)));
    }
    if pose == Pose::Perched {
        let thickness = rng.gen_range(7.0..14.0) * scene.scale.sqrt();
        scene.perch = Some(Perch {
            x: map(body_ts(&scene), (0.0, 0.0)).0,
            y: feet_y + thickness * 0.45,
            angle_deg: rng.gen_range(-14.0..14.0),
            thickness,
            bark: Rgb::new(0.38, 0.28, 0.2)
                .lerp(Rgb::new(0.5, 0.48, 0.45), rng.gen_range(0.0..1.0)),
        });
    }

    // A background too close to the bird's main colours would hide the colour the caption names:
    // redraw it with another backdrop (deterministically, from the same stream).
    let mut pm = canvas::new_pixmap();
    for attempt in 0..6 {
        pm = canvas::new_pixmap();
        let mut bg_rng = ChaCha8Rng::seed_from_u64(scene.background.seed);
        background::paint(&mut pm, &scene.background, &mut bg_rng);
        background::finish(&mut pm, &scene.background);
        let around = canvas::mean_rgb(&pm, bbox.0, bbox.1, bbox.2, bbox.3);
        let clash =
            around.distance(scene.colours.body) < 0.28 || around.distance(scene.colours.wing) < 0.2;
        if !clash || attempt == 5 {
            break;
        }
        let ground = scene.background.ground;
        scene.background = BackgroundSpec::sample(rng, &Backdrop::BIRD);
        scene.background.ground = ground;
    }

    let probe = draw(&mut pm, &scene, sp, rng);
    scene.lighting.apply(&mut pm);
    (pm, scene, probe)
}

/// The bird's transform: place, scale (mirrored when facing left), tilt.
fn body_ts(scene: &BirdScene) -> Transform {
    let flip = if scene.facing_left { -1.0 } else { 1.0 };
    Transform::from_translate(scene.centre[0], scene.centre[1])
        .pre_scale(flip * scene.scale, scene.scale)
        .pre_rotate(scene.tilt_deg)
        .pre_scale(scene.body_aspect[0], scene.body_aspect[1])
}

fn head_ts(scene: &BirdScene) -> Transform {
    body_ts(scene).pre_concat(Transform::from_rotate_at(
        scene.head_tilt_deg,
        NECK.0,
        NECK.1,
    ))
}

fn map(ts: Transform, p: (f32, f32)) -> (f32, f32) {
    let mut q = Point::from_xy(p.0, p.1);
    ts.map_point(&mut q);
    (q.x, q.y)
}

/// Feet line (image y) and the two hip points (image coordinates).
fn feet(scene: &BirdScene) -> (f32, [(f32, f32); 2]) {
    let ts = body_ts(scene);
    let hips = [map(ts, (6.0, 20.0)), map(ts, (-6.0, 22.0))];
    let lowest = hips[0].1.max(hips[1].1);
    (lowest + 14.0 * scene.scale, hips)
}

fn tail_points(scene: &BirdScene) -> [(f32, f32); 5] {
    let a = (180.0 - scene.tail_angle_deg).to_radians();
    let dir = (a.cos(), a.sin());
    let root = (-26.0, 2.0);
    let l = scene.tail_length;
    let tip = (root.0 + dir.0 * l, root.1 + dir.1 * l);
    let perp = (-dir.1, dir.0);
    let half = 6.0 + l * 0.12;
    [
        (root.0 + 2.0, root.1 - 9.0),
        (tip.0 + perp.0 * half, tip.1 + perp.1 * half),
        (tip.0 + dir.0 * 3.0, tip.1 + dir.1 * 3.0),
        (tip.0 - perp.0 * half, tip.1 - perp.1 * half),
        (root.0 + 6.0, root.1 + 11.0),
    ]
}

fn beak_tip(scene: &BirdScene) -> (f32, f32) {
    let r = scene.head_radius;
    let droop = if scene.beak_length > 22.0 { 0.18 } else { 0.06 };
    (
        HEAD.0 + r * 0.8 + scene.beak_length,
        HEAD.1 + r * 0.15 + scene.beak_length * droop,
    )
}

fn flying_wing_tip(scene: &BirdScene) -> (f32, f32) {
    let u = scene.wing_raise;
    (-84.0 + 62.0 * u, -26.0 - 72.0 * u)
}

/// An approximate image-space bounding box (x0, y0, x1, y1).
fn bird_bbox(scene: &BirdScene, sp: &BirdSpecies) -> (f32, f32, f32, f32) {
    let ts = body_ts(scene);
    let hts = head_ts(scene);
    let r = scene.head_radius;
    let mut pts: Vec<(f32, f32)> = vec![
        map(ts, (-38.0, 0.0)),
        map(ts, (38.0, 0.0)),
        map(ts, (0.0, -27.0)),
        map(ts, (0.0, 27.0)),
        map(ts, (-58.0, scene.wing_droop)),
        map(hts, beak_tip(scene)),
        map(hts, (HEAD.0, HEAD.1 - r * if sp.crest { 1.9 } else { 1.0 })),
        map(hts, (HEAD.0 - r, HEAD.1)),
    ];
    pts.extend(tail_points(scene).iter().map(|&p| map(ts, p)));
    match scene.pose {
        Pose::Flying => pts.push(map(ts, flying_wing_tip(scene))),
        _ => pts.push((map(ts, (0.0, 0.0)).0, feet(scene).0 + 2.0)),
    }
    let x0 = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min);
    let x1 = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max);
    let y0 = pts.iter().map(|p| p.1).fold(f32::MAX, f32::min);
    let y1 = pts.iter().map(|p| p.1).fold(f32::MIN, f32::max);
    (x0, y0, x1, y1)
}

/// Picks the centre so the whole bird is in frame, shrinking birds that would not fit.
fn place(scene: &mut BirdScene, sp: &BirdSpecies, rng: &mut ChaCha8Rng) {
    let margin = 6.0;
    let s = SIZE as f32;
    let (mut ux, mut uy): (f32, f32) = (rng.gen_range(0.0..1.0), rng.gen_range(0.0..1.0));
    for _ in 0..20 {
        scene.centre = [0.0, 0.0];
        let (x0, y0, x1, y1) = bird_bbox(scene, sp);
        let (w, h) = (x1 - x0, y1 - y0);
        if w + 2.0 * margin <= s && h + 2.0 * margin <= s {
            // Bias towards the middle: photographers centre birds, but not perfectly.
            ux = 0.5 + (ux - 0.5) * 0.8;
            uy = 0.5 + (uy - 0.5) * 0.8;
            let cx = margin - x0 + ux * (s - 2.0 * margin - w);
            let cy = margin - y0 + uy * (s - 2.0 * margin - h);
            scene.centre = [cx, cy];
            return;
        }
        scene.scale *= 0.93;
    }
    scene.centre = [s / 2.0, s / 2.0];
}

fn body_path() -> Path {
    let mut pb = PathBuilder::new();
    pb.move_to(37.0, 2.0);
    pb.cubic_to(37.0, 19.0, 20.0, 27.0, 2.0, 27.0);
    pb.cubic_to(-17.0, 27.0, -37.0, 14.0, -37.0, -2.0);
    pb.cubic_to(-37.0, -16.0, -17.0, -25.0, 2.0, -25.0);
    pb.cubic_to(22.0, -25.0, 37.0, -15.0, 37.0, 2.0);
    pb.close();
    pb.finish().expect("body path")
}

fn folded_wing_path(droop: f32) -> Path {
    let mut pb = PathBuilder::new();
    pb.move_to(24.0, -12.0);
    pb.cubic_to(10.0, -30.0, -30.0, -22.0, -58.0, droop);
    pb.cubic_to(-36.0, 9.0, -6.0, 17.0, 16.0, 6.0);
    pb.cubic_to(24.0, 2.0, 27.0, -6.0, 24.0, -12.0);
    pb.close();
    pb.finish().expect("wing path")
}

/// A spread wing from the back, tip at `tip`, trailing edge scalloped by primary feathers.
fn spread_wing_path(tip: (f32, f32)) -> Path {
    let (front, back) = (WING_FRONT, WING_BACK);
    let mut pb = PathBuilder::new();
    pb.move_to(front.0, front.1);
    pb.cubic_to(
        front.0 + 4.0,
        front.1 - 30.0,
        tip.0 + 22.0,
        tip.1 - 6.0,
        tip.0,
        tip.1,
    );
    let d = (back.0 - tip.0, back.1 - tip.1);
    let len = (d.0 * d.0 + d.1 * d.1).sqrt().max(1.0);
    let mut n = (d.1 / len, -d.0 / len);
    if n.0 > 0.0 {
        n = (-n.0, -n.1);
    }
    let feathers = 5;
    let mut prev = tip;
    for i in 1..=feathers {
        let t = i as f32 / feathers as f32;
        let p = (tip.0 + d.0 * t, tip.1 + d.1 * t);
        let bulge = 11.0 * (1.0 - 0.5 * t);
        let c = (
            (prev.0 + p.0) / 2.0 + n.0 * bulge,
            (prev.1 + p.1) / 2.0 + n.1 * bulge,
        );
        pb.quad_to(c.0, c.1, p.0, p.1);
        prev = p;
    }
    pb.close();
    pb.finish().expect("spread wing path")
}

fn outline(pm: &mut Pixmap, path: &Path, c: Rgb, scene: &BirdScene, ts: Transform) {
    canvas::stroke_rgb(pm, path, c.ink(), 1.0, 2.6 / scene.scale, ts);
}

fn draw(pm: &mut Pixmap, scene: &BirdScene, sp: &BirdSpecies, rng: &mut ChaCha8Rng) -> Probe {
    let ts = body_ts(scene);
    let hts = head_ts(scene);
    let c = &scene.colours;
    let (feet_y, hips) = feet(scene);
    let flip = if scene.facing_left { -1.0 } else { 1.0 };

    if let Some(perch) = &scene.perch {
        draw_perch(pm, perch, rng);
    }
    if scene.pose == Pose::Standing {
        let (cx, _) = map(ts, (0.0, 0.0));
        let shadow = canvas::ellipse(cx, feet_y + 1.5, 30.0 * scene.scale, 5.0 * scene.scale);
        canvas::fill_rgb(
            pm,
            &shadow,
            Rgb::new(0.0, 0.0, 0.0),
            0.25,
            Transform::identity(),
        );
    }

    // Far wing first, so the body hides its root.
    if scene.pose == Pose::Flying {
        let tip = flying_wing_tip(scene);
        let far = spread_wing_path((tip.0 + 10.0, tip.1 + 6.0));
        let far_ts = ts.pre_translate(6.0, -2.0);
        outline(pm, &far, c.wing, scene, far_ts);
        canvas::fill_rgb(pm, &far, c.wing.darken(0.22), 1.0, far_ts);
    }

    // Tail.
    let tail = canvas::polygon(&tail_points(scene));
    outline(pm, &tail, c.wing, scene, ts);
    canvas::fill_rgb(pm, &tail, c.wing.darken(0.08), 1.0, ts);
    let tp = tail_points(scene);
    for k in [0.35f32, 0.65] {
        let a = ((tp[0].0 + tp[4].0) / 2.0, (tp[0].1 + tp[4].1) / 2.0);
        let b = (
            tp[1].0 + (tp[3].0 - tp[1].0) * k,
            tp[1].1 + (tp[3].1 - tp[1].1) * k,
        );
        let line = canvas::polyline(&[a, b]);
        canvas::stroke_rgb(pm, &line, c.wing.ink(), 0.5, 1.0 / scene.scale, ts);
    }

    // Legs and toes, in image space so they stay vertical whatever the tilt.
    if scene.pose != Pose::Flying {
        let w = 2.6 * scene.scale;
        for (i, &(hx, hy)) in hips.iter().enumerate() {
            let fx = hx + flip * (if i == 0 { 2.0 } else { -1.0 }) * scene.scale;
            let leg = canvas::polyline(&[(hx, hy), (fx, feet_y)]);
            canvas::stroke_rgb(pm, &leg, c.legs, 1.0, w, Transform::identity());
            let t = 7.0 * scene.scale;
            let toes = [
                (fx + flip * t, feet_y + 0.8),
                (fx + flip * t * 0.7, feet_y + 2.5),
                (fx - flip * t * 0.6, feet_y + 0.5),
            ];
            for toe in toes {
                let p = canvas::polyline(&[(fx, feet_y), toe]);
                canvas::stroke_rgb(pm, &p, c.legs, 1.0, w * 0.7, Transform::identity());
            }
        }
    }

    // Body and head outlines under their fills, so only the silhouette edge remains and the neck
    // is seamless.
    let r = scene.head_radius;
    let (hx, hy) = HEAD;
    let head = canvas::circle(hx, hy, r);
    let body = body_path();
    outline(pm, &body, c.body, scene, ts);
    outline(pm, &head, c.head, scene, hts);
    canvas::fill(
        pm,
        &body,
        &canvas::radial(
            (12.0, -10.0),
            48.0,
            &[
                (0.0, c.body.lighten(0.16), 1.0),
                (0.55, c.body, 1.0),
                (1.0, c.body.darken(0.2), 1.0),
            ],
        ),
        ts,
    );

    // Wings.
    match scene.pose {
        Pose::Flying => {
            let wing = spread_wing_path(flying_wing_tip(scene));
            outline(pm, &wing, c.wing, scene, ts);
            canvas::fill(
                pm,
                &wing,
                &wing_gradient(c.wing, (0.0, -20.0), flying_wing_tip(scene)),
                ts,
            );
            let tip = flying_wing_tip(scene);
            let lerp = |a: (f32, f32), b: (f32, f32), t: f32| {
                (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
            };
            feather_lines(pm, scene, c.wing, ts, |k| {
                let edge = lerp(tip, WING_BACK, 0.2 + 0.2 * k);
                let root = lerp(WING_FRONT, WING_BACK, 0.3 + 0.2 * k);
                [root, lerp(root, edge, 0.85)]
            });
            if sp.wing_bars {
                let bars: Vec<[(f32, f32); 2]> = [0.4f32, 0.58]
                    .iter()
                    .map(|&t| {
                        let a = lerp(WING_FRONT, tip, t);
                        let b = lerp(WING_BACK, tip, t);
                        [lerp(b, a, 1.2), lerp(a, b, 1.2)]
                    })
                    .collect();
                wing_bars(pm, &wing, &bars, ts);
            }
        }
        _ => {
            let wing = folded_wing_path(scene.wing_droop);
            outline(pm, &wing, c.wing, scene, ts);
            canvas::fill(
                pm,
                &wing,
                &wing_gradient(c.wing, (0.0, -20.0), (-20.0, 14.0)),
                ts,
            );
            feather_lines(pm, scene, c.wing, ts, |k| {
                [
                    (-8.0 - 9.0 * k, 12.0 - 7.0 * k),
                    (-54.0 + 5.0 * k, scene.wing_droop - 0.5 * k),
                ]
            });
            if sp.wing_bars {
                let bars = [[(6.0, -20.0), (-2.0, 16.0)], [(-8.0, -20.0), (-15.0, 16.0)]];
                wing_bars(pm, &wing, &bars, ts);
            }
        }
    }

    // Crest behind the head, then the head, the crown cap, eye and beak.
    if sp.crest {
        let pt = |deg: f32, k: f32| {
            let a = deg.to_radians();
            (hx + r * k * a.cos(), hy + r * k * a.sin())
        };
        let crest = canvas::polygon(&[
            pt(200.0, 0.9),
            pt(205.0, 1.85),
            pt(222.0, 1.35),
            pt(228.0, 1.95),
            pt(243.0, 1.35),
            pt(252.0, 1.8),
            pt(268.0, 0.9),
        ]);
        outline(pm, &crest, c.crown, scene, hts);
        canvas::fill_rgb(pm, &crest, c.crown, 1.0, hts);
    }
    canvas::fill(
        pm,
        &head,
        &canvas::radial(
            (hx + r * 0.2, hy - r * 0.35),
            r * 1.3,
            &[
                (0.0, c.head.lighten(0.14), 1.0),
                (0.6, c.head, 1.0),
                (1.0, c.head.darken(0.15), 1.0),
            ],
        ),
        hts,
    );
    if sp.crown != sp.head {
        let arc = canvas::arc_points(hx, hy, r, 192f32.to_radians(), 328f32.to_radians(), 16);
        let mut cap = arc.clone();
        cap.push((hx + r * 0.3, hy - r * 0.22));
        cap.push((hx - r * 0.45, hy - r * 0.05));
        let cap = canvas::polygon(&cap);
        canvas::fill_rgb(pm, &cap, c.crown, 1.0, hts);
        // The cap covered the inner half of the head's outline: redraw that arc.
        let edge = canvas::polyline(&arc);
        canvas::stroke_rgb(pm, &edge, c.crown.ink(), 1.0, 1.3 / scene.scale, hts);
    }

    // Eye.
    let (ex, ey) = (hx + r * 0.38, hy - r * 0.1);
    let er = r * 0.2;
    match sp.eye {
        Eye::WhiteRing => {
            canvas::fill_rgb(pm, &canvas::circle(ex, ey, er * 1.6), c.iris, 1.0, hts);
            canvas::fill_rgb(
                pm,
                &canvas::circle(ex, ey, er),
                Rgb::new(0.04, 0.04, 0.04),
                1.0,
                hts,
            );
        }
        Eye::Red | Eye::Yellow => {
            canvas::fill_rgb(pm, &canvas::circle(ex, ey, er * 1.25), c.iris, 1.0, hts);
            canvas::stroke_rgb(
                pm,
                &canvas::circle(ex, ey, er * 1.25),
                Rgb::new(0.1, 0.1, 0.1),
                1.0,
                0.8 / scene.scale,
                hts,
            );
            canvas::fill_rgb(
                pm,
                &canvas::circle(ex, ey, er * 0.55),
                Rgb::new(0.03, 0.03, 0.03),
                1.0,
                hts,
            );
        }
        Eye::Black => {
            canvas::fill_rgb(
                pm,
                &canvas::circle(ex, ey, er),
                Rgb::new(0.04, 0.04, 0.04),
                1.0,
                hts,
            );
        }
    }
    let glint = canvas::circle(ex + er * 0.3, ey - er * 0.35, er * 0.32);
    canvas::fill_rgb(pm, &glint, Rgb::new(1.0, 1.0, 1.0), 0.9, hts);

    // Beak: upper and lower mandible.
    let (_, thick) = beak_dims(sp.beak);
    let base = (hx + r * 0.8, hy + r * 0.15);
    let tip = beak_tip(scene);
    let upper = {
        let mut pb = PathBuilder::new();
        pb.move_to(base.0 - 3.0, base.1 - thick * 0.55);
        pb.quad_to(
            base.0 + scene.beak_length * 0.5,
            base.1 - thick * 0.45,
            tip.0,
            tip.1,
        );
        pb.quad_to(
            base.0 + scene.beak_length * 0.5,
            base.1 + thick * 0.1,
            base.0 - 3.0,
            base.1 + thick * 0.12,
        );
        pb.close();
        pb.finish().expect("beak path")
    };
    let lower = {
        let mut pb = PathBuilder::new();
        pb.move_to(base.0 - 3.0, base.1 + thick * 0.05);
        pb.quad_to(
            base.0 + scene.beak_length * 0.5,
            base.1 + thick * 0.2,
            tip.0 - scene.beak_length * 0.12,
            tip.1 + 0.5,
        );
        pb.quad_to(
            base.0 + scene.beak_length * 0.4,
            base.1 + thick * 0.6,
            base.0 - 3.0,
            base.1 + thick * 0.5,
        );
        pb.close();
        pb.finish().expect("beak path")
    };
    outline(pm, &lower, c.beak, scene, hts);
    outline(pm, &upper, c.beak, scene, hts);
    canvas::fill_rgb(pm, &lower, c.beak.darken(0.15), 1.0, hts);
    canvas::fill_rgb(pm, &upper, c.beak.lighten(0.05), 1.0, hts);

    Probe {
        breast: map(ts, BREAST),
        radius: 3.0 * scene.scale,
    }
}

fn wing_gradient(c: Rgb, from: (f32, f32), to: (f32, f32)) -> tiny_skia::Paint<'static> {
    canvas::linear(
        from,
        to,
        &[(0.0, c.lighten(0.12), 1.0), (1.0, c.darken(0.12), 1.0)],
    )
}

/// Three darker strokes suggesting primary feathers; `seg(k)` gives the k-th stroke's ends.
fn feather_lines(
    pm: &mut Pixmap,
    scene: &BirdScene,
    c: Rgb,
    ts: Transform,
    seg: impl Fn(f32) -> [(f32, f32); 2],
) {
    for k in 0..3 {
        let [a, b] = seg(k as f32);
        let p = canvas::polyline(&[a, b]);
        canvas::stroke_rgb(pm, &p, c.ink(), 0.45, 1.1 / scene.scale, ts);
    }
}

/// White bars across the wing, clipped to the wing's outline.
fn wing_bars(pm: &mut Pixmap, wing: &Path, bars: &[[(f32, f32); 2]], ts: Transform) {
    let Some(mut mask) = Mask::new(SIZE, SIZE) else {
        return;
    };
    mask.fill_path(wing, FillRule::Winding, true, ts);
    let stroke = tiny_skia::Stroke {
        width: 4.5,
        line_cap: tiny_skia::LineCap::Butt,
        ..Default::default()
    };
    for bar in bars {
        let p = canvas::polyline(bar);
        pm.stroke_path(
            &p,
            &canvas::solid(Rgb::new(0.96, 0.96, 0.94), 1.0),
            &stroke,
            ts,
            Some(&mask),
        );
    }
}

fn draw_perch(pm: &mut Pixmap, perch: &Perch, rng: &mut ChaCha8Rng) {
    let s = SIZE as f32;
    let a = perch.angle_deg.to_radians();
    let (dx, dy) = (a.cos(), a.sin());
    let p = (perch.x, perch.y);
    let along = |t: f32| (p.0 + dx * t, p.1 + dy * t);
    // The branch enters from one side; its other end is either out of frame or a tip just past
    // the bird.
    let to_left = -(p.0 + 30.0) / dx;
    let to_right = (s + 30.0 - p.0) / dx;
    let (t0, t1) = if rng.gen_bool(0.5) {
        let tip = if rng.gen_bool(0.5) {
            to_right
        } else {
            rng.gen_range(45.0..95.0f32).min(to_right)
        };
        (to_left, tip)
    } else {
        let tip = if rng.gen_bool(0.5) {
            to_left
        } else {
            (-rng.gen_range(45.0..95.0f32)).max(to_left)
        };
        (tip, to_right)
    };
    let (a0, a1) = (along(t0), along(t1));
    let bend = rng.gen_range(-5.0..5.0);
    let mid = ((a0.0 + a1.0) / 2.0, (a0.1 + a1.1) / 2.0 + bend);

    let id = Transform::identity();
    // Twigs with leaves, behind the branch.
    for _ in 0..rng.gen_range(1..4) {
        let (bx, by) = along(t0 + (t1 - t0) * rng.gen_range(0.1..0.95f32));
        let up = if rng.gen_bool(0.5) { -1.0 } else { 1.0 };
        let end = (
            bx + rng.gen_range(-40.0..40.0),
            by + up * rng.gen_range(20.0..50.0),
        );
        let twig = canvas::curve((bx, by), ((bx + end.0) / 2.0, by + up * 5.0), end);
        canvas::stroke_rgb(
            pm,
            &twig,
            perch.bark.darken(0.1),
            1.0,
            perch.thickness * 0.3,
            id,
        );
        for _ in 0..rng.gen_range(1..4) {
            let t: f32 = rng.gen_range(0.4..1.0);
            let (lx, ly) = (bx + (end.0 - bx) * t, by + (end.1 - by) * t);
            draw_leaf(
                pm,
                (lx, ly),
                rng.gen_range(0.0..360.0),
                rng.gen_range(8.0..15.0),
                rng,
            );
        }
    }
    let branch = canvas::curve(a0, mid, a1);
    canvas::stroke_rgb(
        pm,
        &branch,
        perch.bark.darken(0.35),
        1.0,
        perch.thickness + 2.0,
        id,
    );
    canvas::stroke_rgb(pm, &branch, perch.bark, 1.0, perch.thickness, id);
    // A highlight along the top of the bark.
    let up = perch.thickness * 0.22;
    let hl = canvas::curve((a0.0, a0.1 - up), (mid.0, mid.1 - up), (a1.0, a1.1 - up));
    canvas::stroke_rgb(
        pm,
        &hl,
        perch.bark.lighten(0.2),
        0.6,
        perch.thickness * 0.25,
        id,
    );
}

/// A leaf: two arcs meeting at a point, with a midrib.
pub fn draw_leaf(pm: &mut Pixmap, at: (f32, f32), angle_deg: f32, len: f32, rng: &mut ChaCha8Rng) {
    let ts = Transform::from_translate(at.0, at.1).pre_rotate(angle_deg);
    let w = len * rng.gen_range(0.28..0.42);
    let mut pb = PathBuilder::new();
    pb.move_to(0.0, 0.0);
    pb.quad_to(len * 0.5, -w, len, 0.0);
    pb.quad_to(len * 0.5, w, 0.0, 0.0);
    pb.close();
    let Some(leaf) = pb.finish() else {
        return;
    };
    let g = rng.gen_range(0.35..0.62);
    let c = Rgb::new(
        g * rng.gen_range(0.35..0.7),
        g,
        g * rng.gen_range(0.2..0.45),
    );
    canvas::fill_rgb(pm, &leaf, c, 1.0, ts);
    canvas::stroke_rgb(pm, &leaf, c.ink(), 0.7, 0.8, ts);
    let rib = canvas::polyline(&[(0.0, 0.0), (len * 0.85, 0.0)]);
    canvas::stroke_rgb(pm, &rib, c.darken(0.35), 0.6, 0.6, ts);
}
