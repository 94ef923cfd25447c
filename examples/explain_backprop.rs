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

/// Writes a picture into `target/explain/` (best effort: the example still prints).
fn save(name: &str, text: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/explain");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(name), text);
    }
}

fn main() {
    // Seed 003's program, traced.
    println!("=== Seed 003: y_pred = w * x + b, loss = (y_pred - y_true) ** 2 ===");
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
        (&y_pred - &y_true).pow(2)
    });
    explain::name(&loss, "loss");
    loss.backward();
    let e = explain::explain(&loss);
    println!("{e}");
    println!("By hand (the chain rule, outermost first):");
    println!("  y_pred = w*x + b = 1*2 + 0 = 2, loss = (2 - 4)^2 = 4");
    println!("  dL/dy_pred = 2*(y_pred - y) = 2*(2 - 4) = -4");
    println!("  dL/dw = dL/dy_pred * x = -4 * 2 = -8");
    println!("  dL/db = dL/dy_pred * 1 = -4");
    println!("kiln:     Gradient of w: {}", w.grad().unwrap());
    println!("kiln:     Gradient of b: {}", b.grad().unwrap());
    println!(
        "tutorial: Gradient of w: tensor([4.]), Gradient of b: tensor([2.])  <- not what its program prints\n"
    );
    save("seed003.dot", &e.dot());
    save("seed003.svg", &e.svg());

    // Seed 002's program (with the weights its derivation assumes), traced.
    println!("=== Seed 002: nn.Linear(2, 1) and MSELoss on two samples ===");
    let x = tensor(&[[0.5, -1.5], [1.0, 1.0]]).requires_grad_(true);
    let mut linear = Linear::new(2, 1);
    linear.weight = tensor(&[[0.3, -0.2]]).requires_grad_(true);
    linear.bias = Some(tensor(&[0.1]).requires_grad_(true));
    let y_true = tensor(&[[1.0], [0.0]]);
    explain::name(&x, "x");
    explain::name(&y_true, "y_true");
    explain::name_parameters([
        ("linear.weight".to_string(), linear.weight.shallow_clone()),
        ("linear.bias".to_string(), linear.bias().shallow_clone()),
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
    println!("{e}");
    println!("By hand, with W = [[0.3, -0.2]], b = [0.1]:");
    println!("  y_pred = [0.15 + 0.3 + 0.1, 0.3 - 0.2 + 0.1] = [0.55, 0.2]");
    println!("  loss = ((0.55 - 1)^2 + (0.2 - 0)^2) / 2 = 0.12125");
    println!("  dL/dy_pred = 2*(y_pred - y_true)/2 = [-0.45, 0.2]");
    println!(
        "  dL/dW = sum_i dL/dy_pred_i * x_i = -0.45*[0.5, -1.5] + 0.2*[1, 1] = [-0.025, 0.875]"
    );
    println!("  dL/db = -0.45 + 0.2 = -0.25");
    println!("kiln:     Loss: {:.5}", loss.item());
    let (gw, gb) = (linear.weight.grad().unwrap(), linear.bias().grad().unwrap());
    println!("kiln:     Gradients: {gw}, {gb}");
    println!(
        "tutorial: linear.weight.grad = [-0.0125, 0.4375]  <- halved once too often; bias [-0.25] is right"
    );
    save("seed002.svg", &e.svg());
}
