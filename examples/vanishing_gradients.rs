//! Seed 001's activation table says Sigmoid and Tanh make gradients vanish and ReLU
//! eases it. This trains the same deep MLP (10 Linear(32, 32) layers) with each, and
//! measures every layer's gradient norm with `kiln::nn::utils::GradStats`
//! (post-accumulate-grad hooks): with Sigmoid the first layer's gradient is about 10^7
//! times smaller than the last's. With PyTorch's default `Linear` init (uniform, a third
//! of the variance He init gives) ReLU's gradients shrink too, by about 10^3 over the
//! depth; with He init (`kaiming_normal_`, the one ReLU networks use) they stay within
//! a small factor, which is what the table's "ReLU eases vanishing gradients" assumes.
//!
//! Run: `cargo run --release --example vanishing_gradients [out.png]` (default
//! `target/explain/vanishing_gradients.png`); prints the table it plots.

use kiln::Tensor;
use kiln::nn::init::FanMode;
use kiln::nn::utils::GradStats;
use kiln::nn::{Linear, MSELoss, Module, ReLU, Sequential, Sigmoid, Tanh};
use kiln::optim::{Optimizer, SGD};
use plotters::prelude::*;
use std::error::Error;

/// Hidden layers of the MLP.
const DEPTH: usize = 10;
const WIDTH: usize = 32;
const STEPS: usize = 20;

/// A deep MLP with `act` after every hidden layer (`"ReLU + He init"`: ReLU with its
/// weights drawn by `kaiming_normal_`, the init ReLU networks are trained with).
fn mlp(act: &str) -> Sequential {
    let mut s = Sequential::new(Vec::new());
    for _ in 0..DEPTH {
        let fc = Linear::new(WIDTH, WIDTH);
        if act == "ReLU + He init" {
            kiln::nn::init::kaiming_normal_(&fc.weight, 0.0, FanMode::FanIn, "relu");
        }
        s.push(fc);
        match act {
            "Sigmoid" => s.push(Sigmoid::new()),
            "Tanh" => s.push(Tanh::new()),
            _ => s.push(ReLU::new()),
        }
    }
    s.push(Linear::new(WIDTH, 1));
    s
}

/// Draws the norms per layer on a log scale.
fn plot(path: &std::path::Path, data: &[(&str, Vec<f64>)]) -> Result<(), Box<dyn Error>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "font")?;
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let layers = data[0].1.len();
    let (lo, hi) = data
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(&root)
        .caption("Gradient norm per layer (deep MLP)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(1f64..layers as f64, ((lo / 2.0)..(hi * 2.0)).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("layer (1 = next to the input)")
        .y_desc("|dL/dW|")
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    for ((name, v), colour) in data.iter().zip([RED, BLUE, GREEN, MAGENTA]) {
        let pts: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(i, &n)| ((i + 1) as f64, n))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    // Mean gradient norm of each Linear layer (input side first) over `STEPS` SGD steps,
    // for each activation.
    let mut data = Vec::new();
    for act in ["Sigmoid", "Tanh", "ReLU", "ReLU + He init"] {
        kiln::manual_seed(0);
        let model = mlp(act);
        let x = Tensor::randn(&[64, WIDTH]);
        let y = x.sum_dim(1, true).sin();
        let stats = GradStats::attach(model.named_parameters());
        let mut opt = SGD::new(model.parameters(), 0.05);
        let loss_fn = MSELoss::new();
        for _ in 0..STEPS {
            opt.zero_grad();
            loss_fn.forward(&model.forward(&x), &y).backward();
            opt.step();
        }
        let history = stats.take_history();
        stats.remove();
        let layers = history[0].len();
        let mean: Vec<f64> = (0..layers)
            .map(|l| history.iter().map(|row| row[l].1).sum::<f64>() / history.len() as f64)
            .collect();
        let cells: Vec<String> = mean.iter().map(|v| format!("{v:.1e}")).collect();
        println!("{act:>14}: {}", cells.join(" "));
        data.push((act, mean));
    }
    println!("(mean gradient norm of each Linear layer over {STEPS} SGD steps, first layer first)");
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/explain/vanishing_gradients.png")
        });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    plot(&path, &data)?;
    println!("wrote {}", path.display());
    Ok(())
}
