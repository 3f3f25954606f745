//! A display that is a PNG file: headless boards (the picture is served or copied from there),
//! batch work and the golden-screenshot tests. Each `show` replaces the file atomically (a
//! temporary file in the same folder, then a rename), so a viewer polling the file never reads
//! half a frame.

use std::io::Write;
use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::Rgb888;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};

use super::canvas::RgbCanvas;
use super::render::draw_screen;
use super::{Display, DisplayError, Screen};

/// Largest side accepted: a 8K frame; anything bigger is a configuration mistake.
pub const MAX_SIDE: u32 = 8192;

pub struct PngDisplay {
    path: PathBuf,
    canvas: RgbCanvas,
}

impl PngDisplay {
    /// A `width` × `height` screen written to `path` (its folder is created when missing).
    pub fn new(path: impl Into<PathBuf>, width: u32, height: u32) -> Result<Self, DisplayError> {
        let path = path.into();
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(DisplayError::new(
                path.display().to_string(),
                format!("a {width}x{height} screen is not possible (1..={MAX_SIDE} each side)"),
            ));
        }
        if path.file_name().is_none() {
            return Err(DisplayError::new(
                path.display().to_string(),
                "the PNG display needs a file name, not a folder",
            ));
        }
        Ok(Self {
            path,
            canvas: RgbCanvas::new(width, height, Rgb888::new(0, 0, 0)),
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
        write_png_atomically(&self.path, &self.canvas.image, CompressionType::Fast)
            .map_err(|message| DisplayError::new(self.device(), message))
    }
}

/// Encodes `image` as PNG into a temporary file beside `path`, flushes it to disk and renames it
/// over `path`. The error says which step failed.
pub fn write_png_atomically(
    path: &Path,
    image: &RgbImage,
    compression: CompressionType,
) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "screen.png".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> Result<(), String> {
        let file = std::fs::File::create(&temp)
            .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        PngEncoder::new_with_quality(&mut out, compression, FilterType::Adaptive)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| format!("cannot encode the PNG: {e}"))?;
        out.flush()
            .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        let file = out
            .into_inner()
            .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        file.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        std::fs::rename(&temp, path).map_err(|e| {
            format!(
                "cannot rename {} to {}: {e}",
                temp.display(),
                path.display()
            )
        })
    })();
    if written.is_err() {
        // A failed frame leaves the previous one in place and no litter.
        let _ = std::fs::remove_file(&temp);
    }
    written
}
