//! What the charts share: the canvas, axes with ticks and grid, title and labels, the legend,
//! drawing primitives and the atomic PNG write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use tiny_skia::{
    Color, FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform,
};

use super::text::{draw_text, text_width, GLYPH};
use super::{nice_ticks_with_step, Rgb};

const INK: Rgb = [25, 25, 25];
const LABEL: Rgb = [60, 60, 60];
const TICK_LABEL: Rgb = [80, 80, 80];
const AXIS: Rgb = [110, 110, 110];
const GRID: Rgb = [230, 230, 230];
const LEGEND_BORDER: Rgb = [190, 190, 190];
const PAD: i32 = 10;
const TICK: i32 = 4;
const LEGEND_ROW: i32 = 14;
const LEGEND_SWATCH: i32 = 18;
/// Larger plots are refused: a mistyped size would otherwise abort the trainer on allocation.
const MAX_SIDE: u32 = 16384;

/// One axis's visible range in plot space (log10 of the value on a log axis).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl Range {
    /// A range around data spanning `[lo, hi]` with `frac` of the span free at each end so points
    /// do not sit on the frame. Data with no spread gets a range of its own around it. On a log
    /// axis `lo` and `hi` are already log10 of the data.
    pub fn around(lo: f64, hi: f64, frac: f64, log: bool) -> Range {
        let span = hi - lo;
        let (lo, hi) = if span > 1e-12 * lo.abs().max(hi.abs()) && span.is_finite() {
            (lo - span * frac, hi + span * frac)
        } else if log {
            (lo - 0.5, hi + 0.5) // a decade around it
        } else {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            (lo - pad, hi + pad)
        };
        // Extremes near f64::MAX would pad to infinity, which no pixel can show.
        Range {
            lo: lo.max(-f64::MAX),
            hi: hi.min(f64::MAX),
            log,
        }
    }

    /// Ticks in plot space with their labels, at most `max_ticks` of them.
    fn ticks(&self, max_ticks: usize) -> Vec<(f64, String)> {
        if !self.log {
            return linear_ticks(self.lo, self.hi, max_ticks, |t| t);
        }
        let eps = 1e-9;
        if self.hi - self.lo <= 3.0 {
            // A few decades: 1-2-5 within each.
            let mut ticks = Vec::new();
            for k in (self.lo.floor() as i32)..=(self.hi.ceil() as i32) {
                for m in [1u8, 2, 5] {
                    let at = f64::from(k) + f64::from(m).log10();
                    if at >= self.lo - eps && at <= self.hi + eps {
                        ticks.push((at, power_label(m, k)));
                    }
                }
            }
            if (2..=max_ticks).contains(&ticks.len()) {
                return ticks;
            }
        }
        let (first, last) = ((self.lo - eps).ceil(), (self.hi + eps).floor());
        if last - first >= 1.0 {
            // Whole decades, thinned to every n-th when there are too many.
            let decades = (last - first) as usize + 1;
            let every = decades.div_ceil(max_ticks.max(1));
            return (0..decades)
                .step_by(every)
                .map(|i| {
                    let k = first as i32 + i as i32;
                    (f64::from(k), power_label(1, k))
                })
                .collect();
        }
        // Within less than a factor of two or so: linear steps on the values themselves,
        // placed logarithmically.
        let ticks = linear_ticks(
            10f64.powf(self.lo),
            10f64.powf(self.hi),
            max_ticks,
            f64::log10,
        );
        ticks.into_iter().filter(|(t, _)| t.is_finite()).collect()
    }
}

/// 1-2-5 ticks over `[lo, hi]` labelled alike (all plain or all scientific), each placed at
/// `place(value)`.
fn linear_ticks(lo: f64, hi: f64, max_ticks: usize, place: fn(f64) -> f64) -> Vec<(f64, String)> {
    let (ticks, step) = nice_ticks_with_step(lo, hi, max_ticks);
    let biggest = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    // A lone tick (step 0) is shown to four significant digits.
    let step = if step > 0.0 {
        step
    } else {
        10f64.powf(biggest.log10().floor() - 3.0)
    };
    let scientific = !(1e-4..1e6).contains(&step) || biggest >= 1e6;
    ticks
        .into_iter()
        .map(|t| (place(t), format_tick(t, step, scientific)))
        .collect()
}

/// `m`×10^`k` written out, as a plain number while that stays short.
fn power_label(m: u8, k: i32) -> String {
    match k {
        0..=4 => format!("{m}{}", "0".repeat(k as usize)),
        -3..=-1 => format!("0.{}{m}", "0".repeat((-k - 1) as usize)),
        _ => format!("{m}e{k}"),
    }
}

/// A tick value with as many decimals as the axis step needs.
fn format_tick(v: f64, step: f64, scientific: bool) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !scientific {
        let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
        return format!("{v:.decimals$}");
    }
    let decimals = (v.abs().log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize;
    let s = format!("{v:.decimals$e}");
    // 1.0e6 → 1e6, 2.50e-5 → 2.5e-5.
    match s.split_once('e') {
        Some((mantissa, exp)) if mantissa.contains('.') => {
            format!(
                "{}e{exp}",
                mantissa.trim_end_matches('0').trim_end_matches('.')
            )
        }
        _ => s,
    }
}

/// How a legend entry shows its colour.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mark {
    Line,
    Dot,
}

/// Everything around the data.
pub(crate) struct Chrome<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x: Range,
    pub y: Range,
    pub legend: Vec<(&'a str, Rgb)>,
    pub mark: Mark,
    /// Nothing drawable: say so in the plot area rather than leave it blank.
    pub empty: bool,
}

/// The plot area in pixels and the ranges it shows.
pub(crate) struct Plot {
    left: f32,
    top: f32,
    right: f32,
    bottom: f32,
    x: Range,
    y: Range,
}

impl Plot {
    /// Pixel position of a point given in plot space.
    pub fn at(&self, x: f64, y: f64) -> (f32, f32) {
        let fx = (x - self.x.lo) / (self.x.hi - self.x.lo);
        let fy = (y - self.y.lo) / (self.y.hi - self.y.lo);
        (
            self.left + (fx as f32) * (self.right - self.left),
            self.bottom - (fy as f32) * (self.bottom - self.top),
        )
    }
}

/// A white canvas, or an error naming `path` when the size is zero or unreasonably large.
pub(crate) fn canvas(width: u32, height: u32, path: &Path) -> Result<Pixmap> {
    let mut pixmap = (width <= MAX_SIDE && height <= MAX_SIDE)
        .then(|| Pixmap::new(width, height))
        .flatten()
        .ok_or_else(|| {
            anyhow!(
                "cannot draw {}: a {width}×{height} image must be 1 to {MAX_SIDE} pixels a side",
                path.display()
            )
        })?;
    pixmap.fill(Color::WHITE);
    Ok(pixmap)
}

/// Draws title, labels, grid, axes, ticks and legend; returns where the data goes.
pub(crate) fn draw_chrome(pm: &mut Pixmap, c: &Chrome) -> Plot {
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let glyph = GLYPH as i32;

    let mut top = PAD;
    if !c.title.is_empty() {
        // Big title when it fits, else small and cut to the width.
        let scale = if text_width(c.title, 2) as i32 <= w - 2 * PAD {
            2
        } else {
            1
        };
        let title = fit(c.title, ((w - 2 * PAD) / glyph).max(1) as usize);
        let tw = text_width(&title, scale) as i32;
        draw_text(pm, ((w - tw) / 2).max(0), top, &title, scale, INK);
        top += glyph * scale as i32 + 8;
    }
    // The y label goes above the axis, read horizontally: the font has no rotation.
    let y_label_top = top;
    if !c.y_label.is_empty() {
        top += glyph + 6;
    }
    top += glyph / 2; // half a tick label sticks out above the top tick

    let mut bottom = h - PAD - (TICK + 4 + glyph);
    if !c.x_label.is_empty() {
        bottom -= glyph + 6;
    }
    let bottom = bottom.max(top + 1);

    let y_ticks = c.y.ticks(((bottom - top) / 36).clamp(2, 10) as usize);
    let y_tick_w = y_ticks
        .iter()
        .map(|(_, s)| text_width(s, 1) as i32)
        .max()
        .unwrap_or(0);
    let left = PAD + y_tick_w + 3 + TICK;
    if !c.y_label.is_empty() {
        let label = fit(c.y_label, ((w - PAD) / glyph).max(1) as usize);
        draw_text(pm, PAD, y_label_top, &label, 1, LABEL);
    }

    // Legend outside the plot on the right, so it never hides data; names are cut so it takes
    // at most about a third of the width (two fifths on small images).
    let share = if w < 500 { w * 2 / 5 } else { w / 3 };
    let max_chars = ((share - LEGEND_SWATCH - 22) / glyph).max(5) as usize;
    let names: Vec<String> = c
        .legend
        .iter()
        .map(|(n, _)| fit_middle(n, max_chars))
        .collect();
    let name_w = names.iter().map(|n| text_width(n, 1) as i32).max();
    let legend_w = name_w.map_or(0, |nw| 8 + LEGEND_SWATCH + 6 + nw + 8);
    let right = if legend_w > 0 {
        w - PAD - legend_w - 10
    } else {
        w - PAD - glyph // room for half the last x tick label
    }
    .max(left + 1);

    // As many x ticks as fit without their labels touching.
    let plot_w = right - left;
    let mut max_ticks = (plot_w / 50).clamp(3, 12) as usize;
    let x_ticks = loop {
        let ticks = c.x.ticks(max_ticks);
        let widest = ticks
            .iter()
            .map(|(_, s)| text_width(s, 1) as i32)
            .max()
            .unwrap_or(0);
        if max_ticks <= 3 || ticks.len() as i32 * (widest + 20) <= plot_w {
            break ticks;
        }
        max_ticks -= 1;
    };

    let plot = Plot {
        left: left as f32,
        top: top as f32,
        right: right as f32,
        bottom: bottom as f32,
        x: c.x,
        y: c.y,
    };

    // Grid and ticks on whole pixels so 1-px lines stay crisp.
    for (t, label) in &y_ticks {
        let py = plot.at(plot.x.lo, *t).1.round() as i32;
        fill_rect(pm, left, py, right - left, 1, GRID);
        fill_rect(pm, left - TICK, py, TICK, 1, AXIS);
        let lw = text_width(label, 1) as i32;
        draw_text(
            pm,
            left - TICK - 3 - lw,
            py - glyph / 2,
            label,
            1,
            TICK_LABEL,
        );
    }
    for (t, label) in &x_ticks {
        let px = plot.at(*t, plot.y.lo).0.round() as i32;
        fill_rect(pm, px, top, 1, bottom - top, GRID);
        fill_rect(pm, px, bottom, 1, TICK, AXIS);
        let lw = text_width(label, 1) as i32;
        let lx = (px - lw / 2).clamp(0, (w - lw).max(0));
        draw_text(pm, lx, bottom + TICK + 3, label, 1, TICK_LABEL);
    }
    // Frame.
    fill_rect(pm, left, top, right - left + 1, 1, AXIS);
    fill_rect(pm, left, bottom, right - left + 1, 1, AXIS);
    fill_rect(pm, left, top, 1, bottom - top, AXIS);
    fill_rect(pm, right, top, 1, bottom - top, AXIS);

    if !c.x_label.is_empty() {
        let label = fit(c.x_label, ((w - 2 * PAD) / glyph).max(1) as usize);
        let lw = text_width(&label, 1) as i32;
        let lx = ((left + right - lw) / 2).clamp(0, (w - lw).max(0));
        draw_text(pm, lx, bottom + TICK + 3 + glyph + 6, &label, 1, LABEL);
    }
    if c.empty {
        let msg = "no data";
        let mw = text_width(msg, 1) as i32;
        draw_text(
            pm,
            (left + right - mw) / 2,
            (top + bottom - glyph) / 2,
            msg,
            1,
            TICK_LABEL,
        );
    }

    if legend_w > 0 {
        let (lx, ly) = (right + 10, top);
        // Rows that would fall off the image are left out.
        let rows = (names.len() as i32).min(((h - ly - 12) / LEGEND_ROW).max(0));
        let lh = 12 + rows * LEGEND_ROW - (LEGEND_ROW - glyph);
        if rows > 0 {
            fill_rect(pm, lx, ly, legend_w, lh, LEGEND_BORDER);
            fill_rect(pm, lx + 1, ly + 1, legend_w - 2, lh - 2, [255, 255, 255]);
        }
        for (i, (name, (_, colour))) in names.iter().zip(&c.legend).enumerate() {
            let i = i as i32;
            if i >= rows {
                break;
            }
            let ry = ly + 6 + i * LEGEND_ROW;
            let sx = lx + 8;
            match c.mark {
                Mark::Line => fill_rect(pm, sx, ry + 2, LEGEND_SWATCH, 3, *colour),
                Mark::Dot => {
                    let cx = (sx + LEGEND_SWATCH / 2) as f32 + 0.5;
                    dot(pm, cx, ry as f32 + 4.0, 4.0, *colour);
                }
            }
            draw_text(pm, sx + LEGEND_SWATCH + 6, ry, name, 1, INK);
        }
    }
    plot
}

/// `text` cut to `max` characters by dropping its middle, since names that share a prefix
/// ("generator loss 1", "generator loss 2") usually differ at the end; `~` marks the cut.
fn fit_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let tail = max.saturating_sub(1) / 2;
    let head = max.saturating_sub(1) - tail;
    let mut s: String = text.chars().take(head).collect();
    s.push('~');
    s.extend(text.chars().skip(n - tail));
    s
}

/// `text` cut to `max` characters, with `~` marking the cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('~');
    s
}

fn paint(colour: Rgb) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(colour[0], colour[1], colour[2], 255);
    paint.anti_alias = true;
    paint
}

/// An axis-aligned rectangle on whole pixels (nothing if empty).
pub(crate) fn fill_rect(pm: &mut Pixmap, x: i32, y: i32, w: i32, h: i32, colour: Rgb) {
    if let Some(rect) = Rect::from_xywh(x as f32, y as f32, w as f32, h as f32) {
        pm.fill_rect(rect, &paint(colour), Transform::identity(), None);
    }
}

/// An anti-aliased polyline with round joins; a path tiny-skia cannot build (fewer than two
/// points, non-finite coordinates) draws nothing.
pub(crate) fn polyline(pm: &mut Pixmap, points: &[(f32, f32)], width: f32, colour: Rgb) {
    let mut pb = PathBuilder::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    if let Some(path) = pb.finish() {
        let stroke = Stroke {
            width,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        pm.stroke_path(&path, &paint(colour), &stroke, Transform::identity(), None);
    }
}

/// An anti-aliased filled circle.
pub(crate) fn dot(pm: &mut Pixmap, x: f32, y: f32, r: f32, colour: Rgb) {
    if let Some(path) = PathBuilder::from_circle(x, y, r) {
        pm.fill_path(
            &path,
            &paint(colour),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
}

/// Encodes the (opaque) pixmap as an RGB PNG and writes it to `path` through a `.tmp` sibling
/// and a rename, so a reader never sees half a file.
pub(crate) fn save_png(pm: &Pixmap, path: &Path) -> Result<()> {
    let rgb: Vec<u8> = pm
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue()]
        })
        .collect();
    let mut bytes = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        &rgb,
        pm.width(),
        pm.height(),
        image::ExtendedColorType::Rgb8,
    )
    .with_context(|| format!("cannot encode {}", path.display()))?;

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|_| f.flush()))
        .with_context(|| format!("cannot write {} (for {})", tmp.display(), path.display()))
        .and_then(|_| {
            fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
        });
    if written.is_err() {
        // Best effort: do not leave a stray partial file behind.
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::{fit, fit_middle, linear_ticks, power_label, Range};

    #[test]
    fn tick_labels() {
        let labels = |lo, hi, n| -> Vec<String> {
            linear_ticks(lo, hi, n, |t| t)
                .into_iter()
                .map(|(_, s)| s)
                .collect()
        };
        assert_eq!(
            labels(-1.0, 2.0, 7),
            ["-1.0", "-0.5", "0", "0.5", "1.0", "1.5", "2.0"]
        );
        assert_eq!(labels(0.00123, 0.0045, 4), ["0.002", "0.003", "0.004"]);
        assert_eq!(
            labels(0.0, 4321.0, 5),
            ["0", "1000", "2000", "3000", "4000"]
        );
        assert_eq!(labels(5e5, 2.1e6, 4), ["5e5", "1e6", "1.5e6", "2e6"]);
        assert_eq!(labels(2e-5, 3.1e-5, 3), ["2e-5", "2.5e-5", "3e-5"]);
        assert_eq!(labels(3.0, 3.0, 5), ["3.000"]);
        assert_eq!(power_label(1, 0), "1");
        assert_eq!(power_label(2, 3), "2000");
        assert_eq!(power_label(5, -2), "0.05");
        assert_eq!(power_label(1, -6), "1e-6");
        assert_eq!(fit("abcdef", 4), "abc~");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit_middle("generator loss 1", 9), "gene~ss 1");
        assert_eq!(fit_middle("abc", 3), "abc");
        assert_eq!(fit_middle("abcdef", 1), "~");
    }

    #[test]
    fn log_ticks() {
        let decades = Range::around(-4.0, 1.0, 0.0, true).ticks(8);
        let labels: Vec<&str> = decades.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["1e-4", "0.001", "0.01", "0.1", "1", "10"]);
        let thinned = Range::around(-12.0, 12.0, 0.0, true).ticks(5);
        assert!(thinned.len() <= 5 && thinned.len() >= 2, "{thinned:?}");
        let within = Range::around(0.1, 0.9, 0.0, true).ticks(8);
        let labels: Vec<&str> = within.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["2", "5"]);
        let loss = Range::around(-1.4, 0.5, 0.0, true).ticks(8);
        let labels: Vec<&str> = loss.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["0.05", "0.1", "0.2", "0.5", "1", "2"]);
        let narrow = Range::around(0.30, 0.32, 0.0, true).ticks(6);
        assert!(narrow.len() >= 2, "{narrow:?}");
    }
}
