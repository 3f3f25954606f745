//! Golden screenshots: every screen at 240×240 and 320×240, rendered through `PngDisplay` and
//! compared with the PNGs in tests/data/screens/. After a deliberate change to the look, run
//! with `S2I_BLESS=1` to rewrite them, and look at every one before committing.
//!
//! Goldens are stored at 4 bits per channel (each channel's top nibble, repeated): a screen
//! with a picture then compresses to ~20 KB instead of ~65 KB, and layout, text and colours are
//! still checked pixel for pixel. The picture's exact pixels are checked separately against the
//! `image` crate's Catmull-Rom resize (`result_picture_is_the_smoothly_scaled_bird`).
//!
//! The bird pictures (tests/data/screens/bird_64.png, bird_128.png) are the default bundle's
//! stage 1 and stage 2 output for models/default/samples/yellow_body_black_wings.wav, seed 0,
//! made with `s2i generate --stage 1` and `s2i generate`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::codecs::png::CompressionType;
use image::RgbImage;
use s2i_device::display::png::write_png_atomically;
use s2i_device::display::render::palette;
use s2i_device::display::{Display, PngDisplay, Screen};
use s2i_device::infer::StageImage;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/screens")
}

fn stage_image(file: &str, stage: usize) -> StageImage {
    let path = data_dir().join(file);
    let picture = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(picture.width(), picture.height());
    StageImage {
        stage,
        side: picture.width(),
        rgb: picture.into_raw(),
        elapsed: Duration::from_millis(400),
    }
}

/// 4 bits per channel, top nibble repeated (0xA7 → 0xAA), as the goldens are stored.
fn quantize(image: &RgbImage) -> RgbImage {
    let mut q = image.clone();
    for p in q.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (*c & 0xF0) | (*c >> 4);
        }
    }
    q
}

fn quantized(c: embedded_graphics::pixelcolor::Rgb888) -> [u8; 3] {
    use embedded_graphics::pixelcolor::RgbColor;
    [c.r(), c.g(), c.b()].map(|v| (v & 0xF0) | (v >> 4))
}

/// How far a quantized rendering may drift from its golden (float rounding in the resize
/// filter on another CPU can tip a value over a nibble boundary): one step (17) in a channel, in
/// at most 0.5 % of the pixels.
fn compare(name: &str, actual: &RgbImage, golden: &RgbImage) -> Result<(), String> {
    if actual.dimensions() != golden.dimensions() {
        return Err(format!(
            "{name}: {:?} rendered, golden is {:?}",
            actual.dimensions(),
            golden.dimensions()
        ));
    }
    let mut differing = 0usize;
    let mut worst = 0u8;
    for (a, g) in actual.pixels().zip(golden.pixels()) {
        let d =
            a.0.iter()
                .zip(g.0)
                .map(|(x, y)| x.abs_diff(y))
                .max()
                .unwrap();
        if d > 0 {
            differing += 1;
            worst = worst.max(d);
        }
    }
    let total = actual.width() as usize * actual.height() as usize;
    if worst > 17 || differing * 200 > total {
        return Err(format!(
            "{name}: {differing} of {total} pixels differ, by up to {worst}"
        ));
    }
    Ok(())
}

fn check_golden(name: &str, frame: &RgbImage) -> Result<(), String> {
    let golden_path = data_dir().join(format!("{name}.png"));
    let frame = &quantize(frame);
    if std::env::var_os("S2I_BLESS").is_some_and(|v| v == "1") {
        write_png_atomically(&golden_path, frame, CompressionType::Best)?;
        return Ok(());
    }
    let golden = image::open(&golden_path)
        .map_err(|e| {
            format!(
                "{}: {e} (run with S2I_BLESS=1 to create it)",
                golden_path.display()
            )
        })?
        .to_rgb8();
    compare(name, frame, &golden).inspect_err(|_| {
        // Keep what was drawn next to the build, to look at.
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.actual.png"));
        let _ = frame.save(&out);
        eprintln!("{name}: rendered frame written to {}", out.display());
    })
}

#[test]
fn every_screen_matches_its_golden() {
    let preview = stage_image("bird_64.png", 1);
    let bird = stage_image("bird_128.png", 2);
    let screens: Vec<(&str, Screen)> = vec![
        (
            "attract",
            Screen::Attract {
                prompt: "Hold the button and describe a bird",
            },
        ),
        (
            "listening",
            Screen::Listening {
                level: 0.6,
                elapsed: Duration::from_millis(2400),
                limit: Duration::from_secs(8),
            },
        ),
        (
            "working",
            Screen::Working {
                done: 1,
                total: 3,
                preview: None,
            },
        ),
        (
            "working_preview",
            Screen::Working {
                done: 2,
                total: 3,
                preview: Some(&preview),
            },
        ),
        (
            "result",
            Screen::Result {
                image: &bird,
                caption: "seed 0 \u{b7} 0.9 s",
            },
        ),
        (
            "error",
            Screen::Error {
                message: "bundle /opt/s2i/current/bundle is not usable: \
                          generator_stage2.onnx does not match its SHA-256 in manifest.json",
            },
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (w, h) in [(240u32, 240u32), (320, 240)] {
        let path = dir.path().join(format!("screen_{w}x{h}.png"));
        let mut display = PngDisplay::new(&path, w, h).unwrap();
        assert_eq!(display.size(), (w, h));
        for (name, screen) in &screens {
            display.show(screen).unwrap();
            // The file on disk is the frame that was drawn.
            let written = image::open(&path).unwrap().to_rgb8();
            assert!(&written == display.last_frame(), "{name}: file != frame");
            if let Err(e) = check_golden(&format!("{name}_{w}x{h}"), &written) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // No temporary files left beside the output.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// The goldens must actually differ from each other and hold what each screen is about; a
/// broken renderer that drew nothing would fail here even after a careless bless.
#[test]
fn goldens_show_what_each_screen_is_for() {
    let open = |name: &str| {
        image::open(data_dir().join(format!("{name}.png")))
            .unwrap()
            .to_rgb8()
    };
    let count = |img: &RgbImage, c: embedded_graphics::pixelcolor::Rgb888| {
        img.pixels().filter(|p| p.0 == quantized(c)).count()
    };
    for size in ["240x240", "320x240"] {
        let attract = open(&format!("attract_{size}"));
        assert!(count(&attract, palette::ACCENT) > 200, "microphone");
        assert!(count(&attract, palette::INK) > 200, "prompt text");
        let listening = open(&format!("listening_{size}"));
        assert!(count(&listening, palette::GOOD) > 500, "lit meter");
        assert!(count(&listening, palette::ALERT) > 20, "recording dot");
        let working = open(&format!("working_{size}"));
        assert!(count(&working, palette::GOOD) > 20, "finished step");
        let result = open(&format!("result_{size}"));
        assert!(count(&result, palette::LETTERBOX) > 1000 || size == "240x240");
        let error = open(&format!("error_{size}"));
        assert!(count(&error, palette::ALERT) > 5000, "red band");
        for name in [
            "attract",
            "listening",
            "working",
            "working_preview",
            "result",
            "error",
        ] {
            let file = data_dir().join(format!("{name}_{size}.png"));
            let bytes = std::fs::metadata(&file).unwrap().len();
            assert!(bytes < 30_000, "{} is {bytes} bytes", file.display());
        }
    }
}

#[test]
fn result_picture_is_the_smoothly_scaled_bird() {
    use embedded_graphics::prelude::{Point, Size};
    use s2i_device::display::render::{fit, result_area};
    let bird = stage_image("bird_128.png", 2);
    let picture = RgbImage::from_raw(128, 128, bird.rgb.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [(240u32, 240u32), (320, 240), (240, 320), (800, 480)] {
        let caption = "seed 0";
        let area = result_area(Size::new(w, h), caption);
        // The whole width, and all the height but one caption line.
        assert_eq!(area.top_left, Point::zero());
        assert_eq!(area.size.width, w);
        assert!(
            area.size.height < h && area.size.height > h * 4 / 5,
            "{area:?}"
        );
        let placed = fit((128, 128), area);
        let side = placed.size.width;
        assert_eq!(placed.size.height, side, "aspect kept");
        assert_eq!(side, w.min(area.size.height), "as large as fits");
        let (x0, y0) = (placed.top_left.x as u32, placed.top_left.y as u32);
        assert!((2 * x0 + side).abs_diff(w) <= 1, "centred across");
        assert!(
            (2 * y0 + side).abs_diff(area.size.height) <= 1,
            "centred down"
        );

        let mut display = PngDisplay::new(dir.path().join("r.png"), w, h).unwrap();
        display
            .show(&Screen::Result {
                image: &bird,
                caption,
            })
            .unwrap();
        let frame = display.last_frame();
        let want = image::imageops::resize(
            &picture,
            side,
            side,
            image::imageops::FilterType::CatmullRom,
        );
        for (x, y, p) in want.enumerate_pixels() {
            assert_eq!(frame.get_pixel(x0 + x, y0 + y), p, "{w}x{h} at ({x}, {y})");
        }
        // Nearest-neighbour scaling would look different: the filter matters.
        let blocky =
            image::imageops::resize(&picture, side, side, image::imageops::FilterType::Nearest);
        assert_ne!(want, blocky);
        // Letterbox on the sides of a wide screen, caption ink below the picture.
        if w > side {
            assert_eq!(frame.get_pixel(0, y0 + side / 2).0, [0, 0, 0]);
            assert_eq!(frame.get_pixel(w - 1, y0 + side / 2).0, [0, 0, 0]);
        }
        let dim = quantized(palette::DIM);
        let caption_ink = (area.size.height..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| quantize_px(frame.get_pixel(x, y).0) == dim)
            .count();
        assert!(caption_ink > 20, "{w}x{h}: caption");
    }
}

fn quantize_px(p: [u8; 3]) -> [u8; 3] {
    p.map(|v| (v & 0xF0) | (v >> 4))
}

#[test]
fn large_screens_scale_up_and_bad_pictures_do_not_panic() {
    let bird = stage_image("bird_128.png", 2);
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [
        (800u32, 480u32),
        (1920, 1080),
        (240, 320),
        (128, 128),
        (1, 1),
    ] {
        let mut display = PngDisplay::new(dir.path().join("big.png"), w, h).unwrap();
        display
            .show(&Screen::Result {
                image: &bird,
                caption: "seed 0",
            })
            .unwrap();
        if w >= 240 {
            // The picture fills the height less the caption line, centred.
            let frame = display.last_frame();
            let centre = frame.get_pixel(w / 2, h / 3).0;
            assert_ne!(centre, [0, 0, 0], "{w}x{h}: no picture in the middle");
            if w > h {
                assert_eq!(frame.get_pixel(0, h / 2).0, [0, 0, 0], "{w}x{h}: letterbox");
            }
        }
        for screen in [
            Screen::Attract {
                prompt: "Hold the button and describe a bird",
            },
            Screen::Listening {
                level: f32::NAN,
                elapsed: Duration::from_secs(99),
                limit: Duration::ZERO,
            },
            Screen::Working {
                done: 7,
                total: 3,
                preview: Some(&bird),
            },
            Screen::Error { message: "" },
        ] {
            display.show(&screen).unwrap();
        }
    }
    // A picture whose buffer does not match its size is reported on screen, not a panic.
    let broken = StageImage {
        stage: 2,
        side: 128,
        rgb: vec![0; 10],
        elapsed: Duration::ZERO,
    };
    let mut display = PngDisplay::new(dir.path().join("broken.png"), 240, 240).unwrap();
    display
        .show(&Screen::Result {
            image: &broken,
            caption: "",
        })
        .unwrap();
    use embedded_graphics::pixelcolor::RgbColor;
    let red = palette::ALERT;
    assert_eq!(
        display.last_frame().get_pixel(120, 2).0,
        [red.r(), red.g(), red.b()]
    );
}

#[test]
fn png_display_refuses_impossible_sizes_and_unwritable_paths() {
    let e = PngDisplay::new("out/x.png", 0, 240).err().unwrap();
    assert!(e.to_string().contains("0x240"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    // A folder where the file should be is refused when the display is made…
    let target = dir.path().join("occupied.png");
    std::fs::create_dir(&target).unwrap();
    let e = PngDisplay::new(&target, 32, 32).err().unwrap();
    assert!(e.to_string().contains("is a directory"), "{e}");
    // …and one that appears later makes the rename fail, saying so and naming the file.
    std::fs::remove_dir(&target).unwrap();
    let mut display = PngDisplay::new(&target, 32, 32).unwrap();
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let e = display.show(&Screen::Error { message: "x" }).unwrap_err();
    assert!(e.device.contains("occupied.png"), "{e}");
    assert!(e.message.contains("rename"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "the temporary file was removed");
}
