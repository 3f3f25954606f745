//! Scatter plots, for 2-D projections (PCA) of embeddings coloured by class.

use std::path::Path;

use anyhow::Result;
use tiny_skia::Pixmap;

use super::frame::{canvas, dot, draw_chrome, save_png, Chrome, Mark, Range};
use super::palette;

/// One class's points; groups take palette colours in order (they repeat past twelve).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub name: String,
    pub points: Vec<(f32, f32)>,
}

impl Group {
    pub fn new(name: impl Into<String>, points: Vec<(f32, f32)>) -> Group {
        Group {
            name: name.into(),
            points,
        }
    }
}

/// Points in a plane, one colour per group, with a legend of group names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scatter {
    pub title: String,
    pub groups: Vec<Group>,
}

impl Scatter {
    /// Draws the plot and writes it to `path` as a `width`×`height` PNG. Non-finite points are
    /// skipped.
    pub fn write_png(&self, path: &Path, width: u32, height: u32) -> Result<()> {
        let pixmap = self.render(width, height, path)?;
        save_png(&pixmap, path)
    }

    fn render(&self, width: u32, height: u32, path: &Path) -> Result<Pixmap> {
        let mut pm = canvas(width, height, path)?;
        let finite = |g: &'_ Group| {
            g.points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|&(x, y)| (f64::from(x), f64::from(y)))
                .collect::<Vec<_>>()
        };
        let groups: Vec<Vec<(f64, f64)>> = self.groups.iter().map(finite).collect();
        let all = || groups.iter().flatten();
        let bounds = |pick: fn(&(f64, f64)) -> f64| {
            all()
                .map(pick)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let count = all().count();
        let (x, y) = if count == 0 {
            let unit = Range::around(0.0, 1.0, 0.0, false);
            (unit, unit)
        } else {
            // The same fraction of padding on every side keeps edge points off the frame.
            let ((x_lo, x_hi), (y_lo, y_hi)) = (bounds(|p| p.0), bounds(|p| p.1));
            (
                Range::around(x_lo, x_hi, 0.06, false),
                Range::around(y_lo, y_hi, 0.06, false),
            )
        };
        let chrome = Chrome {
            title: &self.title,
            x_label: "",
            y_label: "",
            x,
            y,
            legend: self
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.name.as_str(), palette(i)))
                .collect(),
            mark: Mark::Dot,
            empty: count == 0,
        };
        let plot = draw_chrome(&mut pm, &chrome);

        // Smaller dots as the cloud gets denser, so classes stay tellable apart.
        let r = match count {
            0..=500 => 3.5,
            501..=5000 => 2.5,
            _ => 1.6,
        };
        for (i, points) in groups.iter().enumerate() {
            let colour = palette(i);
            for &(x, y) in points {
                let (px, py) = plot.at(x, y);
                dot(&mut pm, px, py, r, colour);
            }
        }
        Ok(pm)
    }
}

#[cfg(test)]
mod tests {
    use super::{Group, Scatter};
    use crate::report::palette;
    use crate::report::testing::{count_near, decode};

    /// A legend dot of radius 4 has about 50 pixels; more than that means points were drawn.
    const LEGEND_DOT: usize = 60;

    #[test]
    fn three_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pca.png");
        // Three clusters on a deterministic spiral, with a few unusable points mixed in.
        let groups = (0..3)
            .map(|g| {
                let (cx, cy) = [(-2.0f32, 0.0f32), (1.5, 1.5), (1.0, -2.0)][g];
                let mut points: Vec<(f32, f32)> = (0..80)
                    .map(|i| {
                        let (a, r) = (i as f32 * 2.4, (i as f32).sqrt() * 0.12);
                        (cx + r * a.cos(), cy + r * a.sin())
                    })
                    .collect();
                points.push((f32::NAN, 0.0));
                points.push((0.0, f32::INFINITY));
                Group::new(format!("class {g}"), points)
            })
            .collect();
        let s = Scatter {
            title: "PCA of speech embeddings".into(),
            groups,
        };
        s.write_png(&path, 500, 400).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), (500, 400));
        for i in 0..3 {
            let n = count_near(&img, palette(i));
            assert!(n > LEGEND_DOT + 200, "group {i}: {n} pixels of its colour");
        }
    }

    #[test]
    fn degenerate_inputs_still_draw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.png");
        let cases = vec![
            vec![],
            vec![
                Group::new("empty", vec![]),
                Group::new("also empty", vec![]),
            ],
            vec![Group::new("same", vec![(1.0, 1.0); 50])],
            vec![Group::new("origin", vec![(0.0, 0.0)])],
            vec![Group::new("nan", vec![(f32::NAN, f32::NAN)])],
            vec![Group::new(
                "wide",
                vec![(f32::MIN, f32::MIN), (f32::MAX, f32::MAX)],
            )],
            (0..20)
                .map(|i| Group::new(format!("class {i}"), vec![(i as f32, 0.0)]))
                .collect(),
        ];
        for groups in cases {
            let s = Scatter {
                title: "t".into(),
                groups,
            };
            for (w, h) in [(400, 300), (20, 20), (1, 1)] {
                s.write_png(&path, w, h).unwrap();
                assert_eq!(decode(&path).dimensions(), (w, h));
            }
        }
        // A lone point is drawn, not only its legend entry.
        let colour_count = |points| {
            let s = Scatter {
                title: String::new(),
                groups: vec![Group::new("one", points)],
            };
            s.write_png(&path, 300, 200).unwrap();
            count_near(&decode(&path), palette(0))
        };
        let (legend_only, with_point) = (colour_count(vec![]), colour_count(vec![(0.5, 0.5)]));
        assert!(
            with_point >= legend_only + 20,
            "{legend_only} → {with_point}"
        );
    }
}
