//! The framebuffer display on memory-mapped temporary files laid out like real framebuffers: a
//! 16-bit RGB565 DPI panel with padded lines, panned to the second half of a double buffer, and
//! a 32-bit BGRX 1920×1080 HDMI screen. Bytes are checked at known pixels.

use std::io::Write;

use embedded_graphics::pixelcolor::RgbColor;
use image::RgbImage;
use s2i_device::display::render::palette;
use s2i_device::display::{Bitfield, Display, FramebufferDisplay, FramebufferGeometry, Screen};
use s2i_device::infer::StageImage;

const FILL: u8 = 0xAA;

/// A temporary file of `len` bytes, all `FILL`.
fn backing_file(len: u64) -> std::fs::File {
    let mut file = tempfile::tempfile().unwrap();
    let block = vec![FILL; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    file
}

fn read_all(file: &std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file.try_clone().unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).unwrap();
    bytes
}

fn rgb565(r: u8, g: u8, b: u8) -> [u8; 2] {
    let v = ((r as u16 >> 3) << 11) | ((g as u16 >> 2) << 5) | (b as u16 >> 3);
    v.to_le_bytes()
}

/// A frame where every pixel's colour says where it is.
fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 3) as u8, (x + 2 * y) as u8])
    })
}

#[test]
fn rgb565_panel_with_padded_lines_and_panning() {
    // 800×480 visible, virtual 800×960 (double buffer) showing the lower half; 1664-byte lines
    // (1600 used + 64 padding), as some DPI drivers align lines.
    let mut geometry = FramebufferGeometry::rgb565(800, 480, 1664);
    geometry.yoffset = 480;
    let line = 1664usize;
    let file = backing_file(960 * line as u64);
    let mut fb = FramebufferDisplay::with_file(&file, "/dev/fb1", geometry).unwrap();
    assert_eq!(fb.size(), (800, 480));

    let frame = pattern(800, 480);
    fb.present(&frame).unwrap();
    let bytes = read_all(&file);
    for (x, y) in [(0, 0), (799, 0), (0, 479), (799, 479), (123, 456), (400, 1)] {
        let at = (480 + y as usize) * line + x as usize * 2;
        let p = frame.get_pixel(x, y).0;
        assert_eq!(
            &bytes[at..at + 2],
            &rgb565(p[0], p[1], p[2]),
            "pixel ({x}, {y})"
        );
    }
    // The hidden first buffer and each line's padding are untouched.
    assert!(bytes[..480 * line].iter().all(|&b| b == FILL));
    for y in [480usize, 700, 959] {
        assert!(bytes[y * line + 1600..(y + 1) * line]
            .iter()
            .all(|&b| b == FILL));
    }

    // A real screen: the error screen's red band at the top, its background at the bottom.
    fb.show(&Screen::Error {
        message: "microphone unplugged",
    })
    .unwrap();
    let bytes = read_all(&file);
    let band = palette::ALERT;
    let at = 480 * line + 790 * 2;
    assert_eq!(&bytes[at..at + 2], &rgb565(band.r(), band.g(), band.b()));
    let bg = palette::BACKGROUND;
    let at = (480 + 479) * line + 799 * 2;
    assert_eq!(&bytes[at..at + 2], &rgb565(bg.r(), bg.g(), bg.b()));
    // Every visible pixel is the drawn frame, packed.
    let drawn = fb.last_frame();
    for (x, y, p) in drawn.enumerate_pixels() {
        let at = (480 + y as usize) * line + x as usize * 2;
        assert_eq!(&bytes[at..at + 2], &rgb565(p[0], p[1], p[2]));
    }
}

#[test]
fn bgrx_hdmi_screen_1080p() {
    let geometry = FramebufferGeometry::bgrx8888(1920, 1080, 7680);
    let file = backing_file(1080 * 7680);
    let mut fb = FramebufferDisplay::with_file(&file, "/dev/fb0", geometry).unwrap();
    let frame = pattern(1920, 1080);
    fb.present(&frame).unwrap();
    let bytes = read_all(&file);
    for (x, y) in [(0u32, 0u32), (1919, 0), (0, 1079), (1919, 1079), (960, 540)] {
        let at = y as usize * 7680 + x as usize * 4;
        let p = frame.get_pixel(x, y).0;
        assert_eq!(
            &bytes[at..at + 4],
            &[p[2], p[1], p[0], 0],
            "pixel ({x}, {y})"
        );
    }

    // The result screen: a uniform picture, letter-boxed in black, centred.
    let colour = [200u8, 120, 40];
    let picture = StageImage {
        stage: 2,
        side: 128,
        rgb: colour.repeat(128 * 128),
        elapsed: std::time::Duration::ZERO,
    };
    fb.show(&Screen::Result {
        image: &picture,
        caption: "seed 3",
    })
    .unwrap();
    let bytes = read_all(&file);
    let centre = 540 * 7680 + 960 * 4;
    assert_eq!(&bytes[centre..centre + 4], &[40, 120, 200, 0]);
    // Left of the picture is the letterbox.
    let left = 540 * 7680 + 10 * 4;
    assert_eq!(&bytes[left..left + 4], &[0, 0, 0, 0]);
    assert_eq!(fb.last_frame().get_pixel(960, 540).0, colour);
}

#[test]
fn unsupported_layouts_name_the_device() {
    let file = backing_file(64 * 64 * 4);
    let mut g = FramebufferGeometry::rgb565(64, 64, 128);
    g.bits_per_pixel = 8;
    let e = FramebufferDisplay::with_file(&file, "/dev/fb2", g)
        .err()
        .unwrap();
    assert_eq!(e.device, "/dev/fb2");
    assert!(e.to_string().contains("8 bits per pixel"), "{e}");

    let mut g = FramebufferGeometry::bgrx8888(64, 64, 256);
    g.blue = Bitfield::new(30, 8);
    let e = FramebufferDisplay::with_file(&file, "/dev/fb2", g)
        .err()
        .unwrap();
    assert!(e.to_string().contains("blue channel"), "{e}");

    // A mapping shorter than the geometry is refused rather than faulting later.
    let g = FramebufferGeometry::bgrx8888(64, 128, 256);
    let e = FramebufferDisplay::with_file(&file, "/dev/fb2", g)
        .err()
        .unwrap();
    assert!(e.to_string().contains("needs 32768"), "{e}");

    let g = FramebufferGeometry::bgrx8888(64, 64, 256);
    let mut fb = FramebufferDisplay::with_file(&file, "/dev/fb2", g).unwrap();
    let e = fb.present(&RgbImage::new(32, 32)).unwrap_err();
    assert!(e.to_string().contains("32x32"), "{e}");
}

#[cfg(target_os = "linux")]
#[test]
fn opening_something_that_is_not_a_framebuffer_says_so() {
    let e = FramebufferDisplay::open("/dev/fb-s2i-missing")
        .err()
        .unwrap();
    assert_eq!(e.device, "/dev/fb-s2i-missing");
    assert!(e.to_string().contains("cannot open"), "{e}");

    let file = tempfile::NamedTempFile::new().unwrap();
    let e = FramebufferDisplay::open(file.path()).err().unwrap();
    assert!(e.to_string().contains("FBIOGET_VSCREENINFO"), "{e}");
}
