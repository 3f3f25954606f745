//! Small drawing helpers over tiny-skia: paths, paints, gradients, blur and pixel access.

use tiny_skia::{
    FillRule, GradientStop, LinearGradient, Paint, Path, PathBuilder, Pixmap, Point,
    RadialGradient, Shader, SpreadMode, Stroke, Transform,
};

use super::colour::Rgb;

/// Side of every generated image.
pub const SIZE: u32 = 256;

pub fn new_pixmap() -> Pixmap {
    Pixmap::new(SIZE, SIZE).expect("256×256 is a valid pixmap size")
}

pub fn paint_of(shader: Shader<'static>) -> Paint<'static> {
    Paint {
        shader,
        anti_alias: true,
        ..Paint::default()
    }
}

pub fn solid(c: Rgb, alpha: f32) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(c.color_a(alpha));
    p.anti_alias = true;
    p
}

/// A linear gradient paint; falls back to the first colour when the gradient is degenerate.
pub fn linear(p0: (f32, f32), p1: (f32, f32), stops: &[(f32, Rgb, f32)]) -> Paint<'static> {
    let s = stops
        .iter()
        .map(|&(t, c, a)| GradientStop::new(t, c.color_a(a)))
        .collect();
    match LinearGradient::new(
        Point::from_xy(p0.0, p0.1),
        Point::from_xy(p1.0, p1.1),
        s,
        SpreadMode::Pad,
        Transform::identity(),
    ) {
        Some(shader) => paint_of(shader),
        None => solid(stops[0].1, stops[0].2),
    }
}

/// A radial gradient paint centred on `c` with radius `r`.
pub fn radial(c: (f32, f32), r: f32, stops: &[(f32, Rgb, f32)]) -> Paint<'static> {
    let s = stops
        .iter()
        .map(|&(t, c, a)| GradientStop::new(t, c.color_a(a)))
        .collect();
    match RadialGradient::new(
        Point::from_xy(c.0, c.1),
        Point::from_xy(c.0, c.1),
        r.max(0.01),
        s,
        SpreadMode::Pad,
        Transform::identity(),
    ) {
        Some(shader) => paint_of(shader),
        None => solid(stops[0].1, stops[0].2),
    }
}

pub fn fill(pm: &mut Pixmap, path: &Path, paint: &Paint, ts: Transform) {
    pm.fill_path(path, paint, FillRule::Winding, ts, None);
}

pub fn fill_rgb(pm: &mut Pixmap, path: &Path, c: Rgb, alpha: f32, ts: Transform) {
    fill(pm, path, &solid(c, alpha), ts);
}

pub fn stroke_rgb(pm: &mut Pixmap, path: &Path, c: Rgb, alpha: f32, width: f32, ts: Transform) {
    let stroke = Stroke {
        width,
        line_cap: tiny_skia::LineCap::Round,
        line_join: tiny_skia::LineJoin::Round,
        ..Stroke::default()
    };
    pm.stroke_path(path, &solid(c, alpha), &stroke, ts, None);
}

pub fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32) -> Path {
    tiny_skia::Rect::from_ltrb(cx - rx, cy - ry, cx + rx, cy + ry)
        .and_then(PathBuilder::from_oval)
        .unwrap_or_else(|| dot(cx, cy))
}

pub fn circle(cx: f32, cy: f32, r: f32) -> Path {
    PathBuilder::from_circle(cx, cy, r.max(0.05)).unwrap_or_else(|| dot(cx, cy))
}

pub fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Path {
    tiny_skia::Rect::from_ltrb(x0, y0, x1, y1)
        .map(PathBuilder::from_rect)
        .unwrap_or_else(|| dot(x0, y0))
}

/// A closed polygon through `pts`.
pub fn polygon(pts: &[(f32, f32)]) -> Path {
    let mut pb = PathBuilder::new();
    for (i, &(x, y)) in pts.iter().enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    pb.close();
    pb.finish().unwrap_or_else(|| dot(pts[0].0, pts[0].1))
}

/// An open polyline through `pts`, for strokes.
pub fn polyline(pts: &[(f32, f32)]) -> Path {
    let mut pb = PathBuilder::new();
    for (i, &(x, y)) in pts.iter().enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    pb.finish().unwrap_or_else(|| dot(pts[0].0, pts[0].1))
}

/// A quadratic curve from `a` through control `c` to `b`, for strokes (stems, twigs).
pub fn curve(a: (f32, f32), c: (f32, f32), b: (f32, f32)) -> Path {
    let mut pb = PathBuilder::new();
    pb.move_to(a.0, a.1);
    pb.quad_to(c.0, c.1, b.0, b.1);
    pb.finish().unwrap_or_else(|| dot(a.0, a.1))
}

/// A degenerate but valid path for the impossible cases above (tiny-skia rejects empty paths).
fn dot(x: f32, y: f32) -> Path {
    let mut pb = PathBuilder::new();
    pb.move_to(x, y);
    pb.line_to(x + 0.01, y);
    pb.line_to(x, y + 0.01);
    pb.close();
    pb.finish().expect("a three-point path is never empty")
}

/// Points on a circle from angle `a0` to `a1` (radians, y down), for caps and arcs.
pub fn arc_points(cx: f32, cy: f32, r: f32, a0: f32, a1: f32, n: usize) -> Vec<(f32, f32)> {
    (0..=n)
        .map(|i| {
            let a = a0 + (a1 - a0) * i as f32 / n as f32;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect()
}

/// A blurred copy in place: three box passes per axis approximate a Gaussian (depth of field).
pub fn box_blur(pm: &mut Pixmap, radius: u32) {
    if radius == 0 {
        return;
    }
    let (w, h) = (pm.width() as usize, pm.height() as usize);
    let data = pm.data_mut();
    let mut tmp = vec![0u8; data.len()];
    for _ in 0..3 {
        blur_pass(data, &mut tmp, w, h, radius as usize, true);
        blur_pass(&tmp, data, w, h, radius as usize, false);
    }
}

/// One box pass along rows (`horizontal`) or columns, clamping at the edges.
fn blur_pass(src: &[u8], dst: &mut [u8], w: usize, h: usize, r: usize, horizontal: bool) {
    let (lines, len) = if horizontal { (h, w) } else { (w, h) };
    let idx = |line: usize, i: usize| {
        if horizontal {
            (line * w + i) * 4
        } else {
            (i * w + line) * 4
        }
    };
    let win = (2 * r + 1) as u32;
    for line in 0..lines {
        for ch in 0..4 {
            let at = |i: isize| src[idx(line, i.clamp(0, len as isize - 1) as usize) + ch] as u32;
            let mut sum: u32 = (-(r as isize)..=r as isize).map(at).sum();
            for i in 0..len {
                dst[idx(line, i) + ch] = ((sum + win / 2) / win) as u8;
                sum += at(i as isize + r as isize + 1);
                sum -= at(i as isize - r as isize);
            }
        }
    }
}

/// Mean colour of the pixels inside the rectangle (clamped to the image).
pub fn mean_rgb(pm: &Pixmap, x0: f32, y0: f32, x1: f32, y1: f32) -> Rgb {
    let clampx = |v: f32| (v.max(0.0) as u32).min(pm.width());
    let clampy = |v: f32| (v.max(0.0) as u32).min(pm.height());
    let (x0, x1, y0, y1) = (clampx(x0), clampx(x1), clampy(y0), clampy(y1));
    let (mut r, mut g, mut b, mut n) = (0f64, 0f64, 0f64, 0f64);
    for y in y0..y1 {
        for x in x0..x1 {
            if let Some(p) = pm.pixel(x, y) {
                r += p.red() as f64;
                g += p.green() as f64;
                b += p.blue() as f64;
                n += 1.0;
            }
        }
    }
    if n == 0.0 {
        return Rgb::new(0.0, 0.0, 0.0);
    }
    Rgb::new(
        (r / n / 255.0) as f32,
        (g / n / 255.0) as f32,
        (b / n / 255.0) as f32,
    )
}

/// The RGB bytes of an opaque pixmap (premultiplied equals straight when alpha is 255).
pub fn to_rgb8(pm: &Pixmap) -> Vec<u8> {
    pm.data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}
