//! The SPI panel driver against an in-memory bus: every byte is recorded with the level of the
//! DC pin (low: command, high: data) and every transfer's size, so the tests check the
//! controller's init sequence, the full-screen window, the pixel bytes and spidev's 4096-byte
//! limit.

use std::cell::RefCell;
use std::rc::Rc;

use embedded_graphics::pixelcolor::{Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::spi::{ErrorType, Operation, SpiDevice};
use s2i_device::display::spi::{Panel, SPIDEV_BUFSIZ};
use s2i_device::display::{
    draw_screen, ChunkedSpi, Controller, Display, RgbCanvas, Screen, SpiDisplay,
};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// One SPI transfer: DC level and the bytes.
    Transfer {
        dc_high: bool,
        bytes: Vec<u8>,
    },
    Pin {
        name: &'static str,
        high: bool,
    },
}

#[derive(Default)]
struct Bus {
    dc_high: bool,
    events: Vec<Event>,
}

type Shared = Rc<RefCell<Bus>>;

struct RecordingSpi(Shared);

impl ErrorType for RecordingSpi {
    type Error = core::convert::Infallible;
}

impl SpiDevice for RecordingSpi {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        let mut bus = self.0.borrow_mut();
        // A transaction is one spidev message: its size is what the kernel limits.
        let mut bytes = Vec::new();
        for op in operations.iter() {
            match op {
                Operation::Write(b) => bytes.extend_from_slice(b),
                Operation::DelayNs(_) => {}
                other => panic!("a display only writes, got {other:?}"),
            }
        }
        let dc_high = bus.dc_high;
        bus.events.push(Event::Transfer { dc_high, bytes });
        Ok(())
    }
}

struct RecordingPin {
    name: &'static str,
    bus: Shared,
}

impl PinErrorType for RecordingPin {
    type Error = core::convert::Infallible;
}

impl OutputPin for RecordingPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.set(true);
        Ok(())
    }
}

impl RecordingPin {
    fn set(&mut self, high: bool) {
        let mut bus = self.bus.borrow_mut();
        if self.name == "dc" {
            bus.dc_high = high;
        } else {
            bus.events.push(Event::Pin {
                name: self.name,
                high,
            });
        }
    }
}

struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A command byte and the data bytes that followed it (up to the next command).
#[derive(Debug)]
struct Command {
    code: u8,
    data: Vec<u8>,
}

fn transfers(events: &[Event]) -> Vec<(bool, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Transfer { dc_high, bytes } => Some((*dc_high, bytes.clone())),
            _ => None,
        })
        .collect()
}

fn commands(events: &[Event]) -> Vec<Command> {
    let mut out: Vec<Command> = Vec::new();
    for (dc_high, bytes) in transfers(events) {
        if dc_high {
            out.last_mut()
                .expect("data before any command")
                .data
                .extend(bytes);
        } else {
            for code in bytes {
                out.push(Command {
                    code,
                    data: Vec::new(),
                });
            }
        }
    }
    out
}

fn every_transfer_fits_spidev(events: &[Event]) {
    for (i, (_, bytes)) in transfers(events).iter().enumerate() {
        assert!(
            (1..=SPIDEV_BUFSIZ).contains(&bytes.len()),
            "transfer {i} has {} bytes",
            bytes.len()
        );
    }
}

fn open(
    controller: Controller,
    width: u32,
    height: u32,
    buffer: &mut [u8],
) -> (SpiDisplay<'_, RecordingSpi, RecordingPin>, Shared) {
    let bus = Shared::default();
    let pin = |name| RecordingPin {
        name,
        bus: bus.clone(),
    };
    let panel = Panel::new(controller, width, height).unwrap();
    let display = SpiDisplay::new(
        format!("{} on test bus", controller.name()),
        panel,
        RecordingSpi(bus.clone()),
        pin("dc"),
        Some(pin("reset")),
        Some(pin("backlight")),
        &mut NoDelay,
        buffer,
    )
    .unwrap();
    (display, bus)
}

fn window(lo: u16, hi: u16) -> Vec<u8> {
    let mut v = lo.to_be_bytes().to_vec();
    v.extend(hi.to_be_bytes());
    v
}

/// Checks a full-screen frame: CASET and RASET span the panel, RAMWR carries w·h·2 bytes equal
/// to `expected` in RGB565 big-endian.
fn assert_full_frame(cmds: &[Command], width: u16, height: u16, expected: &image::RgbImage) {
    let caset = cmds.iter().rposition(|c| c.code == 0x2A).expect("CASET");
    assert_eq!(cmds[caset].data, window(0, width - 1), "CASET");
    assert_eq!(cmds[caset + 1].code, 0x2B, "RASET follows CASET");
    assert_eq!(cmds[caset + 1].data, window(0, height - 1), "RASET");
    assert_eq!(cmds[caset + 2].code, 0x2C, "RAMWR follows RASET");
    let pixels = &cmds[caset + 2].data;
    assert_eq!(pixels.len(), width as usize * height as usize * 2);
    let want: Vec<u8> = expected
        .pixels()
        .flat_map(|p| {
            let c = Rgb565::from(Rgb888::new(p[0], p[1], p[2]));
            let raw = ((c.r() as u16) << 11) | ((c.g() as u16) << 5) | c.b() as u16;
            raw.to_be_bytes()
        })
        .collect();
    assert!(pixels == &want, "pixel bytes differ from the drawn frame");
}

fn listening() -> Screen<'static> {
    Screen::Listening {
        level: 0.6,
        elapsed: std::time::Duration::from_millis(2400),
        limit: std::time::Duration::from_secs(8),
    }
}

fn drawn(width: u32, height: u32, screen: &Screen<'_>) -> image::RgbImage {
    let mut canvas = RgbCanvas::new(width, height, Rgb888::BLACK);
    let Ok(()) = draw_screen(&mut canvas, screen);
    canvas.image
}

#[test]
fn st7789_240x240_init_window_and_pixels() {
    let mut buffer = [0u8; 8192];
    let (mut display, bus) = open(Controller::St7789, 240, 240, &mut buffer);
    let init = std::mem::take(&mut bus.borrow_mut().events);
    let cmds = commands(&init);
    let codes: Vec<u8> = cmds.iter().map(|c| c.code).collect();
    // Hardware reset pulse first, then SWRESET as the first command.
    let pins: Vec<&Event> = init
        .iter()
        .filter(|e| matches!(e, Event::Pin { name: "reset", .. }))
        .collect();
    assert_eq!(
        pins.last(),
        Some(&&Event::Pin {
            name: "reset",
            high: true
        })
    );
    assert!(pins.contains(&&Event::Pin {
        name: "reset",
        high: false
    }));
    assert_eq!(codes[0], 0x01, "SWRESET first: {codes:02X?}");
    for code in [0x11, 0x3A, 0x36, 0x21, 0x29] {
        assert!(
            codes.contains(&code),
            "{code:02X} missing from {codes:02X?}"
        );
    }
    let pos = |c: u8| codes.iter().position(|&x| x == c).unwrap();
    assert!(pos(0x11) < pos(0x29), "SLPOUT before DISPON");
    let colmod = &cmds[pos(0x3A)];
    assert_eq!(colmod.data, vec![0x55], "16-bit colour");
    // Init clears the panel to black before the backlight comes on.
    assert_full_frame(&cmds, 240, 240, &image::RgbImage::new(240, 240));
    let last_backlight = init.iter().rev().find(|e| {
        matches!(
            e,
            Event::Pin {
                name: "backlight",
                ..
            }
        )
    });
    assert_eq!(
        last_backlight,
        Some(&Event::Pin {
            name: "backlight",
            high: true
        })
    );
    assert_eq!(
        init.last(),
        last_backlight,
        "backlight only after the frame"
    );
    every_transfer_fits_spidev(&init);

    let screen = listening();
    display.show(&screen).unwrap();
    let frame = std::mem::take(&mut bus.borrow_mut().events);
    let cmds = commands(&frame);
    assert_eq!(
        cmds.iter().map(|c| c.code).collect::<Vec<_>>(),
        vec![0x2A, 0x2B, 0x2C],
        "a frame is one window and one memory write"
    );
    assert_full_frame(&cmds, 240, 240, &drawn(240, 240, &screen));
    assert_eq!(display.last_frame(), &drawn(240, 240, &screen));
    every_transfer_fits_spidev(&frame);
    // 115200 pixel bytes in 4096-byte pieces: 29 data transfers.
    let data = transfers(&frame).iter().filter(|(dc, _)| *dc).count();
    assert!(
        data >= 240 * 240 * 2 / SPIDEV_BUFSIZ,
        "{data} data transfers"
    );
}

#[test]
fn st7789_240x320_portrait_window() {
    let mut buffer = [0u8; 4096];
    let (mut display, bus) = open(Controller::St7789, 240, 320, &mut buffer);
    assert_eq!(display.size(), (240, 320));
    bus.borrow_mut().events.clear();
    let screen = Screen::Attract {
        prompt: "Hold the button and describe a bird",
    };
    display.show(&screen).unwrap();
    let events = std::mem::take(&mut bus.borrow_mut().events);
    assert_full_frame(&commands(&events), 240, 320, &drawn(240, 320, &screen));
    every_transfer_fits_spidev(&events);
}

#[test]
fn ili9341_320x240_landscape() {
    // A small pixel buffer: more, smaller transfers, same bytes.
    let mut buffer = [0u8; 1000];
    let (mut display, bus) = open(Controller::Ili9341, 320, 240, &mut buffer);
    let init = std::mem::take(&mut bus.borrow_mut().events);
    let cmds = commands(&init);
    let codes: Vec<u8> = cmds.iter().map(|c| c.code).collect();
    assert_eq!(codes[0], 0x01, "SWRESET first: {codes:02X?}");
    for code in [0x11, 0x3A, 0x36, 0x29] {
        assert!(
            codes.contains(&code),
            "{code:02X} missing from {codes:02X?}"
        );
    }
    let madctl = &cmds[codes.iter().position(|&c| c == 0x36).unwrap()];
    // Rows and columns exchanged (landscape), BGR panel.
    assert_eq!(madctl.data.len(), 1);
    assert_ne!(madctl.data[0] & 0x20, 0, "MV set: {:02X}", madctl.data[0]);
    assert_ne!(madctl.data[0] & 0x08, 0, "BGR set: {:02X}", madctl.data[0]);
    every_transfer_fits_spidev(&init);

    let screen = Screen::Error {
        message: "no microphone: plug one in and press the button again",
    };
    display.show(&screen).unwrap();
    let events = std::mem::take(&mut bus.borrow_mut().events);
    assert_full_frame(&commands(&events), 320, 240, &drawn(320, 240, &screen));
    every_transfer_fits_spidev(&events);
    for (_, bytes) in transfers(&events) {
        assert!(bytes.len() <= 1000);
    }
    let (_spi, _dc, reset, backlight) = display.release();
    assert!(reset.is_some() && backlight.is_some());
}

#[test]
fn chunked_spi_splits_long_writes_and_drops_empty_ones() {
    let bus = Shared::default();
    let mut spi = ChunkedSpi::new(RecordingSpi(bus.clone()), SPIDEV_BUFSIZ);
    spi.write(&vec![7u8; 10_000]).unwrap();
    spi.write(&[]).unwrap();
    spi.write(&[1, 2, 3]).unwrap();
    spi.transaction(&mut [Operation::Write(&[1; 3000]), Operation::Write(&[2; 3000])])
        .unwrap();
    let sizes: Vec<usize> = transfers(&bus.borrow().events)
        .iter()
        .map(|(_, b)| b.len())
        .collect();
    assert_eq!(sizes, vec![4096, 4096, 1808, 3, 3000, 3000]);
    let all: Vec<u8> = transfers(&bus.borrow().events)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    assert_eq!(all.len(), 10_000 + 3 + 6000);
    assert!(all[..10_000].iter().all(|&b| b == 7));
}

#[test]
fn panels_that_do_not_exist_are_refused() {
    let e = Panel::new(Controller::Ili9341, 480, 320).unwrap_err();
    assert!(e.contains("ILI9341") && e.contains("480x320"), "{e}");
}

#[cfg(target_os = "linux")]
#[test]
fn the_board_constructor_names_what_is_missing() {
    use s2i_device::display::SpiConfig;
    let mut config = SpiConfig {
        controller: Controller::St7789,
        width: 240,
        height: 240,
        spidev: "/dev/spidev-s2i-missing.0".into(),
        speed_hz: 40_000_000,
        spi_mode: 0,
        gpio_chip: "pinctrl-bcm2711".into(),
        dc: 25,
        reset: Some(27),
        backlight: Some(18),
    };
    let e = SpiDisplay::open(&config).err().unwrap();
    assert_eq!(e.device, "ST7789 on /dev/spidev-s2i-missing.0");
    assert!(e.message.contains("cannot open"), "{e}");
    config.width = 480;
    let e = SpiDisplay::open(&config).err().unwrap();
    assert!(e.message.contains("480x240"), "{e}");
    config.width = 240;
    config.spi_mode = 4;
    let e = SpiDisplay::open(&config).err().unwrap();
    assert!(e.message.contains("SPI mode 4"), "{e}");
}
