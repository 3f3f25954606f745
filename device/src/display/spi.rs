//! Small SPI TFT panels (ST7789 240×240 / 240×320, ILI9341 320×240) driven with `mipidsi`.
//!
//! The core is generic over embedded-hal 1.0 `SpiDevice`, `OutputPin` and `DelayNs`, so the same
//! code drives a board (`linux_embedded_hal::SpidevDevice` + `CdevPin`) and an in-memory bus in
//! the tests. Linux's spidev refuses any message longer than its `bufsiz` (4096 bytes by
//! default), counting all transfers of one message together, so every write goes through
//! [`ChunkedSpi`], which splits it into separate transactions of at most 4096 bytes; a panel's
//! RAM write carries on across chip-select toggles, so nothing else changes. Each `show` renders
//! the whole screen in memory and sends it as one full-screen window (no flicker of partial
//! draws). GPIO lines are found on the chip with a given *label* (what `gpiodetect` prints), not
//! its number, because `/dev/gpiochipN` numbering changes between kernels and Pi models.

use embedded_graphics::pixelcolor::{Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::{ErrorType, Operation, SpiDevice};
use image::RgbImage;
use mipidsi::interface::SpiInterface;
use mipidsi::models::{ILI9341Rgb565, ST7789};
use mipidsi::options::{ColorInversion, ColorOrder, Orientation, Rotation};
use mipidsi::{Builder, NoResetPin};

use super::canvas::RgbCanvas;
use super::render::draw_screen;
use super::{Display, DisplayError, Screen};

/// The largest message spidev accepts unless its `bufsiz` module parameter was raised.
pub const SPIDEV_BUFSIZ: usize = 4096;

/// An `SpiDevice` whose transactions never carry more than `max` bytes: longer writes, reads
/// and transfers become consecutive transactions of at most `max` bytes each, and empty writes
/// are dropped. Transactions that already fit pass through unchanged.
pub struct ChunkedSpi<S> {
    inner: S,
    max: usize,
}

impl<S> ChunkedSpi<S> {
    /// Chunks of at most `max` bytes (at least 1).
    pub fn new(inner: S, max: usize) -> Self {
        Self {
            inner,
            max: max.max(1),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn operation_len(op: &Operation<'_, u8>) -> usize {
    match op {
        Operation::Read(b) => b.len(),
        Operation::Write(b) => b.len(),
        Operation::Transfer(r, w) => r.len().max(w.len()),
        Operation::TransferInPlace(b) => b.len(),
        Operation::DelayNs(_) => 0,
    }
}

impl<S: SpiDevice> ErrorType for ChunkedSpi<S> {
    type Error = S::Error;
}

impl<S: SpiDevice> SpiDevice for ChunkedSpi<S> {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), S::Error> {
        let total: usize = operations.iter().map(operation_len).sum();
        let has_empty = operations
            .iter()
            .any(|op| !matches!(op, Operation::DelayNs(_)) && operation_len(op) == 0);
        if total <= self.max && !has_empty {
            return self.inner.transaction(operations);
        }
        let max = self.max;
        for op in operations.iter_mut() {
            match op {
                Operation::Write(buf) => {
                    for chunk in buf.chunks(max) {
                        self.inner.write(chunk)?;
                    }
                }
                Operation::Read(buf) => {
                    for chunk in buf.chunks_mut(max) {
                        self.inner.read(chunk)?;
                    }
                }
                Operation::TransferInPlace(buf) => {
                    for chunk in buf.chunks_mut(max) {
                        self.inner.transfer_in_place(chunk)?;
                    }
                }
                Operation::Transfer(read, write) => {
                    let len = read.len().max(write.len());
                    let mut start = 0;
                    while start < len {
                        let end = (start + max).min(len);
                        let r_end = end.min(read.len());
                        let w_end = end.min(write.len());
                        let r = &mut read[start.min(r_end)..r_end];
                        let w = &write[start.min(w_end)..w_end];
                        self.inner.transfer(r, w)?;
                        start = end;
                    }
                }
                Operation::DelayNs(ns) => {
                    self.inner.transaction(&mut [Operation::DelayNs(*ns)])?;
                }
            }
        }
        Ok(())
    }
}

/// The display controller on the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    St7789,
    Ili9341,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::St7789 => "ST7789",
            Controller::Ili9341 => "ILI9341",
        }
    }
}

impl std::str::FromStr for Controller {
    type Err = String;

    /// "st7789" or "ili9341", any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "st7789" => Ok(Controller::St7789),
            "ili9341" => Ok(Controller::Ili9341),
            other => Err(format!(
                "unknown display controller \"{other}\" (st7789 or ili9341)"
            )),
        }
    }
}

/// A controller and the size the panel is mounted at. Both controllers have 240×320 of RAM; a
/// size wider than tall is the same RAM turned 90°.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panel {
    pub controller: Controller,
    pub width: u16,
    pub height: u16,
}

impl Panel {
    pub fn new(controller: Controller, width: u32, height: u32) -> Result<Self, String> {
        let (short, long) = (width.min(height), width.max(height));
        if width == 0 || height == 0 || short > 240 || long > 320 {
            return Err(format!(
                "{} panels are at most 240x320 (or 320x240), not {width}x{height}",
                controller.name()
            ));
        }
        Ok(Self {
            controller,
            width: width as u16,
            height: height as u16,
        })
    }

    fn landscape(&self) -> bool {
        self.width > self.height
    }

    /// Size in the controller's own (portrait) terms, and the rotation that mounts it.
    fn native(&self) -> ((u16, u16), Orientation) {
        if self.landscape() {
            (
                (self.height, self.width),
                Orientation::new().rotate(Rotation::Deg90),
            )
        } else {
            ((self.width, self.height), Orientation::new())
        }
    }
}

type Interface<'b, SPI, P> = SpiInterface<'b, ChunkedSpi<SPI>, P>;

enum Driver<'b, SPI: SpiDevice, P: OutputPin> {
    St7789(mipidsi::Display<Interface<'b, SPI, P>, ST7789, NoResetPin>),
    Ili9341(mipidsi::Display<Interface<'b, SPI, P>, ILI9341Rgb565, NoResetPin>),
}

/// An SPI TFT panel as a `Display`.
pub struct SpiDisplay<'b, SPI: SpiDevice, P: OutputPin> {
    device: String,
    panel: Panel,
    driver: Driver<'b, SPI, P>,
    reset: Option<P>,
    backlight: Option<P>,
    canvas: RgbCanvas,
}

impl<'b, SPI: SpiDevice, P: OutputPin> SpiDisplay<'b, SPI, P> {
    /// Resets and initialises the panel, clears it to black and turns the backlight on.
    /// `device` names it in errors ("ST7789 on /dev/spidev0.0"); `buffer` gathers pixels
    /// between SPI writes (at most 4096 bytes of it are used).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: impl Into<String>,
        panel: Panel,
        spi: SPI,
        dc: P,
        mut reset: Option<P>,
        mut backlight: Option<P>,
        delay: &mut impl DelayNs,
        buffer: &'b mut [u8],
    ) -> Result<Self, DisplayError> {
        let device = device.into();
        let fail = |what: &str, e: &dyn std::fmt::Debug| {
            DisplayError::new(device.clone(), format!("{what}: {e:?}"))
        };
        if buffer.len() < 2 {
            return Err(DisplayError::new(
                &device,
                "the pixel buffer must hold at least one pixel (2 bytes)",
            ));
        }
        let cap = buffer.len().min(SPIDEV_BUFSIZ);
        let buffer = &mut buffer[..cap];
        if let Some(bl) = backlight.as_mut() {
            // Dark until the panel holds a real picture, not the noise of its RAM at power-on.
            bl.set_low().map_err(|e| fail("backlight pin", &e))?;
        }
        if let Some(rst) = reset.as_mut() {
            // A hardware reset pulse (both controllers want ≥ 10 µs low, then 120 ms).
            rst.set_high().map_err(|e| fail("reset pin", &e))?;
            delay.delay_ms(1);
            rst.set_low().map_err(|e| fail("reset pin", &e))?;
            delay.delay_us(20);
            rst.set_high().map_err(|e| fail("reset pin", &e))?;
            delay.delay_ms(120);
        }
        let interface = SpiInterface::new(ChunkedSpi::new(spi, SPIDEV_BUFSIZ), dc, buffer);
        let ((w, h), orientation) = panel.native();
        // No reset pin is handed to mipidsi, so it sends SWRESET: a known state even where the
        // reset line is not wired.
        let driver = match panel.controller {
            // The common ST7789 modules are IPS panels that need inversion on for true colours.
            Controller::St7789 => Driver::St7789(
                Builder::new(ST7789, interface)
                    .display_size(w, h)
                    .orientation(orientation)
                    .invert_colors(ColorInversion::Inverted)
                    .init(delay)
                    .map_err(|e| fail("initialising the panel", &e))?,
            ),
            // ILI9341 modules are wired BGR.
            Controller::Ili9341 => Driver::Ili9341(
                Builder::new(ILI9341Rgb565, interface)
                    .display_size(w, h)
                    .orientation(orientation)
                    .color_order(ColorOrder::Bgr)
                    .init(delay)
                    .map_err(|e| fail("initialising the panel", &e))?,
            ),
        };
        let mut display = Self {
            device,
            panel,
            driver,
            reset,
            backlight,
            canvas: RgbCanvas::new(panel.width as u32, panel.height as u32, Rgb888::BLACK),
        };
        let black = display.canvas.image.clone();
        display.draw_frame(&black)?;
        if let Some(bl) = display.backlight.as_mut() {
            bl.set_high()
                .map_err(|e| DisplayError::new(&display.device, format!("backlight pin: {e:?}")))?;
        }
        Ok(display)
    }

    pub fn panel(&self) -> Panel {
        self.panel
    }

    /// The frame most recently sent, as drawn.
    pub fn last_frame(&self) -> &RgbImage {
        &self.canvas.image
    }

    /// Sends a `width × height` picture to the whole panel as RGB565.
    pub fn draw_frame(&mut self, frame: &RgbImage) -> Result<(), DisplayError> {
        let (w, h) = (self.panel.width as u32, self.panel.height as u32);
        if frame.dimensions() != (w, h) {
            return Err(DisplayError::new(
                &self.device,
                format!(
                    "a {}x{} frame does not fit the {w}x{h} panel",
                    frame.width(),
                    frame.height()
                ),
            ));
        }
        let area = Rectangle::new(Point::zero(), Size::new(w, h));
        let pixels = frame
            .pixels()
            .map(|p| Rgb565::from(Rgb888::new(p[0], p[1], p[2])));
        let sent = match &mut self.driver {
            Driver::St7789(d) => d.fill_contiguous(&area, pixels),
            Driver::Ili9341(d) => d.fill_contiguous(&area, pixels),
        };
        sent.map_err(|e| DisplayError::new(&self.device, format!("SPI write failed: {e:?}")))
    }

    /// Hands back the SPI device and the pins (DC, reset, backlight).
    pub fn release(self) -> (SPI, P, Option<P>, Option<P>) {
        let interface = match self.driver {
            Driver::St7789(d) => d.release().0,
            Driver::Ili9341(d) => d.release().0,
        };
        let (spi, dc) = interface.release();
        (spi.into_inner(), dc, self.reset, self.backlight)
    }
}

impl<SPI: SpiDevice, P: OutputPin> Display for SpiDisplay<'_, SPI, P> {
    fn size(&self) -> (u32, u32) {
        (self.panel.width as u32, self.panel.height as u32)
    }

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), DisplayError> {
        let Ok(()) = draw_screen(&mut self.canvas, screen);
        let frame = std::mem::replace(&mut self.canvas.image, RgbImage::new(0, 0));
        let sent = self.draw_frame(&frame);
        self.canvas.image = frame;
        sent
    }
}

/// How a panel is wired to a Linux board (the `[display]` table of the board's config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiConfig {
    pub controller: Controller,
    pub width: u32,
    pub height: u32,
    /// "/dev/spidev0.0"
    pub spidev: std::path::PathBuf,
    pub speed_hz: u32,
    /// SPI mode 0..=3: 0 for modules with a CS pin; CS-less ST7789 modules want 3.
    pub spi_mode: u8,
    /// Label of the GPIO chip carrying DC, reset and backlight ("pinctrl-bcm2711" on a Pi 4,
    /// "pinctrl-rp1" on a Pi 5; `gpiodetect` lists them).
    pub gpio_chip: String,
    pub dc: u32,
    pub reset: Option<u32>,
    pub backlight: Option<u32>,
}

/// The GPIO character device in `dir` (normally `/dev`) whose label is `label`. The error names
/// the label and lists the labels that were found.
#[cfg(target_os = "linux")]
pub fn find_gpio_chip(
    dir: &std::path::Path,
    label: &str,
) -> Result<linux_embedded_hal::gpio_cdev::Chip, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("GPIO chip \"{label}\": cannot list {}: {e}", dir.display()))?;
    let mut paths: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gpiochip"))
        })
        .collect();
    paths.sort();
    let mut seen = Vec::new();
    for path in &paths {
        match linux_embedded_hal::gpio_cdev::Chip::new(path) {
            Ok(chip) if chip.label() == label => return Ok(chip),
            Ok(chip) => seen.push(format!("{} ({})", chip.label(), path.display())),
            Err(e) => seen.push(format!("{}: {e}", path.display())),
        }
    }
    Err(if seen.is_empty() {
        format!(
            "no GPIO chip labelled \"{label}\": there are no gpiochip devices in {}",
            dir.display()
        )
    } else {
        format!(
            "no GPIO chip labelled \"{label}\" (found: {})",
            seen.join(", ")
        )
    })
}

#[cfg(target_os = "linux")]
impl SpiDisplay<'static, linux_embedded_hal::SpidevDevice, linux_embedded_hal::CdevPin> {
    /// The spidev device, opened and set to the configured speed and mode (ioctls only:
    /// nothing is sent).
    fn open_spidev(
        config: &SpiConfig,
        device: &str,
    ) -> Result<linux_embedded_hal::SpidevDevice, DisplayError> {
        use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
        use linux_embedded_hal::SpidevDevice;

        let mode = match config.spi_mode {
            0 => SpiModeFlags::SPI_MODE_0,
            1 => SpiModeFlags::SPI_MODE_1,
            2 => SpiModeFlags::SPI_MODE_2,
            3 => SpiModeFlags::SPI_MODE_3,
            m => {
                return Err(DisplayError::new(
                    device,
                    format!("SPI mode {m} does not exist (0..=3)"),
                ))
            }
        };
        let mut spi = SpidevDevice::open(&config.spidev).map_err(|e| {
            DisplayError::new(
                device,
                format!(
                    "cannot open {}: {e} (is SPI enabled, e.g. dtparam=spi=on on a Pi?)",
                    config.spidev.display()
                ),
            )
        })?;
        spi.configure(
            &SpidevOptions::new()
                .bits_per_word(8)
                .max_speed_hz(config.speed_hz)
                .mode(mode)
                .build(),
        )
        .map_err(|e| {
            DisplayError::new(
                device,
                format!(
                    "cannot set {} Hz, mode {} on {}: {e} (is it an SPI device?)",
                    config.speed_hz,
                    config.spi_mode,
                    config.spidev.display()
                ),
            )
        })?;
        Ok(spi)
    }

    /// What [`SpiDisplay::open`] would open, checked without sending anything to the panel or
    /// taking its lines: the panel size, the spidev device (opened and configured), the GPIO
    /// chip, and that DC, reset and backlight exist and are free.
    pub fn probe(config: &SpiConfig) -> Result<String, DisplayError> {
        use crate::input::gpio::{check_line, ChipLines};

        let device = format!(
            "{} on {}",
            config.controller.name(),
            config.spidev.display()
        );
        let panel = Panel::new(config.controller, config.width, config.height)
            .map_err(|m| DisplayError::new(&device, m))?;
        drop(Self::open_spidev(config, &device)?);
        let mut chip = find_gpio_chip(std::path::Path::new("/dev"), &config.gpio_chip)
            .map_err(|m| DisplayError::new(&device, m))?;
        let lines = [
            ("DC", Some(config.dc)),
            ("reset", config.reset),
            ("backlight", config.backlight),
        ];
        for (role, line) in lines {
            if let Some(line) = line {
                check_line(&mut chip, line, role).map_err(|m| DisplayError::new(&device, m))?;
            }
        }
        Ok(format!(
            "display: {device}, {}x{} at {} Hz, lines on {}",
            panel.width,
            panel.height,
            config.speed_hz,
            chip.describe()
        ))
    }

    /// Opens the panel described by `config` on this board: the spidev device, and DC, reset
    /// and backlight on the GPIO chip with the configured label.
    pub fn open(config: &SpiConfig) -> Result<Self, DisplayError> {
        use linux_embedded_hal::gpio_cdev::LineRequestFlags;
        use linux_embedded_hal::{CdevPin, Delay};

        let device = format!(
            "{} on {}",
            config.controller.name(),
            config.spidev.display()
        );
        let panel = Panel::new(config.controller, config.width, config.height)
            .map_err(|m| DisplayError::new(&device, m))?;
        let spi = Self::open_spidev(config, &device)?;
        let mut chip = find_gpio_chip(std::path::Path::new("/dev"), &config.gpio_chip)
            .map_err(|m| DisplayError::new(&device, m))?;
        let mut line = |offset: u32, role: &str, level: u8| -> Result<CdevPin, DisplayError> {
            let fail = |e: &dyn std::fmt::Display| {
                DisplayError::new(
                    &device,
                    format!(
                        "{role} line {offset} on GPIO chip \"{}\": {e}",
                        config.gpio_chip
                    ),
                )
            };
            let handle = chip
                .get_line(offset)
                .and_then(|l| l.request(LineRequestFlags::OUTPUT, level, "s2i-display"))
                .map_err(|e| fail(&e))?;
            CdevPin::new(handle).map_err(|e| fail(&e))
        };
        let dc = line(config.dc, "DC", 0)?;
        let reset = config.reset.map(|n| line(n, "reset", 1)).transpose()?;
        let backlight = config
            .backlight
            .map(|n| line(n, "backlight", 0))
            .transpose()?;
        // One 4 KiB pixel buffer for the life of the program (a board opens its panel once).
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; SPIDEV_BUFSIZ].into_boxed_slice());
        SpiDisplay::new(
            device.clone(),
            panel,
            spi,
            dc,
            reset,
            backlight,
            &mut Delay,
            buffer,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_fit_the_controllers_ram() {
        assert!(Panel::new(Controller::St7789, 240, 240).is_ok());
        assert!(Panel::new(Controller::Ili9341, 320, 240)
            .unwrap()
            .landscape());
        let e = Panel::new(Controller::St7789, 480, 320).unwrap_err();
        assert!(e.contains("ST7789") && e.contains("480x320"), "{e}");
        assert!(Panel::new(Controller::Ili9341, 0, 240).is_err());
        assert_eq!("ILI9341".parse::<Controller>(), Ok(Controller::Ili9341));
        assert!("ssd1306"
            .parse::<Controller>()
            .unwrap_err()
            .contains("ssd1306"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_missing_gpio_chip_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_gpio_chip(dir.path(), "pinctrl-bcm2711").unwrap_err();
        assert!(e.contains("\"pinctrl-bcm2711\""), "{e}");
        assert!(e.contains("no gpiochip devices"), "{e}");
        let e = find_gpio_chip(&dir.path().join("nowhere"), "pinctrl-rp1").unwrap_err();
        assert!(
            e.contains("pinctrl-rp1") && e.contains("cannot list"),
            "{e}"
        );
    }
}
