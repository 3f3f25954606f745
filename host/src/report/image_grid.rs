//! A labelled grid of pictures: rows (e.g. spoken captions) × columns (e.g. generator stages and
//! the real image), with a title, column headings and a wrapped label left of each row. This is
//! how a person checks a generator: by looking.

use std::path::Path;

use anyhow::{bail, Result};
use image::RgbImage;
use tiny_skia::{Pixmap, PremultipliedColorU8};

use super::frame::{canvas, save_png};
use super::text::{draw_text, text_width, GLYPH};
use super::Rgb;

const PAD: u32 = 8;
const INK: Rgb = [0x20, 0x20, 0x20];
const MUTED: Rgb = [0x60, 0x60, 0x60];

/// One row: a label (wrapped to the label column) and one picture per column.
#[derive(Debug, Clone)]
pub struct GridRow {
    pub label: String,
    pub images: Vec<RgbImage>,
}

#[derive(Debug, Clone)]
pub struct ImageGrid {
    pub title: String,
    pub column_titles: Vec<String>,
    pub rows: Vec<GridRow>,
    /// Every picture is scaled (nearest neighbour, so pixels stay visible) to this side.
    pub cell: u32,
    /// Width of the label column in characters (0: no labels).
    pub label_chars: usize,
}

impl ImageGrid {
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let cols = self.column_titles.len();
        if cols == 0 || self.rows.is_empty() {
            bail!("cannot draw {}: the grid is empty", path.display());
        }
        if let Some(r) = self.rows.iter().find(|r| r.images.len() != cols) {
            bail!(
                "cannot draw {}: row `{}` has {} pictures for {cols} columns",
                path.display(),
                r.label,
                r.images.len()
            );
        }
        let label_w = if self.label_chars == 0 {
            0
        } else {
            self.label_chars as u32 * GLYPH + PAD
        };
        let head = 2 * GLYPH + 3 * PAD + GLYPH;
        let width = PAD + label_w + cols as u32 * (self.cell + PAD);
        let height = head + self.rows.len() as u32 * (self.cell + PAD);
        let mut pm = canvas(width, height, path)?;
        // Large when it fits, else small: a title should not run off the picture.
        let title_scale = if text_width(&self.title, 2) + 2 * PAD <= width {
            2
        } else {
            1
        };
        draw_text(
            &mut pm,
            PAD as i32,
            PAD as i32,
            &self.title,
            title_scale,
            INK,
        );
        let col_x = |c: usize| PAD + label_w + c as u32 * (self.cell + PAD);
        for (c, t) in self.column_titles.iter().enumerate() {
            let x = col_x(c) + self.cell.saturating_sub(text_width(t, 1)) / 2;
            draw_text(&mut pm, x as i32, (2 * PAD + 2 * GLYPH) as i32, t, 1, MUTED);
        }
        for (r, row) in self.rows.iter().enumerate() {
            let y = head + r as u32 * (self.cell + PAD);
            if self.label_chars > 0 {
                let max_lines = (self.cell / (GLYPH + 2)) as usize;
                for (i, line) in wrap(&row.label, self.label_chars)
                    .iter()
                    .take(max_lines)
                    .enumerate()
                {
                    let ly = y + i as u32 * (GLYPH + 2);
                    draw_text(&mut pm, PAD as i32, ly as i32, line, 1, INK);
                }
            }
            for (c, img) in row.images.iter().enumerate() {
                blit_scaled(&mut pm, img, col_x(c), y, self.cell);
            }
        }
        save_png(&pm, path)
    }
}

/// Greedy word wrap to `width` characters (a longer word is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(width).collect();
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
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

fn blit_scaled(pm: &mut Pixmap, img: &RgbImage, x0: u32, y0: u32, side: u32) {
    let (w, h) = (pm.width(), pm.height());
    let (iw, ih) = img.dimensions();
    if iw == 0 || ih == 0 {
        return;
    }
    let pixels = pm.pixels_mut();
    for dy in 0..side {
        for dx in 0..side {
            let (x, y) = (x0 + dx, y0 + dy);
            if x >= w || y >= h {
                continue;
            }
            let p = img.get_pixel(dx * iw / side, dy * ih / side);
            if let Some(c) = PremultipliedColorU8::from_rgba(p[0], p[1], p[2], 255) {
                pixels[(y * w + x) as usize] = c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{count_near, decode};

    #[test]
    fn wraps_on_words() {
        assert_eq!(
            wrap("a small yellow bird with black wings", 12),
            ["a small", "yellow bird", "with black", "wings"]
        );
        assert_eq!(wrap("", 5), Vec::<String>::new());
        assert_eq!(wrap("abcdefgh", 3), ["abc"]);
    }

    #[test]
    fn draws_every_picture_where_it_belongs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let red = RgbImage::from_pixel(4, 4, image::Rgb([250, 10, 10]));
        let blue = RgbImage::from_pixel(8, 8, image::Rgb([10, 10, 250]));
        let grid = ImageGrid {
            title: "test".into(),
            column_titles: vec!["64".into(), "real".into()],
            rows: vec![
                GridRow {
                    label: "a red bird".into(),
                    images: vec![red.clone(), blue.clone()],
                },
                GridRow {
                    label: "a blue bird".into(),
                    images: vec![blue, red],
                },
            ],
            cell: 32,
            label_chars: 10,
        };
        grid.write_png(&path).unwrap();
        let img = decode(&path);
        // Two red and two blue cells of 32² each.
        assert_eq!(count_near(&img, [250, 10, 10]), 2 * 32 * 32);
        assert_eq!(count_near(&img, [10, 10, 250]), 2 * 32 * 32);

        let mut bad = grid.clone();
        bad.rows[1].images.pop();
        let err = bad.write_png(&path).unwrap_err().to_string();
        assert!(
            err.contains("a blue bird") && err.contains("2 columns"),
            "{err}"
        );
    }
}
