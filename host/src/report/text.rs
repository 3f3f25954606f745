//! Text in the 8×8 public-domain bitmap font of `font8x8`, so charts need no font files. Glyphs
//! are set pixel by pixel, unblended: crisp at integer scales, which is all a chart needs.

use tiny_skia::{Pixmap, PremultipliedColorU8};

use super::Rgb;

/// Glyph cell size in pixels at scale 1; every character advances by this much.
pub const GLYPH: u32 = 8;

/// Width in pixels of `text` drawn at `scale` (0 counts as 1).
pub fn text_width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32).saturating_mul(GLYPH * scale.max(1))
}

/// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale`
/// square (0 counts as 1). Anything outside the pixmap is clipped; characters outside ASCII are
/// drawn as `?`.
pub fn draw_text(pixmap: &mut Pixmap, x: i32, y: i32, text: &str, scale: u32, colour: Rgb) {
    let Some(ink) = PremultipliedColorU8::from_rgba(colour[0], colour[1], colour[2], 255) else {
        return;
    };
    let scale = scale.clamp(1, 64) as i64;
    let (w, h) = (i64::from(pixmap.width()), i64::from(pixmap.height()));
    let pixels = pixmap.pixels_mut();
    for (i, ch) in text.chars().enumerate() {
        let gx = i64::from(x) + i as i64 * i64::from(GLYPH) * scale;
        if gx >= w {
            break;
        }
        // The crate's `unicode` feature (BASIC_FONTS) is off in this workspace; the legacy table
        // has the same ASCII glyphs, indexed by code point.
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8i64 {
                // Bit 0 is the leftmost pixel in this font's encoding.
                if bits & (1 << col) == 0 {
                    continue;
                }
                let (px0, py0) = (gx + col * scale, i64::from(y) + row as i64 * scale);
                for py in py0.max(0)..(py0 + scale).min(h) {
                    for px in px0.max(0)..(px0 + scale).min(w) {
                        pixels[(py * w + px) as usize] = ink;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{draw_text, text_width};
    use tiny_skia::{Color, Pixmap};

    fn inked(pm: &Pixmap) -> usize {
        pm.pixels().iter().filter(|p| p.red() == 200).count()
    }

    #[test]
    fn draws_scaled_and_clips() {
        assert_eq!(text_width("abc", 1), 24);
        assert_eq!(text_width("abc", 2), 48);
        assert_eq!(text_width("é", 0), 8);
        let mut pm = Pixmap::new(40, 20).unwrap();
        pm.fill(Color::WHITE);
        draw_text(&mut pm, 1, 1, "A", 1, [200, 0, 0]);
        let one = inked(&pm);
        assert!(one > 10, "an A has more than 10 pixels, got {one}");
        pm.fill(Color::WHITE);
        draw_text(&mut pm, 1, 1, "A", 2, [200, 0, 0]);
        assert_eq!(inked(&pm), 4 * one);
        // Partly or wholly off the canvas: clipped, no panic.
        draw_text(&mut pm, -5, -3, "Hello, world", 2, [200, 0, 0]);
        draw_text(&mut pm, 1000, 1000, "x", 1, [200, 0, 0]);
        draw_text(&mut pm, i32::MIN, i32::MAX, "x", 2, [200, 0, 0]);
    }
}
