//! The two pictures the tool draws: training curves and a confusion matrix. The font is
//! embedded (DejaVu Sans), so plots render the same on machines without any fonts.

use super::error::CliError;
use super::metrics::EpochRecord;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::Once;

const FONT: &str = "sans-serif";

fn register_fonts() {
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

fn plot_err(path: &Path) -> impl Fn(String) -> CliError + '_ {
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
    let x_range = if x_max <= 1.0 { 0.5..1.5 } else { 1.0..x_max };
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
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
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
    let root = BitMapBackend::new(path, (760, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
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
            let v = share.sqrt(); // lift small off-diagonal shares into view
            let shade = |hi: f64, lo: f64| (hi + (lo - hi) * v).round() as u8;
            let fill = RGBColor(shade(247.0, 8.0), shade(251.0, 48.0), shade(255.0, 107.0));
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
        assert_png(&p, 760, 760);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("c.png");
        let e = draw_curves(&p, &records(2)).unwrap_err();
        assert!(e.to_string().starts_with("cannot draw"), "{e}");
    }
}
