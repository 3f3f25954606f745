//! Draws each `Screen` into any `DrawTarget<Color = Rgb888>`, laid out for the target's size.
//!
//! Every backend renders through this one function (into its own in-memory frame), so what the
//! golden PNGs show is what an SPI panel or a framebuffer shows. Layout is computed from the
//! target's size alone: margins and fonts grow with the shorter side, so the same code serves a
//! 240×240 TFT and a 1920×1080 HDMI screen. The bitmap fonts are ISO 8859-1, so "64²" and "×"
//! draw as themselves; fonts are magnified by whole pixels on large screens (crisp, no font
//! rasteriser on the board). Bad input (NaN levels, a picture whose buffer does not match its
//! size, text longer than the screen) is drawn sensibly, never a panic.

use embedded_graphics::mono_font::{iso_8859_1, MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{
    Arc, Circle, Line, PrimitiveStyle, Rectangle, RoundedRectangle, Triangle,
};
use embedded_graphics::text::{Baseline, Text};
use image::imageops::FilterType;
use image::RgbImage;

use super::screen::Screen;
use crate::infer::StageImage;

/// The colours of the interface: light text on a dark blue-grey, one accent, traffic-light
/// colours for the level meter, and black around the finished picture.
pub mod palette {
    use embedded_graphics::pixelcolor::Rgb888;

    pub const BACKGROUND: Rgb888 = Rgb888::new(18, 22, 34);
    pub const INK: Rgb888 = Rgb888::new(236, 238, 242);
    pub const DIM: Rgb888 = Rgb888::new(128, 136, 156);
    pub const TRACK: Rgb888 = Rgb888::new(48, 56, 76);
    pub const HALO: Rgb888 = Rgb888::new(36, 46, 72);
    pub const ACCENT: Rgb888 = Rgb888::new(255, 186, 48);
    pub const GOOD: Rgb888 = Rgb888::new(72, 200, 120);
    pub const ALERT: Rgb888 = Rgb888::new(226, 60, 60);
    pub const LETTERBOX: Rgb888 = Rgb888::new(0, 0, 0);
}
use palette::*;

/// Draws `screen` over the whole of `target`.
pub fn draw_screen<D>(target: &mut D, screen: &Screen<'_>) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let area = target.bounding_box();
    let layout = Layout::new(area.size);
    // Everything is drawn relative to (0, 0); a target whose box starts elsewhere is shifted.
    let mut target = target.translated(area.top_left);
    let target = &mut target;
    match *screen {
        Screen::Attract { prompt } => attract(target, &layout, prompt),
        Screen::Listening {
            level,
            elapsed,
            limit,
        } => listening(
            target,
            &layout,
            level,
            elapsed.as_secs_f32(),
            limit.as_secs_f32(),
        ),
        Screen::Working {
            done,
            total,
            preview,
        } => working(target, &layout, done, total, preview),
        Screen::Result { image, caption } => result(target, &layout, image, caption),
        Screen::Error { message } => error(target, &layout, "Error", message),
    }
}

/// A bitmap font drawn `scale` times larger.
#[derive(Clone, Copy)]
pub struct Font {
    pub font: &'static MonoFont<'static>,
    pub scale: u32,
}

impl Font {
    /// Horizontal advance of one character, in screen pixels.
    pub fn advance(&self) -> u32 {
        (self.font.character_size.width + self.font.character_spacing) * self.scale
    }

    /// Height of one line including a little leading, in screen pixels.
    pub fn line_height(&self) -> u32 {
        (self.font.character_size.height + self.font.character_size.height / 5) * self.scale
    }

    /// Width of `text` on screen.
    pub fn width(&self, text: &str) -> u32 {
        let n = text.chars().count() as u32;
        (n * self.advance()).saturating_sub(self.font.character_spacing * self.scale)
    }

    /// How many characters fit in `width` pixels (at least one, so text always makes progress).
    pub fn chars_in(&self, width: u32) -> usize {
        ((width + self.font.character_spacing * self.scale) / self.advance().max(1)).max(1) as usize
    }

    /// Draws `text` with its top-left corner at `top_left`.
    pub fn draw<D>(
        &self,
        target: &mut D,
        text: &str,
        top_left: Point,
        color: Rgb888,
    ) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = Rgb888>,
    {
        let style = MonoTextStyle::new(self.font, color);
        let mut magnified = Magnified {
            inner: target,
            origin: top_left,
            scale: self.scale.max(1),
        };
        Text::with_baseline(text, Point::zero(), style, Baseline::Top).draw(&mut magnified)?;
        Ok(())
    }

    /// Draws `text` centred on `centre_x`, top at `top`.
    pub fn draw_centred<D>(
        &self,
        target: &mut D,
        text: &str,
        centre_x: i32,
        top: i32,
        color: Rgb888,
    ) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = Rgb888>,
    {
        let left = centre_x - self.width(text) as i32 / 2;
        self.draw(target, text, Point::new(left, top), color)
    }
}

/// A view of a target in which every pixel is a `scale`×`scale` square, offset by `origin`:
/// how a small bitmap font becomes legible on an HDMI screen.
struct Magnified<'a, D> {
    inner: &'a mut D,
    origin: Point,
    scale: u32,
}

impl<D: DrawTarget> Dimensions for Magnified<'_, D> {
    fn bounding_box(&self) -> Rectangle {
        let outer = self.inner.bounding_box();
        let s = self.scale as i32;
        let top_left = Point::new(
            (outer.top_left.x - self.origin.x).div_euclid(s),
            (outer.top_left.y - self.origin.y).div_euclid(s),
        );
        Rectangle::new(top_left, outer.size / self.scale + Size::new(1, 1))
    }
}

impl<D: DrawTarget> DrawTarget for Magnified<'_, D> {
    type Color = D::Color;
    type Error = D::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (origin, s) = (self.origin, self.scale);
        if s == 1 {
            return self
                .inner
                .draw_iter(pixels.into_iter().map(|Pixel(p, c)| Pixel(p + origin, c)));
        }
        for Pixel(p, c) in pixels {
            let square = Rectangle::new(origin + p * s as i32, Size::new(s, s));
            self.inner.fill_solid(&square, c)?;
        }
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let s = self.scale;
        let scaled = Rectangle::new(self.origin + area.top_left * s as i32, area.size * s);
        self.inner.fill_solid(&scaled, color)
    }
}

/// Sizes that follow from the screen's size.
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// Space kept clear at the edges and between blocks.
    pub margin: u32,
    /// Headings and the prompt.
    pub big: Font,
    /// Captions, times, step names.
    pub small: Font,
}

impl Layout {
    pub fn new(size: Size) -> Self {
        let unit = size.width.min(size.height);
        // 240–479 px: 1×; 480 (800×480): 2×; 720: 3×; 1080: 4×.
        let scale = ((unit + 60) / 240).max(1);
        let (big, small) = if unit < 200 {
            (&iso_8859_1::FONT_7X13, &iso_8859_1::FONT_6X10)
        } else {
            (&iso_8859_1::FONT_10X20, &iso_8859_1::FONT_7X13)
        };
        Self {
            width: size.width,
            height: size.height,
            margin: (unit / 24).max(2),
            big: Font { font: big, scale },
            small: Font { font: small, scale },
        }
    }

    fn centre_x(&self) -> i32 {
        self.width as i32 / 2
    }
}

/// Splits `text` into lines of at most `max_chars` characters, breaking at spaces and, for words
/// longer than a line (paths, hashes), inside the word. Newlines in `text` are kept.
pub fn wrap(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        let mut line_len = 0usize;
        for word in paragraph.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            if line_len > 0 {
                if line_len + 1 + word.len() <= max_chars {
                    line.push(' ');
                    line_len += 1;
                } else {
                    // The word starts a new line (a long one is then split there).
                    lines.push(std::mem::take(&mut line));
                    line_len = 0;
                }
            }
            while line_len + word.len() > max_chars {
                // Split a long word (a path, a file name) after a separator where one falls in
                // the second half of the line, else at the line's end.
                let room = max_chars - line_len;
                let take = word[..room]
                    .iter()
                    .rposition(|c| matches!(c, '/' | '_' | '-' | '.' | ',' | ':'))
                    .map(|p| p + 1)
                    .filter(|&p| p * 2 > room)
                    .unwrap_or(room);
                line.extend(word.drain(..take));
                lines.push(std::mem::take(&mut line));
                line_len = 0;
            }
            line_len += word.len();
            line.extend(word);
        }
        lines.push(line);
    }
    // Trailing blank lines carry nothing.
    while lines.len() > 1 && lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Like [`wrap`], with the lines made as even as the same number of lines allows: a centred
/// prompt reads "Hold the button and / describe a bird", not a full line and an orphan.
pub fn wrap_balanced(text: &str, max_chars: usize) -> Vec<String> {
    let mut best = wrap(text, max_chars);
    let lines = best.len();
    if lines <= 1 {
        return best;
    }
    let mut width = max_chars;
    while width > 1 {
        let narrower = wrap(text, width - 1);
        if narrower.len() != lines {
            break;
        }
        best = narrower;
        width -= 1;
    }
    best
}

/// Whether `text` has a word longer than `max_chars` (it would have to be split).
fn has_word_longer_than(text: &str, max_chars: usize) -> bool {
    text.split_whitespace()
        .any(|w| w.chars().count() > max_chars)
}

/// `text` cut to `max_chars` characters, ending in "..." when something was cut.
pub fn ellipsize(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let keep = max_chars.saturating_sub(3);
    let mut s: String = text.chars().take(keep).collect();
    s.push_str(&"..."[..max_chars.min(3)]);
    s
}

/// The RGB picture of a stage, or why it cannot be drawn.
pub fn stage_picture(image: &StageImage) -> Result<RgbImage, String> {
    let expected = image.side as usize * image.side as usize * 3;
    if image.side == 0 || image.rgb.len() != expected {
        return Err(format!(
            "stage {} picture has {} bytes, but {}x{} RGB needs {}",
            image.stage,
            image.rgb.len(),
            image.side,
            image.side,
            expected
        ));
    }
    RgbImage::from_raw(image.side, image.side, image.rgb.clone())
        .ok_or_else(|| format!("stage {} picture does not match its size", image.stage))
}

/// The largest rectangle with `picture`'s aspect that fits in `area`, centred in it.
pub fn fit(picture: (u32, u32), area: Rectangle) -> Rectangle {
    let (pw, ph) = (picture.0.max(1) as u64, picture.1.max(1) as u64);
    let (aw, ah) = (area.size.width as u64, area.size.height as u64);
    let (w, h) = if aw * ph <= ah * pw {
        (aw, (aw * ph / pw).min(ah))
    } else {
        ((ah * pw / ph).min(aw), ah)
    };
    let (w, h) = (w as u32, h as u32);
    let top_left = area.top_left
        + Point::new(
            (area.size.width - w) as i32 / 2,
            (area.size.height - h) as i32 / 2,
        );
    Rectangle::new(top_left, Size::new(w, h))
}

/// Draws `picture` scaled to fit `area` with its aspect kept (Catmull–Rom, so a 128² picture on a
/// 1080-line screen is smooth rather than blocky), centred; the rest of `area` is not touched.
pub fn draw_picture<D>(target: &mut D, picture: &RgbImage, area: Rectangle) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    if picture.width() == 0 || picture.height() == 0 {
        return Ok(());
    }
    let placed = fit(picture.dimensions(), area);
    let (w, h) = (placed.size.width, placed.size.height);
    if w == 0 || h == 0 {
        return Ok(());
    }
    let scaled;
    let shown = if (w, h) == picture.dimensions() {
        picture
    } else {
        scaled = image::imageops::resize(picture, w, h, FilterType::CatmullRom);
        &scaled
    };
    target.fill_contiguous(
        &placed,
        shown.pixels().map(|p| Rgb888::new(p[0], p[1], p[2])),
    )
}

/// The part of a `size` screen the result screen gives its picture: all of it less the caption
/// line at the bottom (when there is a caption).
pub fn result_area(size: Size, caption: &str) -> Rectangle {
    let layout = Layout::new(size);
    let caption_h = if caption.trim().is_empty() {
        0
    } else {
        layout.small.line_height() + layout.margin
    };
    Rectangle::new(
        Point::zero(),
        Size::new(size.width, size.height.saturating_sub(caption_h)),
    )
}

fn fill<D>(target: &mut D, color: Rgb888) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let area = target.bounding_box();
    target.fill_solid(&area, color)
}

/// A rounded bar `width` × `height` at `top_left`, filled to `fraction` (0..1) in `color`.
fn progress_bar<D>(
    target: &mut D,
    top_left: Point,
    size: Size,
    fraction: f32,
    color: Rgb888,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let radius = Size::new(size.height / 2, size.height / 2);
    RoundedRectangle::with_equal_corners(Rectangle::new(top_left, size), radius)
        .into_styled(PrimitiveStyle::with_fill(TRACK))
        .draw(target)?;
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (size.width as f32 * fraction).round() as u32;
    if filled > 0 {
        // Never narrower than it is tall, so the rounded ends stay round.
        let filled = filled.max(size.height).min(size.width);
        RoundedRectangle::with_equal_corners(
            Rectangle::new(top_left, Size::new(filled, size.height)),
            radius,
        )
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(target)?;
    }
    Ok(())
}

/// A microphone `height` tall centred on `centre`: capsule, cradle, stem and foot.
fn microphone<D>(target: &mut D, centre: Point, height: u32, color: Rgb888) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let h = height as i32;
    let stroke = (height / 14).max(2);
    let head_w = (height * 2 / 5).max(4);
    let head_h = (height * 3 / 5).max(6);
    let top = centre.y - h / 2;
    let head = Rectangle::new(
        Point::new(centre.x - head_w as i32 / 2, top),
        Size::new(head_w, head_h),
    );
    RoundedRectangle::with_equal_corners(head, Size::new(head_w / 2, head_w / 2))
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(target)?;
    // The cradle: a half ring around the capsule's lower half.
    let cradle_d = head_w + 2 * stroke + head_w / 2;
    let cradle_centre = Point::new(centre.x, top + head_h as i32 - head_w as i32 / 2);
    Arc::with_center(cradle_centre, cradle_d, 0.0.deg(), 180.0.deg())
        .into_styled(PrimitiveStyle::with_stroke(color, stroke))
        .draw(target)?;
    let stem_top = cradle_centre.y + cradle_d as i32 / 2;
    let foot_y = top + h - stroke as i32 / 2 - 1;
    Line::new(Point::new(centre.x, stem_top), Point::new(centre.x, foot_y))
        .into_styled(PrimitiveStyle::with_stroke(color, stroke))
        .draw(target)?;
    let foot = head_w as i32 * 3 / 4;
    Line::new(
        Point::new(centre.x - foot, foot_y),
        Point::new(centre.x + foot, foot_y),
    )
    .into_styled(PrimitiveStyle::with_stroke(color, stroke))
    .draw(target)?;
    Ok(())
}

fn attract<D>(target: &mut D, layout: &Layout, prompt: &str) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    fill(target, BACKGROUND)?;
    let m = layout.margin;
    let font = layout.big;
    let max_lines = ((layout.height / 2) / font.line_height()).max(1) as usize;
    let mut lines = wrap_balanced(prompt, font.chars_in(layout.width.saturating_sub(2 * m)));
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.pop().unwrap_or_default();
        lines.push(ellipsize(
            &format!("{last} ..."),
            font.chars_in(layout.width.saturating_sub(2 * m)),
        ));
    }
    let text_h = lines.len() as u32 * font.line_height();
    // The microphone takes what the text leaves, up to 45 % of the height.
    let icon = (layout.height * 9 / 20)
        .min(layout.height.saturating_sub(text_h + 3 * m))
        .min(layout.width.saturating_sub(2 * m));
    let show_icon = icon >= 24;
    let block = if show_icon { icon + 2 * m } else { 0 } + text_h;
    let mut y = (layout.height.saturating_sub(block) / 2) as i32;
    if show_icon {
        let centre = Point::new(layout.centre_x(), y + icon as i32 / 2);
        Circle::with_center(centre, icon)
            .into_styled(PrimitiveStyle::with_fill(HALO))
            .draw(target)?;
        microphone(target, centre, icon * 3 / 5, ACCENT)?;
        y += (icon + 2 * m) as i32;
    }
    for line in &lines {
        font.draw_centred(target, line, layout.centre_x(), y, INK)?;
        y += font.line_height() as i32;
    }
    Ok(())
}

/// "2.4 s", "8 s": one decimal only where it says something.
fn seconds(s: f32) -> String {
    let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
    if (s - s.round()).abs() < 0.05 {
        format!("{:.0} s", s)
    } else {
        format!("{:.1} s", s)
    }
}

fn listening<D>(
    target: &mut D,
    layout: &Layout,
    level: f32,
    elapsed: f32,
    limit: f32,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    fill(target, BACKGROUND)?;
    let (w, h, m) = (layout.width, layout.height, layout.margin);
    let inner_w = w.saturating_sub(2 * m);
    let big = layout.big;
    let small = layout.small;

    // Title with a red "recording" dot in front of it.
    let title = "Listening";
    let dot = big.font.character_size.height * big.scale * 3 / 5;
    let title_w = dot + big.advance() + big.width(title);
    let left = (w as i32 - title_w as i32) / 2;
    let top = (h / 8) as i32;
    let title_h = big.font.character_size.height * big.scale;
    Circle::new(
        Point::new(left, top + (title_h as i32 - dot as i32) / 2),
        dot,
    )
    .into_styled(PrimitiveStyle::with_fill(ALERT))
    .draw(target)?;
    big.draw(
        target,
        title,
        Point::new(left + (dot + big.advance()) as i32, top),
        INK,
    )?;

    // Level meter: segments light up left to right; green, then amber, then red near clipping.
    let level = if level.is_finite() {
        level.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let meter_h = (h / 7).max(8);
    let meter_top = (h * 2 / 5) as i32 - meter_h as i32 / 2;
    let gap = (m / 4).max(1);
    let segments = (inner_w / (meter_h / 2 + gap).max(4)).clamp(8, 40);
    let seg_w = (inner_w.saturating_sub((segments - 1) * gap) / segments).max(1);
    let meter_w = segments * seg_w + (segments - 1) * gap;
    let meter_left = (w as i32 - meter_w as i32) / 2;
    let lit = (level * segments as f32).round() as u32;
    for i in 0..segments {
        let at = (i + 1) as f32 / segments as f32;
        let color = if i >= lit {
            TRACK
        } else if at <= 0.7 {
            GOOD
        } else if at <= 0.9 {
            ACCENT
        } else {
            ALERT
        };
        Rectangle::new(
            Point::new(meter_left + (i * (seg_w + gap)) as i32, meter_top),
            Size::new(seg_w, meter_h),
        )
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(target)?;
    }

    // Time used against the limit: a thin bar and the numbers under it.
    let bar_h = (h / 30).max(4);
    let bar_top = (h * 7 / 10) as i32;
    let fraction = if limit > 0.0 { elapsed / limit } else { 1.0 };
    progress_bar(
        target,
        Point::new(meter_left, bar_top),
        Size::new(meter_w, bar_h),
        fraction,
        ACCENT,
    )?;
    let time = format!("{} of {}", seconds(elapsed), seconds(limit));
    small.draw_centred(
        target,
        &ellipsize(&time, small.chars_in(inner_w)),
        layout.centre_x(),
        bar_top + (bar_h + m / 2) as i32,
        DIM,
    )?;
    Ok(())
}

/// "speech encoder", "stage 1 64²", "stage 2 128²": S2IGAN's generator starts at 64² and doubles.
pub fn step_label(step: usize) -> String {
    match step {
        0 => "speech encoder".to_string(),
        k if k <= 8 => {
            let side = 64u32 << (k - 1);
            format!("stage {k}  {side}\u{b2}")
        }
        k => format!("stage {k}"),
    }
}

fn working<D>(
    target: &mut D,
    layout: &Layout,
    done: usize,
    total: usize,
    preview: Option<&StageImage>,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    fill(target, BACKGROUND)?;
    let (w, h, m) = (layout.width, layout.height, layout.margin);
    let (big, small) = (layout.big, layout.small);
    let done = done.min(total);
    let preview = preview.and_then(|p| stage_picture(p).ok());
    let landscape = w * 4 >= h * 5;

    // Steps beyond what fits are summarised by the bar; the list shows at most eight.
    let shown_steps = total.min(8);
    let row_h = small
        .line_height()
        .max(small.font.character_size.height * small.scale + 4);
    let title_h = big.line_height();
    let bar_h = (h / 40).max(4);
    let column_h = title_h + m + shown_steps as u32 * row_h + m + bar_h;

    // Where the text column and the preview go.
    let (column, picture_area) = match (&preview, landscape) {
        (Some(_), true) => {
            let half = w / 2;
            (
                Rectangle::new(Point::zero(), Size::new(half, h)),
                Some(Rectangle::new(
                    Point::new(half as i32, m as i32),
                    Size::new(half.saturating_sub(m), h.saturating_sub(2 * m)),
                )),
            )
        }
        (Some(_), false) => {
            let used = column_h + 2 * m;
            (
                Rectangle::new(Point::zero(), Size::new(w, used)),
                Some(Rectangle::new(
                    Point::new(m as i32, used as i32),
                    Size::new(w.saturating_sub(2 * m), h.saturating_sub(used + m)),
                )),
            )
        }
        (None, _) => (Rectangle::new(Point::zero(), Size::new(w, h)), None),
    };

    let col_w = column.size.width.saturating_sub(2 * m);
    let col_centre = column.top_left.x + column.size.width as i32 / 2;
    let mut y = column.top_left.y + (column.size.height.saturating_sub(column_h) / 2) as i32;
    big.draw_centred(target, "Drawing", col_centre, y, INK)?;
    y += (title_h + m) as i32;

    // The step list is one block, centred in the column, with a marker in front of each name.
    let marker = small.font.character_size.height * small.scale * 3 / 4;
    let label_chars = small.chars_in(col_w.saturating_sub(marker + small.advance()));
    let labels: Vec<String> = (0..shown_steps)
        .map(|i| ellipsize(&step_label(i), label_chars))
        .collect();
    let list_w =
        marker + small.advance() + labels.iter().map(|l| small.width(l)).max().unwrap_or(0);
    let list_left = col_centre - list_w as i32 / 2;
    for (i, label) in labels.iter().enumerate() {
        let text_h = small.font.character_size.height * small.scale;
        let marker_top = y + (text_h as i32 - marker as i32) / 2;
        let circle = Circle::new(Point::new(list_left, marker_top), marker);
        let stroke = (marker / 6).max(1);
        let ink = if i < done {
            circle
                .into_styled(PrimitiveStyle::with_fill(GOOD))
                .draw(target)?;
            INK
        } else if i == done {
            circle
                .into_styled(PrimitiveStyle::with_stroke(ACCENT, stroke))
                .draw(target)?;
            Circle::with_center(circle.center(), marker / 2)
                .into_styled(PrimitiveStyle::with_fill(ACCENT))
                .draw(target)?;
            ACCENT
        } else {
            circle
                .into_styled(PrimitiveStyle::with_stroke(DIM, stroke))
                .draw(target)?;
            DIM
        };
        small.draw(
            target,
            label,
            Point::new(list_left + (marker + small.advance()) as i32, y),
            ink,
        )?;
        y += row_h as i32;
    }
    y += m as i32;

    // Overall progress: a bar and "done/total" after it.
    let count = format!("{done}/{total}");
    let count_w = small.width(&count);
    let bar_w = list_w
        .max(col_w * 2 / 3)
        .min(col_w)
        .saturating_sub(count_w + small.advance());
    let bar_left = col_centre - (bar_w + small.advance() + count_w) as i32 / 2;
    let fraction = if total == 0 {
        0.0
    } else {
        done as f32 / total as f32
    };
    progress_bar(
        target,
        Point::new(bar_left, y),
        Size::new(bar_w, bar_h),
        fraction,
        ACCENT,
    )?;
    let text_h = small.font.character_size.height * small.scale;
    small.draw(
        target,
        &count,
        Point::new(
            bar_left + (bar_w + small.advance()) as i32,
            y + bar_h as i32 / 2 - text_h as i32 / 2,
        ),
        DIM,
    )?;

    if let (Some(picture), Some(area)) = (preview, picture_area) {
        if area.size.width >= 16 && area.size.height >= 16 {
            draw_picture(target, &picture, area)?;
        }
    }
    Ok(())
}

fn result<D>(
    target: &mut D,
    layout: &Layout,
    image: &StageImage,
    caption: &str,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let picture = match stage_picture(image) {
        Ok(p) => p,
        Err(problem) => {
            return error(target, layout, "Cannot show the picture", &problem);
        }
    };
    fill(target, LETTERBOX)?;
    let (w, h, m) = (layout.width, layout.height, layout.margin);
    let small = layout.small;
    let area = result_area(Size::new(w, h), caption);
    let caption_h = h - area.size.height;
    draw_picture(target, &picture, area)?;
    if caption_h > 0 {
        let text = ellipsize(caption.trim(), small.chars_in(w.saturating_sub(2 * m)));
        let text_h = small.font.character_size.height * small.scale;
        let top = h as i32 - caption_h as i32 + (caption_h as i32 - text_h as i32) / 2;
        small.draw_centred(target, &text, layout.centre_x(), top, DIM)?;
    }
    Ok(())
}

/// A warning triangle with an exclamation mark, `size` wide, top-left at `top_left`.
fn warning_sign<D>(target: &mut D, top_left: Point, size: u32) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let s = size as i32;
    Triangle::new(
        top_left + Point::new(s / 2, 0),
        top_left + Point::new(s - 1, s - 1),
        top_left + Point::new(0, s - 1),
    )
    .into_styled(PrimitiveStyle::with_fill(INK))
    .draw(target)?;
    let bar_w = (size / 8).max(2);
    let x = top_left.x + s / 2 - bar_w as i32 / 2;
    Rectangle::new(
        Point::new(x, top_left.y + s * 3 / 10),
        Size::new(bar_w, (size * 2 / 5).max(2)),
    )
    .into_styled(PrimitiveStyle::with_fill(ALERT))
    .draw(target)?;
    Rectangle::new(
        Point::new(x, top_left.y + s * 3 / 4),
        Size::new(bar_w, bar_w),
    )
    .into_styled(PrimitiveStyle::with_fill(ALERT))
    .draw(target)?;
    Ok(())
}

fn error<D>(target: &mut D, layout: &Layout, title: &str, message: &str) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    fill(target, BACKGROUND)?;
    let (w, h, m) = (layout.width, layout.height, layout.margin);
    let big = layout.big;
    // A red band with a warning sign and the title: readable from across a room.
    let glyph_h = big.font.character_size.height * big.scale;
    let band_h = glyph_h + 2 * m;
    Rectangle::new(Point::zero(), Size::new(w, band_h))
        .into_styled(PrimitiveStyle::with_fill(ALERT))
        .draw(target)?;
    let sign = glyph_h;
    warning_sign(target, Point::new(m as i32, m as i32), sign)?;
    let title_left = (m + sign + big.advance()) as i32;
    let title_room = w.saturating_sub(title_left as u32 + m);
    big.draw(
        target,
        &ellipsize(title, big.chars_in(title_room)),
        Point::new(title_left, m as i32),
        INK,
    )?;

    // The message, left-aligned and wrapped; the big font if it fits, else the small one, and
    // cut with "..." if even that does not.
    let top = band_h + m;
    let room_h = h.saturating_sub(top + m);
    let text_w = w.saturating_sub(2 * m);
    let message = if message.trim().is_empty() {
        "unknown error"
    } else {
        message
    };
    let (font, mut lines) = {
        // The big font only when nothing has to be split mid-word and it all fits.
        let lines = wrap(message, big.chars_in(text_w));
        if lines.len() as u32 * big.line_height() <= room_h
            && !has_word_longer_than(message, big.chars_in(text_w))
        {
            (big, lines)
        } else {
            (layout.small, wrap(message, layout.small.chars_in(text_w)))
        }
    };
    let max_lines = (room_h / font.line_height()).max(1) as usize;
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.pop().unwrap_or_default();
        lines.push(ellipsize(&format!("{last} ..."), font.chars_in(text_w)));
    }
    let mut y = top as i32;
    for line in &lines {
        font.draw(target, line, Point::new(m as i32, y), INK)?;
        y += font.line_height() as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_inside_long_words() {
        assert_eq!(
            wrap("Hold the button and describe a bird", 16),
            vec!["Hold the button", "and describe a", "bird"]
        );
        assert_eq!(
            wrap("see /very/long/path/name", 8),
            vec!["see", "/very/", "long/", "path/", "name"]
        );
        assert_eq!(wrap("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        assert_eq!(
            wrap_balanced("Hold the button and describe a bird", 30),
            vec!["Hold the button and", "describe a bird"]
        );
        assert_eq!(wrap("a\nb c", 10), vec!["a", "b c"]);
        assert_eq!(wrap("", 10), vec![""]);
        for line in wrap("x ".repeat(50).as_str(), 7) {
            assert!(line.chars().count() <= 7, "{line:?}");
        }
        // Zero width still makes progress, one character a line.
        assert_eq!(wrap("ab", 0), vec!["a", "b"]);
    }

    #[test]
    fn ellipsize_cuts_only_what_does_not_fit() {
        assert_eq!(ellipsize("seed 3", 10), "seed 3");
        assert_eq!(ellipsize("a long caption", 8), "a lon...");
        assert_eq!(ellipsize("abcdef", 2), "..");
    }

    #[test]
    fn step_labels_name_the_encoder_and_each_stage_side() {
        assert_eq!(step_label(0), "speech encoder");
        assert_eq!(step_label(1), "stage 1  64\u{b2}");
        assert_eq!(step_label(2), "stage 2  128\u{b2}");
        assert_eq!(step_label(40), "stage 40");
    }

    #[test]
    fn fonts_grow_with_the_screen() {
        let small = Layout::new(Size::new(240, 240));
        let hdmi = Layout::new(Size::new(1920, 1080));
        assert_eq!(small.big.scale, 1);
        assert_eq!(hdmi.big.scale, 4);
        assert!(hdmi.margin > small.margin);
    }
}
