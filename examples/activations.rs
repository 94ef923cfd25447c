//! The tutorial's activation-function figure: Sigmoid, Tanh, ReLU, LeakyReLU(0.1) and
//! GELU on `linspace(-5, 5, 100)`, one panel each, with a grid and the axes drawn,
//! saved as `activations.png` (as the tutorial does with matplotlib).
//!
//! Drawn with `plotters`; the DejaVu Sans font is embedded (from the `dejavu` crate) and
//! registered with plotters, so no system font is needed.
//! Run: `cargo run --example activations [PATH]` (default `activations.png`).

use kiln::Tensor;
use kiln::nn::{GELU, LeakyReLU, Module, ReLU, Sigmoid, Tanh};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::error::Error;
use std::path::Path;

/// Each activation with its inputs and outputs: `(name, x, y)` (常用激活函数).
pub fn curves() -> Vec<(&'static str, Vec<f32>, Vec<f32>)> {
    let activations: Vec<(&'static str, Box<dyn Module>)> = vec![
        ("Sigmoid", Box::new(Sigmoid::new())),
        ("Tanh", Box::new(Tanh::new())),
        ("ReLU", Box::new(ReLU::new())),
        ("LeakyReLU", Box::new(LeakyReLU::new(0.1))),
        ("GELU", Box::new(GELU::new())),
    ];
    let x = Tensor::linspace(-5.0, 5.0, 100);
    activations
        .into_iter()
        .map(|(name, func)| (name, x.to_vec::<f32>(), func.forward(&x).to_vec::<f32>()))
        .collect()
}

/// Draws the five panels (1500×300 pixels, matplotlib's `figsize=(15, 3)` at 100 dpi)
/// into a PNG at `path`.
pub fn draw(path: &Path) -> Result<(), Box<dyn Error>> {
    // Registering again (a second call in one process) only replaces the same font.
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu Sans font was refused")?;
    let root = BitMapBackend::new(path, (1500, 300)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 5));
    for (area, (name, xs, ys)) in panels.iter().zip(curves()) {
        // matplotlib's autoscale: the data range plus a 5% margin on each side.
        let (lo, hi) = ys
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let pad = (hi - lo) * 0.05;
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(36)
            .build_cartesian_2d(-5.5f32..5.5f32, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .label_style(("sans-serif", 12))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.15))
            .draw()?;
        // ax.axhline(y=0) and ax.axvline(x=0), thin and black.
        chart.draw_series(LineSeries::new([(-5.5f32, 0.0f32), (5.5, 0.0)], BLACK))?;
        chart.draw_series(LineSeries::new(
            [(0.0f32, lo - pad), (0.0, hi + pad)],
            BLACK,
        ))?;
        let blue = RGBColor(31, 119, 180); // matplotlib's first colour
        chart.draw_series(LineSeries::new(
            xs.iter().copied().zip(ys.iter().copied()),
            blue.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "activations.png".into());
    draw(Path::new(&path))?;
    println!("saved {path}");
    Ok(())
}
