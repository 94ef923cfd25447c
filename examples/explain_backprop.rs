//! Backpropagation seen through kiln's chain-rule trace, next to the tutorials' hand
//! derivations: seed 003's `y_pred = w * x + b` with a squared error, and seed 002's
//! `nn.Linear(2, 1)` with MSELoss on two samples.
//!
//! Both tutorials print some numbers that their own programs do not produce: seed 003
//! says `w.grad = 4, b.grad = 2` (the program gives -8 and -4), and seed 002 says
//! `linear.weight.grad = [-0.0125, 0.4375]` (it is [-0.025, 0.875]: the mean's 1/2 was
//! applied twice). The trace shows each step, so the right numbers can be followed.
//!
//! Run: `cargo run --example explain_backprop` (also writes `seed003.svg`, `seed003.dot`
//! and `seed002.svg` into `target/explain/`).

use kiln::autograd::explain;
use kiln::nn::{Linear, MSELoss, Module};
use kiln::tensor;
use std::io::{self, Write};

/// What the two programs compute (kiln's numbers).
pub struct Outcome {
    /// Seed 003: `w.grad`, `b.grad`.
    pub seed003: (f32, f32),
    /// Seed 002: the loss, `linear.weight.grad`, `linear.bias.grad`.
    pub seed002: (f32, Vec<f32>, f32),
    /// The traces after backward, and the SVG pictures.
    pub traces: Vec<String>,
    /// The pictures (SVG) of both graphs after backward.
    pub svgs: Vec<String>,
}

/// Seed 003's program, traced.
fn seed003(out: &mut dyn Write, o: &mut Outcome) -> io::Result<()> {
    writeln!(
        out,
        "=== Seed 003: y_pred = w * x + b, loss = (y_pred - y_true) ** 2 ==="
    )?;
    let w = tensor(&[1.0]).requires_grad_(true);
    let b = tensor(&[0.0]).requires_grad_(true);
    let x = tensor(&[2.0]);
    let y_true = tensor(&[4.0]);
    for (t, n) in [(&w, "w"), (&b, "b"), (&x, "x"), (&y_true, "y")] {
        explain::name(t, n);
    }
    let loss = explain::trace(|| {
        let y_pred = &w * &x + &b;
        explain::name(&y_pred, "y_pred");
        (&y_pred - &y_true).pow_scalar(2.0)
    });
    explain::name(&loss, "loss");
    loss.backward();
    let e = explain::explain(&loss);
    let trace = e.to_string();
    writeln!(out, "{trace}")?;
    writeln!(out, "By hand (the chain rule, outermost first):")?;
    writeln!(
        out,
        "  y_pred = w*x + b = 1*2 + 0 = 2, loss = (2 - 4)^2 = 4"
    )?;
    writeln!(out, "  dL/dy_pred = 2*(y_pred - y) = 2*(2 - 4) = -4")?;
    writeln!(out, "  dL/dw = dL/dy_pred * x = -4 * 2 = -8")?;
    writeln!(out, "  dL/db = dL/dy_pred * 1 = -4")?;
    let (gw, gb) = (
        w.grad().unwrap().item() as f32,
        b.grad().unwrap().item() as f32,
    );
    writeln!(out, "kiln:     Gradient of w: {}", w.grad().unwrap())?;
    writeln!(out, "kiln:     Gradient of b: {}", b.grad().unwrap())?;
    writeln!(
        out,
        "tutorial: Gradient of w: tensor([4.]), Gradient of b: tensor([2.])  <- not what its program prints\n"
    )?;
    o.seed003 = (gw, gb);
    o.traces.push(trace);
    o.svgs.push(e.svg());
    save("seed003.dot", &e.dot());
    Ok(())
}

/// Seed 002's program (with the weights its derivation assumes), traced.
fn seed002(out: &mut dyn Write, o: &mut Outcome) -> io::Result<()> {
    writeln!(
        out,
        "=== Seed 002: nn.Linear(2, 1) and MSELoss on two samples ==="
    )?;
    let x = tensor(&[[0.5, -1.5], [1.0, 1.0]]).requires_grad_(true);
    let mut linear = Linear::new(2, 1);
    linear.weight = tensor(&[[0.3, -0.2]]).requires_grad_(true);
    linear.bias = Some(tensor(&[0.1]).requires_grad_(true));
    let y_true = tensor(&[[1.0], [0.0]]);
    explain::name(&x, "x");
    explain::name(&y_true, "y_true");
    explain::name_parameters([
        ("linear.weight".to_string(), linear.weight.shallow_clone()),
        ("linear.bias".to_string(), linear.bias.clone().unwrap()),
    ]);
    let loss_fn = MSELoss::new();
    let loss = explain::trace(|| {
        let y_pred = linear.forward(&x);
        explain::name(&y_pred, "y_pred");
        loss_fn.forward(&y_pred, &y_true)
    });
    explain::name(&loss, "loss");
    loss.backward();
    let e = explain::explain(&loss);
    let trace = e.to_string();
    writeln!(out, "{trace}")?;
    let gw = linear.weight.grad().unwrap();
    let gb = linear.bias.as_ref().unwrap().grad().unwrap();
    writeln!(out, "By hand, with W = [[0.3, -0.2]], b = [0.1]:")?;
    writeln!(
        out,
        "  y_pred = [0.15 + 0.3 + 0.1, 0.3 - 0.2 + 0.1] = [0.55, 0.2]"
    )?;
    writeln!(out, "  loss = ((0.55 - 1)^2 + (0.2 - 0)^2) / 2 = 0.12125")?;
    writeln!(out, "  dL/dy_pred = 2*(y_pred - y_true)/2 = [-0.45, 0.2]")?;
    writeln!(
        out,
        "  dL/dW = sum_i dL/dy_pred_i * x_i = -0.45*[0.5, -1.5] + 0.2*[1, 1] = [-0.025, 0.875]"
    )?;
    writeln!(out, "  dL/db = -0.45 + 0.2 = -0.25")?;
    writeln!(out, "kiln:     Loss: {:.5}", loss.item())?;
    writeln!(out, "kiln:     Gradients: {gw}, {gb}")?;
    writeln!(
        out,
        "tutorial: linear.weight.grad = [-0.0125, 0.4375]  <- halved once too often; bias [-0.25] is right"
    )?;
    o.seed002 = (loss.item() as f32, gw.to_vec::<f32>(), gb.item() as f32);
    o.traces.push(trace);
    o.svgs.push(e.svg());
    Ok(())
}

/// Writes a picture into `target/explain/` (best effort: the example still prints).
fn save(name: &str, text: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/explain");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(name), text);
    }
}

/// Both programs; returns kiln's numbers and the traces.
pub fn run(out: &mut dyn Write) -> io::Result<Outcome> {
    let mut o = Outcome {
        seed003: (0.0, 0.0),
        seed002: (0.0, Vec::new(), 0.0),
        traces: Vec::new(),
        svgs: Vec::new(),
    };
    seed003(out, &mut o)?;
    seed002(out, &mut o)?;
    Ok(o)
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    let o = run(&mut io::stdout().lock())?;
    save("seed003.svg", &o.svgs[0]);
    save("seed002.svg", &o.svgs[1]);
    Ok(())
}
