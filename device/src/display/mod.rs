//! What the board draws on. Every panel is an embedded-graphics `DrawTarget`; the `Display`
//! trait is the seam the app talks to, so the same app runs on an SPI TFT, a framebuffer, a PNG
//! file and an in-memory target in tests.

pub mod canvas;
pub mod framebuffer;
pub mod png;
pub mod render;
pub mod screen;
pub mod sheet;
pub mod spi;

pub use canvas::RgbCanvas;
pub use framebuffer::{Bitfield, FramebufferDisplay, FramebufferGeometry};
pub use png::PngDisplay;
pub use render::draw_screen;
pub use screen::Screen;
pub use sheet::{check_sheet, contact_sheet, label_from_file_name, Cell};
pub use spi::{ChunkedSpi, Controller, SpiConfig, SpiDisplay};

/// Why a screen could not be shown (the panel's own error, described).
#[derive(Debug, thiserror::Error)]
#[error("{device}: {message}")]
pub struct DisplayError {
    /// The panel: "/dev/fb0", "ST7789 on /dev/spidev0.0", "out/screen.png".
    pub device: String,
    pub message: String,
}

impl DisplayError {
    pub fn new(device: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            message: message.into(),
        }
    }
}

/// A screen the app can show things on.
pub trait Display {
    /// Width and height in pixels, as the panel is mounted (after rotation).
    fn size(&self) -> (u32, u32);
    /// Draws `screen` and makes it visible.
    fn show(&mut self, screen: &Screen<'_>) -> Result<(), DisplayError>;
}
