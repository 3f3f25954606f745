//! A display that is a PNG file: headless boards (the picture is served or copied from there),
//! batch work and the golden-screenshot tests. Each `show` replaces the file atomically (a
//! temporary file in the same folder, then a rename), so a viewer polling the file never reads
//! half a frame.

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::Rgb888;
use image::codecs::png::CompressionType;
use image::RgbImage;

use super::canvas::RgbCanvas;
use super::render::draw_screen;
use super::{Display, DisplayError, Screen};
use crate::picture_file::PictureFile;

/// Largest side accepted: a 8K frame; anything bigger is a configuration mistake.
pub const MAX_SIDE: u32 = 8192;

pub struct PngDisplay {
    path: PathBuf,
    file: PictureFile,
    canvas: RgbCanvas,
}

impl PngDisplay {
    /// A `width` × `height` screen written to `path` (its folder is created when missing).
    pub fn new(path: impl Into<PathBuf>, width: u32, height: u32) -> Result<Self, DisplayError> {
        let path = path.into();
        let file = Self::check(&path, width, height)?;
        Ok(Self {
            path,
            file,
            canvas: RgbCanvas::new(width, height, Rgb888::new(0, 0, 0)),
        })
    }

    /// What [`PngDisplay::new`] checks, without drawing the screen in memory (`run --check`).
    pub fn check(path: &Path, width: u32, height: u32) -> Result<PictureFile, DisplayError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(DisplayError::new(
                path.display().to_string(),
                format!("a {width}x{height} screen is not possible (1..={MAX_SIDE} each side)"),
            ));
        }
        PictureFile::png(path, CompressionType::Fast).map_err(|e| {
            DisplayError::new(
                path.display().to_string(),
                format!("the PNG display's file {}", e.problem),
            )
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The frame most recently shown (black before the first `show`).
    pub fn last_frame(&self) -> &RgbImage {
        &self.canvas.image
    }

    fn device(&self) -> String {
        self.path.display().to_string()
    }
}

impl Display for PngDisplay {
    fn size(&self) -> (u32, u32) {
        self.canvas.image.dimensions()
    }

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), DisplayError> {
        let Ok(()) = draw_screen(&mut self.canvas, screen);
        self.file
            .write(&self.canvas.image)
            .map_err(|e| DisplayError::new(self.device(), e.problem))
    }
}

/// Encodes `image` as PNG into a temporary file beside `path`, flushes it to disk and renames it
/// over `path` ([`PictureFile::write`]). The error says which step failed.
pub fn write_png_atomically(
    path: &Path,
    image: &RgbImage,
    compression: CompressionType,
) -> Result<(), String> {
    PictureFile::png(path, compression)
        .and_then(|file| file.write(image))
        .map_err(|e| e.problem)
}
