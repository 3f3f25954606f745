//! Backgrounds: sky gradients, foliage bokeh, tree trunks, distant branches and ground, painted
//! sharp and then blurred like a shallow depth of field behind the subject.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tiny_skia::{Pixmap, Transform};

use super::canvas::{self, SIZE};
use super::colour::Rgb;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backdrop {
    ClearSky,
    DuskSky,
    Overcast,
    Foliage,
    Forest,
    DarkFoliage,
    Soil,
}

impl Backdrop {
    pub const BIRD: [Backdrop; 6] = [
        Backdrop::ClearSky,
        Backdrop::DuskSky,
        Backdrop::Overcast,
        Backdrop::Foliage,
        Backdrop::Forest,
        Backdrop::DarkFoliage,
    ];
    pub const FLOWER: [Backdrop; 5] = [
        Backdrop::Foliage,
        Backdrop::DarkFoliage,
        Backdrop::ClearSky,
        Backdrop::Soil,
        Backdrop::Forest,
    ];

    pub fn is_sky(self) -> bool {
        matches!(
            self,
            Backdrop::ClearSky | Backdrop::DuskSky | Backdrop::Overcast
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ground {
    Grass,
    Sand,
    Soil,
    Rock,
}

impl Ground {
    pub const ALL: [Ground; 4] = [Ground::Grass, Ground::Sand, Ground::Soil, Ground::Rock];
}

/// What the background of one image is, recorded in its attributes file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackgroundSpec {
    pub backdrop: Backdrop,
    /// Ground from this y down (a standing bird's feet are below it).
    pub ground: Option<(Ground, f32)>,
    pub distant_branches: u32,
    pub blur: u32,
    pub seed: u64,
}

impl BackgroundSpec {
    pub fn sample(rng: &mut ChaCha8Rng, choices: &[Backdrop]) -> Self {
        Self {
            backdrop: choices[rng.gen_range(0..choices.len())],
            ground: None,
            distant_branches: if rng.gen_bool(0.4) {
                rng.gen_range(1..4)
            } else {
                0
            },
            blur: rng.gen_range(2..6),
            seed: rng.gen(),
        }
    }
}

fn jit(rng: &mut ChaCha8Rng, c: Rgb, d: f32) -> Rgb {
    Rgb::new(
        (c.r + rng.gen_range(-d..d)).clamp(0.0, 1.0),
        (c.g + rng.gen_range(-d..d)).clamp(0.0, 1.0),
        (c.b + rng.gen_range(-d..d)).clamp(0.0, 1.0),
    )
}

fn green(rng: &mut ChaCha8Rng, dark: bool) -> Rgb {
    let (lo, hi) = if dark { (0.10, 0.35) } else { (0.25, 0.70) };
    let v = rng.gen_range(lo..hi);
    let g = v;
    let r = v * rng.gen_range(0.30..0.85);
    let b = v * rng.gen_range(0.15..0.55);
    Rgb::new(r, g, b)
}

/// Paints the backdrop (and ground, distant branches) without blurring, so the caller can add
/// more far-away things (background flowers) before `finish` blurs the lot.
pub fn paint(pm: &mut Pixmap, spec: &BackgroundSpec, rng: &mut ChaCha8Rng) {
    let s = SIZE as f32;
    let id = Transform::identity();
    let full = canvas::rect(0.0, 0.0, s, s);
    match spec.backdrop {
        Backdrop::ClearSky | Backdrop::DuskSky | Backdrop::Overcast => {
            let stops: Vec<(f32, Rgb, f32)> = match spec.backdrop {
                Backdrop::ClearSky => vec![
                    (0.0, jit(rng, Rgb::new(0.30, 0.55, 0.88), 0.06), 1.0),
                    (1.0, jit(rng, Rgb::new(0.74, 0.87, 0.97), 0.04), 1.0),
                ],
                Backdrop::DuskSky => vec![
                    (0.0, jit(rng, Rgb::new(0.36, 0.40, 0.66), 0.05), 1.0),
                    (0.6, jit(rng, Rgb::new(0.86, 0.66, 0.62), 0.05), 1.0),
                    (1.0, jit(rng, Rgb::new(0.98, 0.85, 0.62), 0.04), 1.0),
                ],
                _ => vec![
                    (0.0, jit(rng, Rgb::new(0.70, 0.73, 0.77), 0.04), 1.0),
                    (1.0, jit(rng, Rgb::new(0.88, 0.89, 0.90), 0.03), 1.0),
                ],
            };
            let tilt = rng.gen_range(-40.0..40.0);
            canvas::fill(
                pm,
                &full,
                &canvas::linear((s / 2.0 + tilt, 0.0), (s / 2.0 - tilt, s), &stops),
                id,
            );
            // Soft clouds: clusters of translucent white puffs.
            for _ in 0..rng.gen_range(0..4) {
                let (cx, cy) = (rng.gen_range(-20.0..s + 20.0), rng.gen_range(0.0..s * 0.8));
                let alpha = rng.gen_range(0.25..0.6);
                for _ in 0..rng.gen_range(4..9) {
                    let r = rng.gen_range(10.0..30.0);
                    let p = canvas::ellipse(
                        cx + rng.gen_range(-40.0..40.0),
                        cy + rng.gen_range(-10.0..10.0),
                        r * 1.5,
                        r,
                    );
                    canvas::fill_rgb(pm, &p, Rgb::new(0.97, 0.97, 0.98), alpha, id);
                }
            }
        }
        Backdrop::Foliage | Backdrop::DarkFoliage | Backdrop::Forest => {
            let dark = spec.backdrop == Backdrop::DarkFoliage;
            let top = green(rng, dark);
            let bottom = green(rng, true);
            canvas::fill(
                pm,
                &full,
                &canvas::linear((0.0, 0.0), (0.0, s), &[(0.0, top, 1.0), (1.0, bottom, 1.0)]),
                id,
            );
            if spec.backdrop == Backdrop::Forest {
                // Tree trunks: vertical bark-coloured bands behind the leaves.
                for _ in 0..rng.gen_range(2..5) {
                    let x = rng.gen_range(0.0..s);
                    let w = rng.gen_range(12.0..40.0);
                    let bark = jit(rng, Rgb::new(0.33, 0.26, 0.20), 0.07);
                    let p = canvas::polygon(&[
                        (x - w / 2.0, -5.0),
                        (x + w / 2.0, -5.0),
                        (x + w / 2.0 + rng.gen_range(-10.0..10.0), s + 5.0),
                        (x - w / 2.0 + rng.gen_range(-10.0..10.0), s + 5.0),
                    ]);
                    canvas::fill_rgb(pm, &p, bark, 1.0, id);
                }
            }
            let blobs = if dark { 50 } else { 110 };
            for _ in 0..rng.gen_range(blobs / 2..blobs) {
                let deep = dark && rng.gen_bool(0.8);
                let c = green(rng, deep);
                let r = rng.gen_range(5.0..30.0);
                let p = canvas::ellipse(
                    rng.gen_range(0.0..s),
                    rng.gen_range(0.0..s),
                    r * rng.gen_range(0.7..1.5),
                    r,
                );
                canvas::fill_rgb(pm, &p, c, rng.gen_range(0.5..0.95), id);
            }
            // Sunlit specks (bokeh): small pale disks.
            for _ in 0..rng.gen_range(0..if dark { 8 } else { 25 }) {
                let c = jit(rng, Rgb::new(0.80, 0.90, 0.55), 0.1);
                let p = canvas::circle(
                    rng.gen_range(0.0..s),
                    rng.gen_range(0.0..s),
                    rng.gen_range(2.0..9.0),
                );
                canvas::fill_rgb(pm, &p, c, rng.gen_range(0.2..0.6), id);
            }
        }
        Backdrop::Soil => {
            let base = jit(rng, Rgb::new(0.36, 0.27, 0.19), 0.06);
            canvas::fill(
                pm,
                &full,
                &canvas::linear(
                    (0.0, 0.0),
                    (0.0, s),
                    &[(0.0, base.lighten(0.1), 1.0), (1.0, base.darken(0.3), 1.0)],
                ),
                id,
            );
            for _ in 0..300 {
                let c = jit(rng, base, 0.12);
                let p = canvas::circle(
                    rng.gen_range(0.0..s),
                    rng.gen_range(0.0..s),
                    rng.gen_range(0.8..3.5),
                );
                canvas::fill_rgb(pm, &p, c, 0.8, id);
            }
            for _ in 0..rng.gen_range(10..30) {
                let c = green(rng, false);
                let (x, y) = (rng.gen_range(0.0..s), rng.gen_range(0.0..s));
                let p = canvas::ellipse(x, y, rng.gen_range(4.0..14.0), rng.gen_range(3.0..7.0));
                canvas::fill_rgb(pm, &p, c, 0.9, id);
            }
        }
    }

    for _ in 0..spec.distant_branches {
        let bark = jit(rng, Rgb::new(0.25, 0.20, 0.16), 0.05);
        let y0 = rng.gen_range(0.0..s);
        let y1 = rng.gen_range(0.0..s);
        let from_left = rng.gen_bool(0.5);
        let (x0, x1) = if from_left {
            (-10.0, rng.gen_range(s * 0.4..s + 10.0))
        } else {
            (s + 10.0, rng.gen_range(-10.0..s * 0.6))
        };
        let mid = (
            (x0 + x1) / 2.0,
            (y0 + y1) / 2.0 + rng.gen_range(-30.0..30.0),
        );
        let p = canvas::curve((x0, y0), mid, (x1, y1));
        canvas::stroke_rgb(pm, &p, bark, 1.0, rng.gen_range(3.0..9.0), id);
        for _ in 0..rng.gen_range(3..8) {
            let t: f32 = rng.gen_range(0.2..1.0);
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            let c = green(rng, false);
            let p = canvas::ellipse(x, y, rng.gen_range(6.0..14.0), rng.gen_range(3.0..7.0));
            canvas::fill_rgb(pm, &p, c, 0.9, id);
        }
    }

    if let Some((ground, top)) = spec.ground {
        paint_ground(pm, ground, top, rng);
    }
}

fn paint_ground(pm: &mut Pixmap, ground: Ground, top: f32, rng: &mut ChaCha8Rng) {
    let s = SIZE as f32;
    let id = Transform::identity();
    let base = match ground {
        Ground::Grass => jit(rng, Rgb::new(0.36, 0.55, 0.22), 0.06),
        Ground::Sand => jit(rng, Rgb::new(0.84, 0.76, 0.58), 0.04),
        Ground::Soil => jit(rng, Rgb::new(0.42, 0.31, 0.21), 0.05),
        Ground::Rock => jit(rng, Rgb::new(0.55, 0.54, 0.52), 0.05),
    };
    // A gently curved horizon.
    let bend = rng.gen_range(-12.0..12.0);
    let mut pts = vec![(-5.0, s + 5.0)];
    pts.extend((0..=16).map(|i| {
        let x = i as f32 * s / 16.0;
        let t = x / s - 0.5;
        (x, top + bend * (1.0 - 4.0 * t * t))
    }));
    pts.push((s + 5.0, s + 5.0));
    let path = canvas::polygon(&pts);
    canvas::fill(
        pm,
        &path,
        &canvas::linear(
            (0.0, top),
            (0.0, s),
            &[(0.0, base.darken(0.1), 1.0), (1.0, base.lighten(0.08), 1.0)],
        ),
        id,
    );
    let n = ((s - top).max(0.0) * 3.0) as usize;
    for _ in 0..n {
        let x = rng.gen_range(0.0..s);
        let y = rng.gen_range(top + 4.0..s + 4.0);
        let c = jit(rng, base, 0.08);
        match ground {
            Ground::Grass => {
                let h = rng.gen_range(4.0..12.0) * (0.4 + (y - top) / (s - top + 1.0));
                let p = canvas::polyline(&[(x, y), (x + rng.gen_range(-3.0..3.0), y - h)]);
                canvas::stroke_rgb(pm, &p, c, 0.9, 1.2, id);
            }
            _ => {
                let p = canvas::ellipse(x, y, rng.gen_range(1.0..4.0), rng.gen_range(0.6..2.0));
                canvas::fill_rgb(pm, &p, c, 0.8, id);
            }
        }
    }
}

/// Blurs what has been painted so far (called once the far layer is complete).
pub fn finish(pm: &mut Pixmap, spec: &BackgroundSpec) {
    canvas::box_blur(pm, spec.blur);
}
