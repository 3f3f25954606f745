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

/// Largest side of a sheet (as of a PNG screen): anything bigger is a mistake in the options.
pub const MAX_SHEET_SIDE: u64 = 8192;
/// Smallest cell that still shows a picture and a few letters of its label.
pub const MIN_CELL: u32 = 16;

/// Width and height of the sheet `contact_sheet` draws for `cells` pictures (in u64: the
/// options come from a command line and are checked against [`MAX_SHEET_SIDE`] with this).
pub fn sheet_size(cells: usize, columns: usize, side: u32, titled: bool) -> (u64, u64) {
    let columns = columns.clamp(1, cells.max(1)) as u64;
    let rows = (cells as u64).div_ceil(columns);
    let (gap, side) = (GAP as u64, side as u64);
    let title_height = if titled {
        (LABEL_HEIGHT + GAP) as u64
    } else {
        0
    };
    (
        gap + columns * (side + gap),
        gap + title_height + rows * (side + LABEL_HEIGHT as u64 + gap),
    )
}

/// Refuses options that would make a sheet too large (or cells too small), before any
/// picture is drawn.
pub fn check_sheet(cells: usize, columns: usize, side: u32) -> Result<(), String> {
    if side < MIN_CELL {
        return Err(format!("--cell {side} is too small (at least {MIN_CELL})"));
    }
    let (w, h) = sheet_size(cells, columns, side, true);
    if w > MAX_SHEET_SIDE || h > MAX_SHEET_SIDE {
        return Err(format!(
            "{cells} pictures, {columns} wide, at --cell {side} make a {w}x{h} sheet; at most \
             {MAX_SHEET_SIDE} pixels a side (use a smaller --cell or another --columns)"
        ));
    }
    Ok(())
}

/// Lays `cells` out `columns` wide, each picture scaled to `side` with a Catmull–Rom filter.
/// The size must have passed [`check_sheet`].
pub fn contact_sheet(cells: &[Cell], columns: usize, side: u32, title: &str) -> RgbImage {
    let (width, height) = sheet_size(cells.len(), columns, side, !title.is_empty());
    let (width, height) = (width as u32, height as u32);
    let columns = columns.clamp(1, cells.len().max(1)) as u32;
    let title_height = if title.is_empty() {
        0
    } else {
        LABEL_HEIGHT + GAP
    };
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

    #[test]
    fn oversized_sheets_are_refused_before_drawing() {
        assert!(check_sheet(9, 3, 192).is_ok());
        let e = check_sheet(3, 3, 100_000).unwrap_err();
        assert!(e.contains("make a 300032x100052 sheet"), "{e}");
        assert!(check_sheet(1, 1, u32::MAX).is_err());
        assert!(check_sheet(100_000, 1, 64).is_err());
        assert!(check_sheet(2, 2, 4).unwrap_err().contains("too small"));
    }
}
