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

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "activations.png".into());
    // 常用激活函数
    let activations: Vec<(&str, Box<dyn Module>)> = vec![
        ("Sigmoid", Box::new(Sigmoid::new())),
        ("Tanh", Box::new(Tanh::new())),
        ("ReLU", Box::new(ReLU::new())),
        ("LeakyReLU", Box::new(LeakyReLU::new(0.1))),
        ("GELU", Box::new(GELU::new())),
    ];
    let x = Tensor::linspace(-5.0, 5.0, 100);
    // The embedded font, registered as plotters' "sans-serif".
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu Sans font was refused")?;
    // 1500×300 pixels: matplotlib's `figsize=(15, 3)` at 100 dpi, five panels.
    let root = BitMapBackend::new(&path, (1500, 300)).into_drawing_area();
    root.fill(&WHITE)?;
    let axes = root.split_evenly((1, 5));
    for (ax, (name, func)) in axes.iter().zip(activations) {
        let y = func.forward(&x);
        let (xs, ys) = (x.to_vec::<f32>(), y.to_vec::<f32>());
        // matplotlib's autoscale: the data range plus a 5% margin on each side.
        let (lo, hi) = (y.min().item() as f32, y.max().item() as f32);
        let pad = (hi - lo) * 0.05;
        let mut chart = ChartBuilder::on(ax)
            .caption(name, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(36)
            .build_cartesian_2d(-5.5f32..5.5f32, (lo - pad)..(hi + pad))?;
        // ax.grid(True)
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
        // ax.plot(x, y) in matplotlib's first colour.
        let blue = RGBColor(31, 119, 180);
        chart.draw_series(LineSeries::new(
            xs.into_iter().zip(ys),
            blue.stroke_width(2),
        ))?;
    }
    root.present()?;
    println!("saved {path}");
    Ok(())
}
