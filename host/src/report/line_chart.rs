//! Line charts, for training curves: x is the step or epoch, one series per loss.

use std::path::Path;

use anyhow::Result;
use tiny_skia::Pixmap;

use super::frame::{canvas, dot, draw_chrome, polyline, save_png, Chrome, Mark, Range};
use super::palette;

/// One named line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A chart of lines sharing one pair of axes; series take palette colours in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic y axis; values <= 0 cannot be shown on it and are skipped.
    pub log_y: bool,
}

/// Series with this few points also get a dot per point, so sparse curves (a few epochs) show
/// where the measurements are.
const DOTS_UP_TO: usize = 30;

impl LineChart {
    /// Draws the chart and writes it to `path` as a `width`×`height` PNG.
    pub fn write_png(&self, path: &Path, width: u32, height: u32) -> Result<()> {
        let pixmap = self.render(width, height, path)?;
        save_png(&pixmap, path)
    }

    /// Each series as runs of consecutive drawable points in plot space (y as log10 on a log
    /// axis). A point that cannot be drawn (non-finite, or <= 0 on a log axis) is skipped and
    /// breaks the line, so a gap in the data shows as a gap rather than a made-up segment.
    fn runs(&self, series: &Series) -> Vec<Vec<(f64, f64)>> {
        let mut runs = vec![Vec::new()];
        for &(x, y) in &series.points {
            let y = match self.log_y {
                false => Some(y),
                true if y > 0.0 => Some(y.log10()),
                true => None,
            };
            match (
                y.filter(|y| y.is_finite() && x.is_finite()),
                runs.last_mut(),
            ) {
                (Some(y), Some(run)) => run.push((x, y)),
                (None, Some(run)) if !run.is_empty() => runs.push(Vec::new()),
                _ => {}
            }
        }
        runs.retain(|r| !r.is_empty());
        runs
    }

    fn render(&self, width: u32, height: u32, path: &Path) -> Result<Pixmap> {
        let mut pm = canvas(width, height, path)?;
        let runs: Vec<Vec<Vec<(f64, f64)>>> = self.series.iter().map(|s| self.runs(s)).collect();
        let all = || runs.iter().flatten().flatten();
        let bounds = |pick: fn(&(f64, f64)) -> f64| {
            all()
                .map(pick)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let empty = all().next().is_none();
        let (x, y) = if empty {
            // Unit ranges, so the empty frame still has ticks.
            (
                Range::around(0.0, 1.0, 0.0, false),
                Range::around(0.0, 1.0, 0.0, self.log_y),
            )
        } else {
            let ((x_lo, x_hi), (y_lo, y_hi)) = (bounds(|p| p.0), bounds(|p| p.1));
            (
                Range::around(x_lo, x_hi, 0.02, false),
                Range::around(y_lo, y_hi, 0.05, self.log_y),
            )
        };
        let chrome = Chrome {
            title: &self.title,
            x_label: &self.x_label,
            y_label: &self.y_label,
            x,
            y,
            legend: self
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.as_str(), palette(i)))
                .collect(),
            mark: Mark::Line,
            empty,
        };
        let plot = draw_chrome(&mut pm, &chrome);

        for (i, series_runs) in runs.iter().enumerate() {
            let colour = palette(i);
            let count: usize = series_runs.iter().map(Vec::len).sum();
            for run in series_runs {
                let pixels: Vec<(f32, f32)> = run.iter().map(|&(x, y)| plot.at(x, y)).collect();
                if let [(px, py)] = pixels[..] {
                    // A lone point has no line to draw; mark it instead.
                    dot(&mut pm, px, py, 3.5, colour);
                } else {
                    polyline(&mut pm, &pixels, 2.0, colour);
                }
                if count <= DOTS_UP_TO {
                    for &(px, py) in &pixels {
                        dot(&mut pm, px, py, 2.5, colour);
                    }
                }
            }
        }
        Ok(pm)
    }
}

#[cfg(test)]
mod tests {
    use super::{LineChart, Series};
    use crate::report::palette;
    use crate::report::testing::{count_near, decode};

    fn chart(series: Vec<Series>, log_y: bool) -> LineChart {
        LineChart {
            title: "training losses".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series,
            log_y,
        }
    }

    /// A legend swatch is 18×3 pixels; more than that means the data was drawn too.
    const SWATCH: usize = 18 * 3;

    #[test]
    fn two_series_with_nan_points() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let train: Vec<(f64, f64)> = (0..400)
            .map(|i| {
                let x = f64::from(i) * 25.0;
                match i {
                    50 => (x, f64::NAN),
                    51 => (x, f64::INFINITY),
                    52 => (f64::NAN, 1.0),
                    _ => (x, 2.5 * (-x / 3000.0).exp() + 0.3),
                }
            })
            .collect();
        let val: Vec<(f64, f64)> = (0..20)
            .map(|i| {
                (
                    f64::from(i) * 500.0,
                    2.0 * (-f64::from(i) / 8.0).exp() + 0.5,
                )
            })
            .collect();
        let c = chart(
            vec![Series::new("train", train), Series::new("val", val)],
            false,
        );
        c.write_png(&path, 640, 400).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), (640, 400));
        for i in 0..2 {
            let n = count_near(&img, palette(i));
            assert!(n > SWATCH + 150, "series {i}: {n} pixels of its colour");
        }
        assert!(!dir.path().join("loss.png.tmp").exists());
        // Same chart on a log axis.
        let mut c = c;
        c.log_y = true;
        c.write_png(&path, 640, 400).unwrap();
        assert!(count_near(&decode(&path), palette(1)) > SWATCH + 150);
    }

    #[test]
    fn log_axis_skips_non_positive_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.png");
        let points = vec![(0.0, 1.0), (1.0, 0.0), (2.0, -3.0), (3.0, 0.1), (4.0, 0.01)];
        chart(vec![Series::new("l", points)], true)
            .write_png(&path, 300, 200)
            .unwrap();
        assert_eq!(decode(&path).dimensions(), (300, 200));
        // Nothing positive at all: an empty frame, still a valid image.
        chart(vec![Series::new("l", vec![(0.0, 0.0), (1.0, -1.0)])], true)
            .write_png(&path, 300, 200)
            .unwrap();
        assert_eq!(decode(&path).dimensions(), (300, 200));
    }

    #[test]
    fn degenerate_inputs_still_draw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.png");
        let cases = vec![
            vec![],
            vec![Series::new("empty", vec![])],
            vec![Series::new("nan", vec![(f64::NAN, f64::NAN); 3])],
            vec![Series::new("flat", vec![(2.0, 5.0); 10])],
            vec![Series::new("zero", vec![(0.0, 0.0), (0.0, 0.0)])],
            vec![Series::new(
                "huge",
                vec![(-f64::MAX, -f64::MAX), (f64::MAX, f64::MAX)],
            )],
            vec![Series::new("tiny", vec![(0.0, 1e-300), (1e-300, 0.0)])],
            (0..30)
                .map(|i| Series::new(format!("a rather long series name {i}"), vec![]))
                .collect(),
        ];
        for series in cases {
            for log_y in [false, true] {
                for (w, h) in [(320, 240), (30, 20), (1, 1)] {
                    chart(series.clone(), log_y).write_png(&path, w, h).unwrap();
                    assert_eq!(decode(&path).dimensions(), (w, h));
                }
            }
        }
    }

    #[test]
    fn single_point_gets_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.png");
        let colour_count = |points| {
            chart(vec![Series::new("only", points)], false)
                .write_png(&path, 320, 240)
                .unwrap();
            count_near(&decode(&path), palette(0))
        };
        let (legend_only, with_point) = (colour_count(vec![]), colour_count(vec![(3.0, 0.7)]));
        assert!(
            with_point >= legend_only + 20,
            "{legend_only} → {with_point}"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let c = chart(vec![Series::new("s", vec![(0.0, 1.0), (1.0, 2.0)])], false);
        let zero = dir.path().join("zero.png");
        let err = c.write_png(&zero, 0, 100).unwrap_err();
        assert!(
            format!("{err:#}").contains(&zero.display().to_string()),
            "{err:#}"
        );
        // A directory where the file should go cannot be replaced.
        let blocked = dir.path().join("blocked.png");
        std::fs::create_dir(&blocked).unwrap();
        let err = c.write_png(&blocked, 50, 50).unwrap_err();
        assert!(format!("{err:#}").contains("blocked.png"), "{err:#}");
    }
}
