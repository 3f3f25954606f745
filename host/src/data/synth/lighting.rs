//! Whole-image lighting and sensor noise, applied last so the subject and background share them.
//!
//! The ranges are deliberately mild: a warm cast or a dim exposure must not turn a "yellow" body
//! orange or a "white" one grey.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use tiny_skia::Pixmap;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lighting {
    pub brightness: f32,
    pub contrast: f32,
    /// Per-channel gain (colour temperature).
    pub tint: [f32; 3],
    /// Darkening at the corners, 0 = none.
    pub vignette: f32,
    /// A soft directional light: brightness slope across the image along `light_angle`.
    pub light_slope: f32,
    pub light_angle: f32,
    /// Standard deviation of the Gaussian noise, in 8-bit levels.
    pub noise: f32,
    pub noise_seed: u64,
}

impl Lighting {
    pub fn sample(rng: &mut ChaCha8Rng) -> Self {
        let warm: f32 = rng.gen_range(-0.035..0.035);
        Self {
            brightness: rng.gen_range(0.92..1.07),
            contrast: rng.gen_range(0.92..1.10),
            tint: [1.0 + warm, 1.0 + rng.gen_range(-0.012..0.012), 1.0 - warm],
            vignette: if rng.gen_bool(0.6) {
                rng.gen_range(0.05..0.3)
            } else {
                0.0
            },
            light_slope: rng.gen_range(0.0..0.08),
            light_angle: rng.gen_range(0.0..std::f32::consts::TAU),
            noise: rng.gen_range(1.0..4.5),
            noise_seed: rng.gen(),
        }
    }

    /// Applies the lighting in place to an opaque pixmap.
    pub fn apply(&self, pm: &mut Pixmap) {
        let (w, h) = (pm.width() as usize, pm.height() as usize);
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(self.noise_seed);
        let normal = Normal::new(0.0f32, self.noise.max(0.0)).expect("finite sigma");
        let (dx, dy) = (self.light_angle.cos(), self.light_angle.sin());
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let rmax2 = cx * cx + cy * cy;
        let data = pm.data_mut();
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 - cx, y as f32 - cy);
                let r2 = (fx * fx + fy * fy) / rmax2;
                let light = self.brightness
                    * (1.0 - self.vignette * r2 * r2)
                    * (1.0 + self.light_slope * (fx * dx + fy * dy) / cx);
                let i = (y * w + x) * 4;
                for ch in 0..3 {
                    let v = data[i + ch] as f32 / 255.0;
                    let v = ((v * self.tint[ch] * light - 0.5) * self.contrast + 0.5) * 255.0
                        + normal.sample(&mut rng);
                    data[i + ch] = v.round().clamp(0.0, 255.0) as u8;
                }
                data[i + 3] = 255;
            }
        }
    }
}
