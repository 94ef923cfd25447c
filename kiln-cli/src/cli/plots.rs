//! The two pictures the tool draws: training curves and a confusion matrix. The font is
//! embedded (DejaVu Sans), so plots render the same on machines without any fonts.

use super::error::CliError;
use super::metrics::EpochRecord;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::Once;

/// The embedded font's family name.
pub(super) const FONT: &str = "sans-serif";

/// Registers the embedded DejaVu fonts with plotters (once).
pub(super) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let regular =
            plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let bold = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
        debug_assert!(
            regular.is_ok() && bold.is_ok(),
            "embedded DejaVu fonts parse"
        );
    });
}

/// Turns a plotting failure into the error naming the file.
pub(super) fn plot_err(path: &Path) -> impl Fn(String) -> CliError + '_ {
    move |reason| CliError::Plot {
        path: path.to_path_buf(),
        reason,
    }
}

/// Draws `curves.png`: loss (left) and accuracy in percent (right) per epoch, train and
/// test, for the epochs in `records`.
pub fn draw_curves(path: &Path, records: &[EpochRecord]) -> Result<(), CliError> {
    register_fonts();
    let err = plot_err(path);
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (left, right) = root.split_horizontally(600);
    let series = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        records.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    panel(
        &left,
        "Loss",
        "loss",
        &[
            ("train", series(|r| r.train_loss), BLUE),
            ("test", series(|r| r.test_loss), RED),
        ],
        SeriesLabelPosition::UpperRight,
    )
    .map_err(&err)?;
    panel(
        &right,
        "Accuracy",
        "accuracy (%)",
        &[
            ("train", series(|r| 100.0 * r.train_acc), BLUE),
            ("test", series(|r| 100.0 * r.test_acc), RED),
        ],
        SeriesLabelPosition::LowerRight,
    )
    .map_err(&err)?;
    root.present().map_err(|e| err(e.to_string()))
}

type Series<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Series<'_>],
    legend_at: SeriesLabelPosition,
) -> Result<(), String> {
    let points = lines.iter().flat_map(|l| l.1.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        if y.is_finite() {
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.08).max(1e-3);
    // Half an epoch of room at each end, so the first and last markers are whole.
    let x_range = 0.5..x_max + 0.5;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, (y_min - pad)..(y_max + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(x_max.min(10.0) as usize + 1)
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for (name, pts, color) in lines {
        let color = *color;
        // One epoch is one point: draw its level across the plot so there is a line.
        let line: Vec<(f64, f64)> = match pts.as_slice() {
            [(_, y)] => vec![(0.5, *y), (x_max + 0.5, *y)],
            _ => pts.clone(),
        };
        let pts: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.1.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(
                line.into_iter().filter(|p| p.1.is_finite()),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Draws `confusion.png`: a heat map of `matrix[true][predicted]` counts, each cell
/// shaded by its share of the true class's samples and labelled with its count.
pub fn draw_confusion(path: &Path, matrix: &[Vec<u64>], title: &str) -> Result<(), CliError> {
    register_fonts();
    let err = plot_err(path);
    let n = matrix.len() as i32;
    let root = BitMapBackend::new(path, (860, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (grid, bar) = root.split_horizontally(760);
    colour_bar(&bar).map_err(&err)?;
    let mut chart = ChartBuilder::on(&grid)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(50)
        .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted class")
        .y_desc("true class")
        .x_labels(n as usize)
        .y_labels(n as usize)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => (n - 1 - i).to_string(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => i.to_string(),
            _ => String::new(),
        })
        .label_style((FONT, 15))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let mut cells = Vec::new();
    for (t, row) in matrix.iter().enumerate() {
        let total: u64 = row.iter().sum::<u64>().max(1);
        for (p, &count) in row.iter().enumerate() {
            // Row `t` is drawn at the top for t = 0, like a printed matrix.
            let (x, y) = (p as i32, n - 1 - t as i32);
            let share = count as f64 / total as f64;
            cells.push((x, y, count, share));
        }
    }
    chart
        .draw_series(cells.iter().map(|&(x, y, _, share)| {
            let fill = share_colour(share);
            Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                fill.filled(),
            )
        }))
        .map_err(|e| err(e.to_string()))?;
    let font_size = if n <= 10 { 15 } else { 10 };
    chart
        .draw_series(cells.iter().map(|&(x, y, count, share)| {
            let color: &'static RGBColor = if share.sqrt() > 0.55 { &WHITE } else { &BLACK };
            let style = TextStyle::from((FONT, font_size).into_font())
                .color(color)
                .pos(Pos::new(HPos::Center, VPos::Center));
            Text::new(
                count.to_string(),
                (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                style,
            )
        }))
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// The colour of a cell holding `share` of its true class's samples. The square root
/// lifts small off-diagonal shares (a few percent) into view.
fn share_colour(share: f64) -> RGBColor {
    let v = share.clamp(0.0, 1.0).sqrt();
    let shade = |hi: f64, lo: f64| (hi + (lo - hi) * v).round() as u8;
    RGBColor(shade(247.0, 8.0), shade(251.0, 48.0), shade(255.0, 107.0))
}

/// The key to the cell colours: a vertical bar from 0% (bottom) to 100% of the true
/// class, with ticks.
fn colour_bar(area: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String> {
    let (_, h) = area.dim_in_pixel();
    let (top, bottom) = (66i32, h as i32 - 66);
    let (x0, x1) = (8i32, 30i32);
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    for y in top..bottom {
        let share = f64::from(bottom - y) / f64::from(bottom - top);
        area.draw(&Rectangle::new(
            [(x0, y), (x1, y + 1)],
            share_colour(share).filled(),
        ))
        .map_err(e)?;
    }
    area.draw(&Rectangle::new(
        [(x0, top), (x1, bottom)],
        BLACK.stroke_width(1),
    ))
    .map_err(e)?;
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for pct in [0, 25, 50, 75, 100] {
        let y = bottom - (bottom - top) * pct / 100;
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 4, y)], BLACK))
            .map_err(e)?;
        area.draw(&Text::new(format!("{pct}%"), (x1 + 7, y), style.clone()))
            .map_err(e)?;
    }
    let caption = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new("of true", (2, top - 30), caption.clone()))
        .map_err(e)?;
    area.draw(&Text::new("class", (2, top - 14), caption))
        .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<EpochRecord> {
        (1..=n)
            .map(|e| EpochRecord {
                epoch: e,
                train_loss: 0.3 / e as f64,
                train_acc: 0.9 + 0.01 * e as f64,
                test_loss: 0.2 / e as f64,
                test_acc: 0.95 + 0.004 * e as f64,
                train_seconds: 1.0,
                samples_per_sec: 1.0,
                grad_norms: None,
            })
            .collect()
    }

    fn assert_png(path: &Path, w: u32, h: u32) {
        let img = image::open(path).unwrap();
        assert_eq!((img.width(), img.height()), (w, h));
        // Something besides the white background was drawn.
        let dark = img.to_luma8().pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 500, "only {dark} dark pixels");
    }

    #[test]
    fn curves_png_for_one_and_many_epochs() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1, 5] {
            let p = dir.path().join(format!("curves{n}.png"));
            draw_curves(&p, &records(n)).unwrap();
            assert_png(&p, 1200, 480);
        }
    }

    #[test]
    fn confusion_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("confusion.png");
        let m: Vec<Vec<u64>> = (0..10)
            .map(|t| {
                (0..10)
                    .map(|p| if t == p { 970 } else { (t + p) as u64 % 4 })
                    .collect()
            })
            .collect();
        draw_confusion(&p, &m, "Confusion matrix").unwrap();
        if let Ok(keep) = std::env::var("KILN_KEEP_PLOTS") {
            std::fs::copy(&p, Path::new(&keep).join("confusion.png")).unwrap();
        }
        assert_png(&p, 860, 760);
        // The colour bar: dark at its top (100%), near white at its bottom (0%).
        let img = image::open(&p).unwrap().to_rgb8();
        let top = img.get_pixel(760 + 19, 70).0;
        let bottom = img.get_pixel(760 + 19, 760 - 70).0;
        assert!(top[0] < 40 && top[2] < 140, "{top:?}");
        assert!(bottom.iter().all(|&c| c > 215), "{bottom:?}");
    }

    #[test]
    fn confusion_colours_are_shares_of_the_true_class() {
        // 34 of 1000 fours read as nines is as visible as 34 of 1000 anywhere, and a
        // class with ten times the samples gets the same colour for the same share.
        assert_eq!(share_colour(34.0 / 1000.0), share_colour(340.0 / 10000.0));
        let white = share_colour(0.0);
        let some = share_colour(0.034);
        assert!(white.0 as i32 - some.0 as i32 > 40, "{white:?} vs {some:?}");
        assert_eq!(share_colour(1.0), RGBColor(8, 48, 107));
    }

    /// Curves for one epoch: every marker whole and the level drawn as a line across.
    #[test]
    fn one_epoch_curves_have_lines_and_whole_markers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("one.png");
        draw_curves(&p, &records(1)).unwrap();
        if let Ok(keep) = std::env::var("KILN_KEEP_PLOTS") {
            std::fs::copy(&p, Path::new(&keep).join("curves1.png")).unwrap();
        }
        let img = image::open(&p).unwrap().to_rgb8();
        let blue = |x: u32| {
            (0..480).any(|y| {
                let c = img.get_pixel(x, y).0;
                c[2] > 200 && c[0] < 60 && c[1] < 60
            })
        };
        // Blue (train) pixels far left and far right of the single marker: a line.
        assert!(
            blue(120) && blue(500),
            "no train line across the loss panel"
        );
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("c.png");
        let e = draw_curves(&p, &records(2)).unwrap_err();
        assert!(e.to_string().starts_with("cannot draw"), "{e}");
    }
}
