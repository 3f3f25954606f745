//! A contact sheet of generated pictures, each labelled with what was said: the "subtle
//! differences" figure (body colour × wing colour) and any batch of wavs.

use embedded_graphics::mono_font::{ascii::FONT_6X10, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Alignment, Text};
use image::{imageops::FilterType, RgbImage};

use super::canvas::RgbCanvas;

/// One cell: a picture and the words under it.
pub struct Cell {
    pub picture: RgbImage,
    pub label: String,
}

const GAP: u32 = 8;
const LABEL_HEIGHT: u32 = 14;

/// Lays `cells` out `columns` wide, each picture scaled to `side` with a Catmull–Rom filter.
pub fn contact_sheet(cells: &[Cell], columns: usize, side: u32, title: &str) -> RgbImage {
    let columns = columns.clamp(1, cells.len().max(1)) as u32;
    let rows = (cells.len() as u32).div_ceil(columns);
    let title_height = if title.is_empty() {
        0
    } else {
        LABEL_HEIGHT + GAP
    };
    let width = GAP + columns * (side + GAP);
    let height = GAP + title_height + rows * (side + LABEL_HEIGHT + GAP);
    let mut canvas = RgbCanvas::new(width, height, Rgb888::WHITE);
    let ink = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    if !title.is_empty() {
        let _ = Text::new(title, Point::new(GAP as i32, (GAP + 8) as i32), ink).draw(&mut canvas);
    }
    for (i, cell) in cells.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        let x = GAP + col * (side + GAP);
        let y = GAP + title_height + row * (side + LABEL_HEIGHT + GAP);
        let scaled = image::imageops::resize(&cell.picture, side, side, FilterType::CatmullRom);
        canvas.blit(&scaled, x, y);
        // Labels longer than the cell are cut (the font is ASCII) rather than run into the next.
        let max_chars = (side / 6) as usize;
        let label: String = if cell.label.chars().count() > max_chars {
            let mut s: String = cell
                .label
                .chars()
                .take(max_chars.saturating_sub(3))
                .collect();
            s.push_str("...");
            s
        } else {
            cell.label.clone()
        };
        let _ = Text::with_alignment(
            &label,
            Point::new((x + side / 2) as i32, (y + side + 10) as i32),
            ink,
            Alignment::Center,
        )
        .draw(&mut canvas);
    }
    canvas.image
}

/// "yellow_body_black_wings.wav" → "yellow body black wings".
pub fn label_from_file_name(path: &std::path::Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("?")
        .replace(['_', '-'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_land_in_a_grid_with_labels_under_them() {
        let red = RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(4, 4, image::Rgb([0, 0, 255]));
        let cells: Vec<Cell> = [red, blue.clone(), blue]
            .into_iter()
            .map(|picture| Cell {
                picture,
                label: "a bird".into(),
            })
            .collect();
        let sheet = contact_sheet(&cells, 2, 32, "");
        assert_eq!(sheet.width(), GAP + 2 * (32 + GAP));
        assert_eq!(sheet.height(), GAP + 2 * (32 + LABEL_HEIGHT + GAP));
        // The centre of the first cell is red, of the second blue.
        assert_eq!(sheet.get_pixel(GAP + 16, GAP + 16).0, [255, 0, 0]);
        assert_eq!(sheet.get_pixel(2 * GAP + 32 + 16, GAP + 16).0, [0, 0, 255]);
        // Some label ink below the first picture.
        let inked = (0..32).any(|dx| {
            (0..LABEL_HEIGHT).any(|dy| sheet.get_pixel(GAP + dx, GAP + 32 + dy).0 == [0, 0, 0])
        });
        assert!(inked);
        assert_eq!(
            label_from_file_name(std::path::Path::new("x/yellow_body_black_wings.wav")),
            "yellow body black wings"
        );
    }
}
