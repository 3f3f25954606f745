//! Pictures for people: loss curves, embedding projections and image grids as PNG.

mod frame;
pub mod image_grid;
pub mod line_chart;
pub mod scatter;
pub mod text;

pub use image_grid::{GridRow, ImageGrid};
pub use line_chart::{LineChart, Series};
pub use scatter::{Group, Scatter};

/// An opaque sRGB colour.
pub type Rgb = [u8; 3];

/// Series and group colours: Okabe–Ito first (safe for the common colour-vision deficiencies),
/// then Paul Tol's muted colours for charts with more than seven entries. Okabe–Ito's yellow is
/// left out because it vanishes on white; Tol's sand stands in for it, last.
pub const PALETTE: [Rgb; 12] = [
    [0x00, 0x72, 0xB2], // blue
    [0xE6, 0x9F, 0x00], // orange
    [0x00, 0x9E, 0x73], // bluish green
    [0xD5, 0x5E, 0x00], // vermillion
    [0xCC, 0x79, 0xA7], // reddish purple
    [0x56, 0xB4, 0xE9], // sky blue
    [0x33, 0x22, 0x88], // indigo
    [0x99, 0x99, 0x33], // olive
    [0x88, 0x22, 0x55], // wine
    [0x44, 0xAA, 0x99], // teal
    [0x00, 0x00, 0x00], // black
    [0xDD, 0xCC, 0x77], // sand
];

/// The colour of the `i`-th series or group; past the palette's end the colours repeat.
pub fn palette(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

/// Round tick values for an axis over `[min, max]`: every multiple of a 1-2-5 step (…, 0.1, 0.2,
/// 0.5, 1, 2, 5, 10, …) that lies in the range, using the smallest such step that gives at most
/// `max_ticks` ticks. An empty range gives its single value; non-finite bounds give none.
pub fn nice_ticks(min: f64, max: f64, max_ticks: usize) -> Vec<f64> {
    nice_ticks_with_step(min, max, max_ticks).0
}

/// [`nice_ticks`] and the step it chose (0 for a single tick), which label formatting needs.
pub(crate) fn nice_ticks_with_step(min: f64, max: f64, max_ticks: usize) -> (Vec<f64>, f64) {
    if !min.is_finite() || !max.is_finite() || max_ticks == 0 {
        return (Vec::new(), 0.0);
    }
    let (lo, hi) = if min <= max { (min, max) } else { (max, min) };
    let span = hi - lo;
    // A span that overflows or is too small for log10 to give a usable step has no 1-2-5 grid.
    if !span.is_finite() {
        return (Vec::new(), 0.0);
    }
    if span < 1e-300 {
        return (vec![lo], 0.0);
    }
    let start = (span / max_ticks as f64).log10().floor() as i32 - 1;
    // Starting a decade below span / max_ticks, two decades always reach a step that fits.
    for exp in start..start + 4 {
        for m in [1.0, 2.0, 5.0] {
            // Dividing by an exact power of ten keeps 0.3 as the double nearest 0.3, where
            // multiplying by 10^-1 would give 0.30000000000000004.
            let at = |k: f64| {
                if exp < 0 {
                    k * m / 10f64.powi(-exp)
                } else {
                    k * m * 10f64.powi(exp)
                }
            };
            let step = at(1.0);
            // The slack keeps an end that is a multiple of the step despite rounding.
            let first = (lo / step - 1e-9).ceil();
            let last = (hi / step + 1e-9).floor();
            let count = last - first + 1.0;
            if count <= max_ticks as f64 {
                let ticks = (0..count.max(0.0) as i64)
                    .map(|i| at(first + i as f64))
                    .map(|t| if t == 0.0 { 0.0 } else { t }) // no "-0"
                    .collect();
                return (ticks, step);
            }
        }
    }
    (Vec::new(), 0.0)
}

#[cfg(test)]
mod tests {
    use super::{nice_ticks, palette, PALETTE};

    fn close(got: &[f64], want: &[f64]) -> bool {
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| (g - w).abs() <= 1e-12 * w.abs().max(1.0))
    }

    #[test]
    fn nice_ticks_hand_checked() {
        let cases: &[(f64, f64, usize, &[f64])] = &[
            (0.0, 10.0, 6, &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
            (
                0.0,
                10.0,
                11,
                &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            ),
            (0.0, 1.0, 5, &[0.0, 0.5, 1.0]),
            (-3.7, 12.2, 8, &[-2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]),
            (0.00123, 0.00456, 4, &[0.002, 0.003, 0.004]),
            (0.0, 4321.0, 5, &[0.0, 1000.0, 2000.0, 3000.0, 4000.0]),
            (95.0, 105.0, 3, &[95.0, 100.0, 105.0]),
            (-1.0, -0.2, 5, &[-1.0, -0.8, -0.6, -0.4, -0.2]),
            // Reversed bounds are the same range.
            (10.0, 0.0, 3, &[0.0, 5.0, 10.0]),
        ];
        for &(lo, hi, n, want) in cases {
            let got = nice_ticks(lo, hi, n);
            assert!(close(&got, want), "nice_ticks({lo}, {hi}, {n}) = {got:?}");
        }
        // Ticks printed with a few decimals must not carry rounding noise.
        assert_eq!(nice_ticks(0.25, 0.35, 3), vec![0.25, 0.3, 0.35]);
        assert_eq!(
            nice_ticks(0.0, 0.7, 8),
            [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
        );
    }

    #[test]
    fn nice_ticks_degenerate() {
        assert_eq!(nice_ticks(3.0, 3.0, 5), vec![3.0]);
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
        assert!(nice_ticks(0.0, f64::INFINITY, 5).is_empty());
        assert!(nice_ticks(-f64::MAX, f64::MAX, 5).is_empty());
        assert!(nice_ticks(0.0, 1.0, 0).is_empty());
        assert!(nice_ticks(0.0, 10.0, 1).len() <= 1);
        assert!(!nice_ticks(1e9, 1e9 + 1e-3, 5).is_empty());
        assert!(!nice_ticks(0.0, 5e-310, 5).is_empty());
    }

    #[test]
    fn palette_colours_are_distinct_and_repeat() {
        for (i, a) in PALETTE.iter().enumerate() {
            assert!(PALETTE[i + 1..].iter().all(|b| a != b));
        }
        assert_eq!(palette(PALETTE.len() + 2), palette(2));
    }
}

/// Shared by the chart tests: read a written PNG back and look for colours in it.
#[cfg(test)]
pub(crate) mod testing {
    use super::Rgb;
    use std::path::Path;

    pub fn decode(path: &Path) -> image::RgbImage {
        image::open(path)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
            .to_rgb8()
    }

    /// Pixels within a small distance of `colour` (anti-aliasing may shave a level or two off
    /// fully covered pixels).
    pub fn count_near(img: &image::RgbImage, colour: Rgb) -> usize {
        img.pixels()
            .filter(|p| p.0.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 3))
            .count()
    }
}
