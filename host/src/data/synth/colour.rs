//! Colour words and the RGB shades drawn for them.
//!
//! A colour word in a caption must match what the eye sees, so every word has one HSV anchor and
//! all jitter (per species, per image, lighting) stays inside a band that still reads as that word.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The colour vocabulary shared by drawings and captions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourName {
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Purple,
    Pink,
    Brown,
    Black,
    White,
    Grey,
}

impl ColourName {
    pub const ALL: [ColourName; 11] = [
        ColourName::Red,
        ColourName::Orange,
        ColourName::Yellow,
        ColourName::Green,
        ColourName::Blue,
        ColourName::Purple,
        ColourName::Pink,
        ColourName::Brown,
        ColourName::Black,
        ColourName::White,
        ColourName::Grey,
    ];

    /// The word spoken in captions.
    pub fn word(self) -> &'static str {
        match self {
            ColourName::Red => "red",
            ColourName::Orange => "orange",
            ColourName::Yellow => "yellow",
            ColourName::Green => "green",
            ColourName::Blue => "blue",
            ColourName::Purple => "purple",
            ColourName::Pink => "pink",
            ColourName::Brown => "brown",
            ColourName::Black => "black",
            ColourName::White => "white",
            ColourName::Grey => "grey",
        }
    }

    /// The word as it appears in a class name (`Yellow_Black_Winged_Finch`).
    pub fn title(self) -> &'static str {
        match self {
            ColourName::Red => "Red",
            ColourName::Orange => "Orange",
            ColourName::Yellow => "Yellow",
            ColourName::Green => "Green",
            ColourName::Blue => "Blue",
            ColourName::Purple => "Purple",
            ColourName::Pink => "Pink",
            ColourName::Brown => "Brown",
            ColourName::Black => "Black",
            ColourName::White => "White",
            ColourName::Grey => "Grey",
        }
    }

    /// Achromatic words get value jitter only; a hue shift would turn grey into blue-grey.
    pub fn is_neutral(self) -> bool {
        matches!(
            self,
            ColourName::Black | ColourName::White | ColourName::Grey
        )
    }

    /// How far a shade may darken: dim orange reads brown and dim yellow olive, so they get less.
    fn dim(self) -> f32 {
        match self {
            ColourName::Orange | ColourName::Yellow => 0.05,
            _ => 0.10,
        }
    }

    /// The anchor shade: (hue degrees, saturation, value).
    fn anchor(self) -> Hsv {
        let (h, s, v) = match self {
            ColourName::Red => (2.0, 0.86, 0.84),
            ColourName::Orange => (30.0, 0.90, 0.97),
            ColourName::Yellow => (51.0, 0.86, 0.98),
            ColourName::Green => (112.0, 0.68, 0.66),
            ColourName::Blue => (217.0, 0.80, 0.86),
            ColourName::Purple => (278.0, 0.62, 0.66),
            ColourName::Pink => (334.0, 0.42, 0.97),
            ColourName::Brown => (25.0, 0.70, 0.46),
            ColourName::Black => (0.0, 0.0, 0.11),
            ColourName::White => (0.0, 0.0, 0.96),
            ColourName::Grey => (0.0, 0.0, 0.56),
        };
        Hsv { h, s, v }
    }

    /// A shade of this colour: the anchor moved by `amount` (1.0 = the full allowed band).
    pub fn shade(self, rng: &mut impl Rng, amount: f32) -> Rgb {
        let mut hsv = self.anchor();
        if self.is_neutral() {
            // A faint warm/cool cast keeps greys from looking rendered, without a visible hue.
            hsv.h = rng.gen_range(20.0..220.0);
            hsv.s = rng.gen_range(0.0..0.05) * amount;
            let dv = match self {
                ColourName::Black => 0.06,
                ColourName::White => 0.04,
                _ => 0.08,
            };
            hsv.v = (hsv.v + rng.gen_range(-dv..dv) * amount).clamp(0.0, 1.0);
        } else {
            hsv.h += rng.gen_range(-5.0..5.0) * amount;
            hsv.s = (hsv.s * (1.0 + rng.gen_range(-0.12..0.08) * amount)).clamp(0.0, 1.0);
            hsv.v = (hsv.v * (1.0 + rng.gen_range(-self.dim()..0.05) * amount)).clamp(0.0, 1.0);
        }
        hsv.to_rgb()
    }

    /// A shade derived from an existing one with a little extra jitter (species tone → image).
    pub fn rejitter(self, base: Rgb, rng: &mut impl Rng, amount: f32) -> Rgb {
        let mut hsv = Hsv::from_rgb(base);
        if self.is_neutral() {
            hsv.v = (hsv.v + rng.gen_range(-0.03..0.03) * amount).clamp(0.0, 1.0);
        } else {
            hsv.h += rng.gen_range(-2.0..2.0) * amount;
            hsv.s = (hsv.s * (1.0 + rng.gen_range(-0.05..0.05) * amount)).clamp(0.0, 1.0);
            hsv.v =
                (hsv.v * (1.0 + rng.gen_range(-self.dim() / 2.0..0.04) * amount)).clamp(0.0, 1.0);
        }
        hsv.to_rgb()
    }

    /// The word whose anchor is nearest to `c` in a hue-aware sense; used by tests to check that
    /// a drawn region reads as the colour its caption names.
    pub fn nearest(c: Rgb) -> ColourName {
        let target = Hsv::from_rgb(c);
        let mut best = (f32::MAX, ColourName::Grey);
        for name in ColourName::ALL {
            let a = name.anchor();
            let d = hsv_distance(target, a, name.is_neutral());
            if d < best.0 {
                best = (d, name);
            }
        }
        best.1
    }
}

fn hsv_distance(x: Hsv, anchor: Hsv, neutral: bool) -> f32 {
    // Compare in a cone: saturation × hue as a planar position, value as height. Neutral anchors
    // sit on the axis, so hue does not matter for them.
    let (ax, ay) = if neutral {
        (0.0, 0.0)
    } else {
        let r = anchor.s * anchor.v;
        (
            r * anchor.h.to_radians().cos(),
            r * anchor.h.to_radians().sin(),
        )
    };
    let r = x.s * x.v;
    let (px, py) = (r * x.h.to_radians().cos(), r * x.h.to_radians().sin());
    let dv = x.v - anchor.v;
    ((px - ax).powi(2) + (py - ay).powi(2) + 0.5 * dv * dv).sqrt()
}

/// A straight (not premultiplied) sRGB colour, components in 0..=1; serialised as `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rgb {
    pub r: f32,
    pub g: f32,
    pub b: f32,
}

impl Rgb {
    pub const fn new(r: f32, g: f32, b: f32) -> Self {
        Self { r, g, b }
    }

    pub fn from_u8(r: u8, g: u8, b: u8) -> Self {
        Self::new(r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0)
    }

    pub fn to_u8(self) -> [u8; 3] {
        let q = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
        [q(self.r), q(self.g), q(self.b)]
    }

    pub fn lerp(self, other: Rgb, t: f32) -> Rgb {
        Rgb::new(
            self.r + (other.r - self.r) * t,
            self.g + (other.g - self.g) * t,
            self.b + (other.b - self.b) * t,
        )
    }

    /// Towards white by `t` (highlights).
    pub fn lighten(self, t: f32) -> Rgb {
        self.lerp(Rgb::new(1.0, 1.0, 1.0), t)
    }

    /// Scaled towards black by `t` (shadows keep the hue).
    pub fn darken(self, t: f32) -> Rgb {
        Rgb::new(self.r * (1.0 - t), self.g * (1.0 - t), self.b * (1.0 - t))
    }

    /// An outline colour: darker, but lifted for near-black fills so an outline still shows.
    pub fn ink(self) -> Rgb {
        let v = self.r.max(self.g).max(self.b);
        if v < 0.2 {
            Rgb::new(0.0, 0.0, 0.0)
        } else {
            self.darken(0.55)
        }
    }

    pub fn color(self) -> tiny_skia::Color {
        self.color_a(1.0)
    }

    pub fn color_a(self, alpha: f32) -> tiny_skia::Color {
        tiny_skia::Color::from_rgba(
            self.r.clamp(0.0, 1.0),
            self.g.clamp(0.0, 1.0),
            self.b.clamp(0.0, 1.0),
            alpha.clamp(0.0, 1.0),
        )
        .unwrap_or(tiny_skia::Color::BLACK)
    }

    /// Squared distance, for "is the background too close to the bird" checks.
    pub fn distance(self, other: Rgb) -> f32 {
        ((self.r - other.r).powi(2) + (self.g - other.g).powi(2) + (self.b - other.b).powi(2))
            .sqrt()
    }
}

impl Serialize for Rgb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let [r, g, b] = self.to_u8();
        s.serialize_str(&format!("#{r:02x}{g:02x}{b:02x}"))
    }
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let hex = s
            .strip_prefix('#')
            .filter(|h| h.len() == 6)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| serde::de::Error::custom(format!("expected #rrggbb, got {s:?}")))?;
        Ok(Rgb::from_u8((hex >> 16) as u8, (hex >> 8) as u8, hex as u8))
    }
}

#[derive(Clone, Copy, Debug)]
struct Hsv {
    h: f32,
    s: f32,
    v: f32,
}

impl Hsv {
    fn to_rgb(self) -> Rgb {
        let h = self.h.rem_euclid(360.0) / 60.0;
        let c = self.v * self.s;
        let x = c * (1.0 - (h % 2.0 - 1.0).abs());
        let (r, g, b) = match h as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = self.v - c;
        Rgb::new(r + m, g + m, b + m)
    }

    fn from_rgb(c: Rgb) -> Hsv {
        let max = c.r.max(c.g).max(c.b);
        let min = c.r.min(c.g).min(c.b);
        let d = max - min;
        let h = if d <= f32::EPSILON {
            0.0
        } else if max == c.r {
            60.0 * ((c.g - c.b) / d).rem_euclid(6.0)
        } else if max == c.g {
            60.0 * ((c.b - c.r) / d + 2.0)
        } else {
            60.0 * ((c.r - c.g) / d + 4.0)
        };
        let s = if max <= f32::EPSILON { 0.0 } else { d / max };
        Hsv { h, s, v: max }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_shade_still_reads_as_its_word() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for name in ColourName::ALL {
            for _ in 0..200 {
                let base = name.shade(&mut rng, 1.0);
                let c = name.rejitter(base, &mut rng, 1.0);
                assert_eq!(ColourName::nearest(c), name, "{name:?} drifted to {c:?}");
            }
        }
    }
}
