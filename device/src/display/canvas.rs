//! An RGB image in memory as an embedded-graphics `DrawTarget`: the PNG display (headless
//! boards, tests, batch work) draws through the same trait as the SPI and framebuffer screens.

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use image::RgbImage;

pub struct RgbCanvas {
    pub image: RgbImage,
}

impl RgbCanvas {
    pub fn new(width: u32, height: u32, background: Rgb888) -> Self {
        let px = image::Rgb([background.r(), background.g(), background.b()]);
        Self {
            image: RgbImage::from_pixel(width, height, px),
        }
    }

    /// Copies `picture` with its top-left corner at (x, y), clipped to the canvas.
    pub fn blit(&mut self, picture: &RgbImage, x: u32, y: u32) {
        for (px, py, p) in picture.enumerate_pixels() {
            let (cx, cy) = (x + px, y + py);
            if cx < self.image.width() && cy < self.image.height() {
                self.image.put_pixel(cx, cy, *p);
            }
        }
    }
}

impl OriginDimensions for RgbCanvas {
    fn size(&self) -> Size {
        Size::new(self.image.width(), self.image.height())
    }
}

impl DrawTarget for RgbCanvas {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (w, h) = (self.image.width() as i32, self.image.height() as i32);
        for Pixel(p, c) in pixels {
            if (0..w).contains(&p.x) && (0..h).contains(&p.y) {
                self.image
                    .put_pixel(p.x as u32, p.y as u32, image::Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }

    // Backgrounds and bars are large rectangles: filling rows directly keeps a 1920×1080 frame
    // cheap, where the per-pixel default would bounds-check two million points.
    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let area = area.intersection(&self.bounding_box());
        let Some(bottom_right) = area.bottom_right() else {
            return Ok(());
        };
        let px = image::Rgb([color.r(), color.g(), color.b()]);
        for y in area.top_left.y..=bottom_right.y {
            for x in area.top_left.x..=bottom_right.x {
                self.image.put_pixel(x as u32, y as u32, px);
            }
        }
        Ok(())
    }
}
