//! A grid of generated images, each with its class and one caption written under it in the
//! 8×8 public-domain IBM-style bitmap font, so a person can check what was made at a glance.

use std::path::Path;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};

use super::layout_writer;

/// One tile: the image file and the text to print under it.
pub struct Tile {
    pub image: std::path::PathBuf,
    pub title: String,
    pub caption: String,
}

const COLS: u32 = 6;
const CELL: u32 = 256;
const GAP: u32 = 6;
const GLYPH: u32 = 8;
const LINE: u32 = 10;
const TEXT_LINES: u32 = 6;
const CHARS: usize = ((CELL - 4) / GLYPH) as usize;

/// Writes the sheet for up to 36 tiles to `path`.
pub fn write(path: &Path, tiles: &[Tile]) -> Result<()> {
    let tiles = &tiles[..tiles.len().min((COLS * COLS) as usize)];
    let cols = (tiles.len() as u32).clamp(1, COLS);
    let rows = (tiles.len() as u32).div_ceil(COLS).max(1);
    let cell_h = CELL + TEXT_LINES * LINE + 6;
    let mut sheet = RgbImage::from_pixel(
        GAP + cols * (CELL + GAP),
        GAP + rows * (cell_h + GAP),
        Rgb([250, 250, 247]),
    );
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % COLS, i as u32 / COLS);
        let (x0, y0) = (GAP + col * (CELL + GAP), GAP + row * (cell_h + GAP));
        let img = image::open(&tile.image)
            .with_context(|| format!("cannot read {} for the contact sheet", tile.image.display()))?
            .to_rgb8();
        image::imageops::replace(&mut sheet, &img, x0 as i64, y0 as i64);
        let mut y = y0 + CELL + 4;
        let title: String = tile.title.chars().take(CHARS).collect();
        draw_text(&mut sheet, x0 + 2, y, &title, Rgb([30, 70, 140]));
        y += LINE;
        for line in wrap(&tile.caption, CHARS)
            .into_iter()
            .take(TEXT_LINES as usize - 1)
        {
            draw_text(&mut sheet, x0 + 2, y, &line, Rgb([20, 20, 20]));
            y += LINE;
        }
    }
    let (w, h) = sheet.dimensions();
    layout_writer::write_png(path, sheet.as_raw(), w, h)
}

/// Greedy word wrap to `width` characters (words longer than a line are cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(width).collect();
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, colour: Rgb<u8>) {
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            b'?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                // Bit 0 is the leftmost pixel in this font's encoding.
                if bits & (1 << col) != 0 {
                    let (px, py) = (x + i as u32 * GLYPH + col, y + row as u32);
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, colour);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_on_words() {
        assert_eq!(
            wrap("this bird has a yellow belly and black wings", 16),
            vec!["this bird has a", "yellow belly and", "black wings"]
        );
    }
}
