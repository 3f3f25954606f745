//! The Linux framebuffer (`/dev/fbN`): HDMI screens on kiosks, and the DPI/SPI panels whose
//! kernel driver exposes one.
//!
//! The kernel says how a pixel is laid out (FBIOGET_VSCREENINFO: resolution, bits per pixel,
//! where red, green and blue sit in the pixel, the visible area's offset in the virtual frame;
//! FBIOGET_FSCREENINFO: bytes per line, memory size). We honour all of it rather than assume
//! 32-bit XRGB, because a Pi with a small DPI panel runs 16-bit RGB565 with padded lines while an
//! HDMI screen runs 32-bit BGRA. The geometry can also be given explicitly and the mapped file can
//! be any file, which is how the tests check the bytes. Each `show` renders into a frame in memory
//! and then copies it over, so the screen never shows a half-drawn picture for long.
//!
//! Pixels are written little-endian (every board we target, ARM and x86, is little-endian).

use std::fs::File;

use embedded_graphics::pixelcolor::Rgb888;
use image::RgbImage;
use memmap2::{MmapMut, MmapOptions};

use super::canvas::RgbCanvas;
use super::render::draw_screen;
use super::{Display, DisplayError, Screen};

/// Where one colour channel sits in a pixel value (bits, from the least significant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bitfield {
    pub offset: u32,
    pub length: u32,
}

impl Bitfield {
    pub const fn new(offset: u32, length: u32) -> Self {
        Self { offset, length }
    }
}

/// How the framebuffer's memory is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramebufferGeometry {
    /// Visible width and height in pixels.
    pub xres: u32,
    pub yres: u32,
    /// Where the visible area starts in the (possibly larger, for panning) virtual frame.
    pub xoffset: u32,
    pub yoffset: u32,
    pub bits_per_pixel: u32,
    pub red: Bitfield,
    pub green: Bitfield,
    pub blue: Bitfield,
    /// Bytes from one line to the next (at least `xres × bytes per pixel`, often padded).
    pub line_length: u32,
}

impl FramebufferGeometry {
    /// 16-bit RGB565, as on a Pi's DPI panel or a fbtft SPI panel.
    pub const fn rgb565(xres: u32, yres: u32, line_length: u32) -> Self {
        Self {
            xres,
            yres,
            xoffset: 0,
            yoffset: 0,
            bits_per_pixel: 16,
            red: Bitfield::new(11, 5),
            green: Bitfield::new(5, 6),
            blue: Bitfield::new(0, 5),
            line_length,
        }
    }

    /// 32-bit with blue in the lowest byte (bytes B, G, R, X in memory): what HDMI framebuffers
    /// on the Pi and on x86 report.
    pub const fn bgrx8888(xres: u32, yres: u32, line_length: u32) -> Self {
        Self {
            xres,
            yres,
            xoffset: 0,
            yoffset: 0,
            bits_per_pixel: 32,
            red: Bitfield::new(16, 8),
            green: Bitfield::new(8, 8),
            blue: Bitfield::new(0, 8),
            line_length,
        }
    }

    /// Bytes of the mapping the visible area reaches into.
    pub fn bytes_needed(&self) -> u64 {
        (self.yoffset as u64 + self.yres as u64) * self.line_length as u64
    }

    /// Checks the layout and works out how to pack a pixel; the error says what does not fit.
    fn pixel_format(&self) -> Result<PixelFormat, String> {
        let bpp = self.bits_per_pixel;
        if !matches!(bpp, 16 | 24 | 32) {
            return Err(format!(
                "{bpp} bits per pixel is not supported (only 16, 24 and 32; 8 bits and less \
                 means a palette or monochrome screen)"
            ));
        }
        if self.xres == 0 || self.yres == 0 {
            return Err(format!("the visible area is {}x{}", self.xres, self.yres));
        }
        let fields = [
            ("red", self.red),
            ("green", self.green),
            ("blue", self.blue),
        ];
        for (name, f) in fields {
            if f.length == 0 || f.length > 16 || f.offset.saturating_add(f.length) > bpp {
                return Err(format!(
                    "the {name} channel (offset {}, length {}) does not fit a {bpp}-bit pixel",
                    f.offset, f.length
                ));
            }
        }
        for (i, (a, fa)) in fields.iter().enumerate() {
            for (b, fb) in &fields[i + 1..] {
                if fa.offset < fb.offset + fb.length && fb.offset < fa.offset + fa.length {
                    return Err(format!(
                        "the {a} and {b} channels overlap (offsets {} and {})",
                        fa.offset, fb.offset
                    ));
                }
            }
        }
        let bytes = bpp / 8;
        let row = (self.xoffset as u64 + self.xres as u64) * bytes as u64;
        if (self.line_length as u64) < row {
            return Err(format!(
                "a line is {} bytes, but {} pixels from x offset {} at {bytes} bytes need {row}",
                self.line_length, self.xres, self.xoffset
            ));
        }
        Ok(PixelFormat {
            bytes: bytes as usize,
            channels: [self.red, self.green, self.blue],
        })
    }
}

/// How an Rgb888 colour becomes the bytes of one pixel.
#[derive(Debug, Clone, Copy)]
struct PixelFormat {
    bytes: usize,
    channels: [Bitfield; 3],
}

impl PixelFormat {
    fn pack(&self, rgb: [u8; 3]) -> [u8; 4] {
        let mut value = 0u32;
        for (c, f) in rgb.iter().zip(self.channels) {
            let c = *c as u32;
            // Fewer bits: keep the top ones. More bits (10-bit panels): replicate them, so
            // white stays full white.
            let v = if f.length <= 8 {
                c >> (8 - f.length)
            } else {
                (c << (f.length - 8)) | (c >> (16 - f.length))
            };
            value |= v << f.offset;
        }
        value.to_le_bytes()
    }
}

/// Copies `frame` into `memory` laid out as `geometry` says. `frame` must be `xres × yres` and
/// `memory` at least `geometry.bytes_needed()` long (both checked by the caller).
fn write_frame(
    geometry: &FramebufferGeometry,
    format: &PixelFormat,
    frame: &RgbImage,
    memory: &mut [u8],
) {
    let bytes = format.bytes;
    let line = geometry.line_length as usize;
    let x0 = geometry.xoffset as usize * bytes;
    let width = geometry.xres as usize;
    for (y, row) in frame.as_raw().chunks_exact(width * 3).enumerate() {
        let start = (geometry.yoffset as usize + y) * line + x0;
        let out = &mut memory[start..start + width * bytes];
        for (px, dst) in row.chunks_exact(3).zip(out.chunks_exact_mut(bytes)) {
            let packed = format.pack([px[0], px[1], px[2]]);
            dst.copy_from_slice(&packed[..bytes]);
        }
    }
}

/// A framebuffer device (or any file laid out like one), memory-mapped.
pub struct FramebufferDisplay {
    device: String,
    geometry: FramebufferGeometry,
    format: PixelFormat,
    memory: MmapMut,
    canvas: RgbCanvas,
}

impl FramebufferDisplay {
    /// Opens `/dev/fbN`, reads its geometry from the kernel and maps it.
    #[cfg(target_os = "linux")]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, DisplayError> {
        let path = path.as_ref();
        let device = path.display().to_string();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                DisplayError::new(
                    &device,
                    format!(
                        "cannot open the framebuffer: {e} (is there a screen, and is this user \
                         in the video group?)"
                    ),
                )
            })?;
        let info = linux::screen_info(&file).map_err(|m| DisplayError::new(&device, m))?;
        if info.bytes_needed > info.memory_len {
            return Err(DisplayError::new(
                &device,
                format!(
                    "the visible area needs {} bytes but the framebuffer has {}",
                    info.bytes_needed, info.memory_len
                ),
            ));
        }
        Self::with_file(&file, device, info.geometry)
    }

    /// Maps `file` as a framebuffer laid out as `geometry`; `device` names it in errors. A
    /// regular file must be at least `geometry.bytes_needed()` long.
    pub fn with_file(
        file: &File,
        device: impl Into<String>,
        geometry: FramebufferGeometry,
    ) -> Result<Self, DisplayError> {
        let device = device.into();
        let format = geometry
            .pixel_format()
            .map_err(|m| DisplayError::new(&device, m))?;
        let needed = geometry.bytes_needed();
        let metadata = file
            .metadata()
            .map_err(|e| DisplayError::new(&device, format!("cannot read its metadata: {e}")))?;
        // A device reports length 0; its size was checked against the kernel's figure. A short
        // regular file would fault on access beyond its end, so it is refused here.
        if metadata.is_file() && metadata.len() < needed {
            return Err(DisplayError::new(
                &device,
                format!(
                    "the file has {} bytes, the geometry needs {needed}",
                    metadata.len()
                ),
            ));
        }
        let len = usize::try_from(needed).map_err(|_| {
            DisplayError::new(&device, format!("{needed} bytes cannot be mapped here"))
        })?;
        // SAFETY: the mapping is only ever accessed through `self.memory` as bytes; another
        // process writing the same framebuffer can change what is shown but not break memory
        // safety, and a regular file was checked to be long enough above.
        let memory = unsafe { MmapOptions::new().len(len).map_mut(file) }
            .map_err(|e| DisplayError::new(&device, format!("cannot map {len} bytes: {e}")))?;
        Ok(Self {
            device,
            canvas: RgbCanvas::new(geometry.xres, geometry.yres, Rgb888::new(0, 0, 0)),
            geometry,
            format,
            memory,
        })
    }

    pub fn geometry(&self) -> FramebufferGeometry {
        self.geometry
    }

    /// The frame most recently shown, as drawn (before packing into the framebuffer's format).
    pub fn last_frame(&self) -> &RgbImage {
        &self.canvas.image
    }

    /// Copies a ready-made `xres × yres` picture onto the screen.
    pub fn present(&mut self, frame: &RgbImage) -> Result<(), DisplayError> {
        if frame.dimensions() != (self.geometry.xres, self.geometry.yres) {
            return Err(DisplayError::new(
                &self.device,
                format!(
                    "a {}x{} frame does not fit the {}x{} screen",
                    frame.width(),
                    frame.height(),
                    self.geometry.xres,
                    self.geometry.yres
                ),
            ));
        }
        write_frame(&self.geometry, &self.format, frame, &mut self.memory);
        Ok(())
    }
}

impl Display for FramebufferDisplay {
    fn size(&self) -> (u32, u32) {
        (self.geometry.xres, self.geometry.yres)
    }

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), DisplayError> {
        let Ok(()) = draw_screen(&mut self.canvas, screen);
        write_frame(
            &self.geometry,
            &self.format,
            &self.canvas.image,
            &mut self.memory,
        );
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    //! The two framebuffer ioctls, with the structures of <linux/fb.h>.

    use std::fs::File;
    use std::os::fd::AsRawFd;

    use super::{Bitfield, FramebufferGeometry};

    const FBIOGET_VSCREENINFO: u32 = 0x4600;
    const FBIOGET_FSCREENINFO: u32 = 0x4602;
    const FB_TYPE_PACKED_PIXELS: u32 = 0;
    const FB_VISUAL_TRUECOLOR: u32 = 2;
    const FB_VISUAL_DIRECTCOLOR: u32 = 4;

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    #[allow(dead_code)]
    struct FbBitfield {
        offset: u32,
        length: u32,
        msb_right: u32,
    }

    // The kernel fills every field; only some are read here.
    #[repr(C)]
    #[derive(Default)]
    #[allow(dead_code)]
    struct FbVarScreeninfo {
        xres: u32,
        yres: u32,
        xres_virtual: u32,
        yres_virtual: u32,
        xoffset: u32,
        yoffset: u32,
        bits_per_pixel: u32,
        grayscale: u32,
        red: FbBitfield,
        green: FbBitfield,
        blue: FbBitfield,
        transp: FbBitfield,
        nonstd: u32,
        activate: u32,
        height: u32,
        width: u32,
        accel_flags: u32,
        pixclock: u32,
        left_margin: u32,
        right_margin: u32,
        upper_margin: u32,
        lower_margin: u32,
        hsync_len: u32,
        vsync_len: u32,
        sync: u32,
        vmode: u32,
        rotate: u32,
        colorspace: u32,
        reserved: [u32; 4],
    }

    #[repr(C)]
    #[derive(Default)]
    #[allow(dead_code)]
    struct FbFixScreeninfo {
        id: [u8; 16],
        smem_start: libc::c_ulong,
        smem_len: u32,
        type_: u32,
        type_aux: u32,
        visual: u32,
        xpanstep: u16,
        ypanstep: u16,
        ywrapstep: u16,
        line_length: u32,
        mmio_start: libc::c_ulong,
        mmio_len: u32,
        accel: u32,
        capabilities: u16,
        reserved: [u16; 2],
    }

    pub struct ScreenInfo {
        pub geometry: FramebufferGeometry,
        pub bytes_needed: u64,
        pub memory_len: u64,
    }

    fn ioctl<T>(file: &File, request: u32, what: &str, out: &mut T) -> Result<(), String> {
        // SAFETY: `out` is a live, exclusively borrowed #[repr(C)] struct of the size the kernel
        // writes for `request` (the layouts above follow <linux/fb.h>).
        let rc = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                request as libc::Ioctl,
                out as *mut T as *mut libc::c_void,
            )
        };
        if rc < 0 {
            return Err(format!(
                "{what} failed: {} (is this a framebuffer device?)",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    pub fn screen_info(file: &File) -> Result<ScreenInfo, String> {
        let mut var = FbVarScreeninfo::default();
        ioctl(file, FBIOGET_VSCREENINFO, "FBIOGET_VSCREENINFO", &mut var)?;
        let mut fix = FbFixScreeninfo::default();
        ioctl(file, FBIOGET_FSCREENINFO, "FBIOGET_FSCREENINFO", &mut fix)?;
        let name = String::from_utf8_lossy(&fix.id)
            .trim_end_matches('\0')
            .to_string();
        if fix.type_ != FB_TYPE_PACKED_PIXELS {
            return Err(format!(
                "{name}: framebuffer type {} is not packed pixels (planar and text modes are \
                 not supported)",
                fix.type_
            ));
        }
        if fix.visual != FB_VISUAL_TRUECOLOR && fix.visual != FB_VISUAL_DIRECTCOLOR {
            return Err(format!(
                "{name}: visual {} is a palette or monochrome mode, not true colour",
                fix.visual
            ));
        }
        if var.grayscale != 0 || var.nonstd != 0 {
            return Err(format!(
                "{name}: a grayscale or non-standard pixel format (grayscale {}, nonstd {}) is \
                 not supported",
                var.grayscale, var.nonstd
            ));
        }
        let field = |f: FbBitfield| Bitfield::new(f.offset, f.length);
        let geometry = FramebufferGeometry {
            xres: var.xres,
            yres: var.yres,
            xoffset: var.xoffset,
            yoffset: var.yoffset,
            bits_per_pixel: var.bits_per_pixel,
            red: field(var.red),
            green: field(var.green),
            blue: field(var.blue),
            line_length: fix.line_length,
        };
        Ok(ScreenInfo {
            bytes_needed: geometry.bytes_needed(),
            geometry,
            memory_len: fix.smem_len as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb565_and_bgrx_pack_as_the_kernel_describes() {
        let f565 = FramebufferGeometry::rgb565(4, 4, 8).pixel_format().unwrap();
        // Pure red is 0xF800, little-endian.
        assert_eq!(&f565.pack([255, 0, 0])[..2], &[0x00, 0xF8]);
        assert_eq!(&f565.pack([0, 255, 0])[..2], &[0xE0, 0x07]);
        assert_eq!(&f565.pack([0, 0, 255])[..2], &[0x1F, 0x00]);
        let f32 = FramebufferGeometry::bgrx8888(4, 4, 16)
            .pixel_format()
            .unwrap();
        assert_eq!(&f32.pack([1, 2, 3])[..4], &[3, 2, 1, 0]);
        // 24-bit packed: three bytes a pixel, blue first.
        let mut g = FramebufferGeometry::bgrx8888(4, 4, 12);
        g.bits_per_pixel = 24;
        let f24 = g.pixel_format().unwrap();
        assert_eq!(f24.bytes, 3);
        assert_eq!(&f24.pack([1, 2, 3])[..3], &[3, 2, 1]);
        // 10-bit channels: full white stays full.
        let mut g = FramebufferGeometry::bgrx8888(4, 4, 16);
        g.red = Bitfield::new(20, 10);
        g.green = Bitfield::new(10, 10);
        g.blue = Bitfield::new(0, 10);
        let f30 = g.pixel_format().unwrap();
        assert_eq!(u32::from_le_bytes(f30.pack([255, 255, 255])), (1 << 30) - 1);
    }

    #[test]
    fn nonsense_layouts_are_refused_with_a_reason() {
        let mut g = FramebufferGeometry::rgb565(4, 4, 8);
        g.bits_per_pixel = 8;
        assert!(g.pixel_format().unwrap_err().contains("8 bits per pixel"));
        let mut g = FramebufferGeometry::rgb565(4, 4, 8);
        g.red = Bitfield::new(12, 5);
        assert!(g.pixel_format().unwrap_err().contains("red channel"));
        let mut g = FramebufferGeometry::rgb565(4, 4, 8);
        g.green = Bitfield::new(4, 6);
        assert!(g.pixel_format().unwrap_err().contains("overlap"));
        let g = FramebufferGeometry::rgb565(4, 4, 6);
        assert!(g.pixel_format().unwrap_err().contains("a line is 6 bytes"));
    }
}
