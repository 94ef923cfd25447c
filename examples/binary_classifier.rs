//! Binary classification two ways: a sigmoid output with `binary_cross_entropy`, and
//! raw logits with `BCEWithLogitsLoss` (the tutorial's recommendation: simpler, and
//! stable where the sigmoid saturates). First the tutorial's single neuron and its
//! gradients, then a classifier trained both ways from the same start.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/binary_classifier.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example binary_classifier`.

use kiln::Tensor;
use kiln::autograd::{BackwardOptions, grad_with_options};
use kiln::nn::functional::{binary_cross_entropy, binary_cross_entropy_with_logits};
use kiln::nn::{BCEWithLogitsLoss, Linear, Module, Reduction, Sigmoid};
use kiln::optim::{Optimizer, SGD};
use std::io::{self, Write};

/// Probabilities from the two classifiers after training: (sigmoid + BCE, logits +
/// BCEWithLogitsLoss).
pub struct Outcome {
    /// `model_prob(X)`.
    pub prob_bce: Vec<f32>,
    /// `sigmoid(model_logit(X))`.
    pub prob_logits: Vec<f32>,
    /// The tutorial's labels.
    pub labels: Vec<f32>,
}

fn bce(p: &Tensor, t: &Tensor) -> Tensor {
    binary_cross_entropy(p, t, None, Reduction::Mean)
}

fn bce_logits(z: &Tensor, t: &Tensor) -> Tensor {
    binary_cross_entropy_with_logits(z, t, None, None, Reduction::Mean)
}

/// The whole program.
pub fn run(out: &mut dyn Write) -> io::Result<Outcome> {
    // 1. One neuron: forward pass, loss, gradients (the tutorial's w1, b, a, y).
    let y = kiln::tensor(&[1.0f32]);
    let x1 = kiln::tensor(&[1.1f32]);
    let w1 = kiln::tensor(&[2.2f32]).requires_grad_(true);
    let b = kiln::tensor(&[0.0f32]).requires_grad_(true);
    let z = &x1 * &w1 + &b;
    let a = z.sigmoid();
    let loss = bce(&a, &y);
    // `retain_graph`, as the PyTorch twin: the graph is backwarded through three times.
    let keep = BackwardOptions::new().retain_graph(true);
    let grad_l_w1 = grad_with_options(
        std::slice::from_ref(&loss),
        std::slice::from_ref(&w1),
        None,
        keep,
    );
    let grad_l_b = grad_with_options(
        std::slice::from_ref(&loss),
        std::slice::from_ref(&b),
        None,
        keep,
    );
    writeln!(out, "({},)", grad_l_w1[0].as_ref().expect("w1 is used"))?;
    writeln!(out, "({},)", grad_l_b[0].as_ref().expect("b is used"))?;
    loss.backward();
    writeln!(out, "{}", w1.grad().expect("w1.grad"))?;
    writeln!(out, "{}", b.grad().expect("b.grad"))?;
    writeln!(out, "loss (sigmoid + BCE): {}", loss.detach())?;
    writeln!(out, "loss (logits): {}", bce_logits(&z, &y).detach())?;

    // 2. Stability: a confident wrong prediction.
    let big = kiln::tensor(&[20.0f32]);
    let target = kiln::tensor(&[0.0f32]);
    writeln!(out, "BCE(sigmoid(20), 0): {}", bce(&big.sigmoid(), &target))?;
    writeln!(out, "BCEWithLogits(20, 0): {}", bce_logits(&big, &target))?;

    // 3. Training a classifier both ways from the same start.
    kiln::manual_seed(123);
    let x = kiln::tensor(&[
        [-1.2f32, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5],
    ]);
    let labels = kiln::tensor(&[0.0f32, 0.0, 0.0, 1.0, 1.0]);
    let model_prob = kiln::seq![Linear::new(2, 1), Sigmoid::new()];
    let model_logit = Linear::new(2, 1);
    model_logit
        .load_state_dict(&model_prob[0].state_dict(), true)
        .expect("same shapes");
    let mut opt_prob = SGD::new(model_prob.parameters(), 0.5);
    let mut opt_logit = SGD::new(model_logit.parameters(), 0.5);
    let criterion = BCEWithLogitsLoss::new();
    for epoch in 0..20 {
        let loss_prob = bce(&model_prob.forward(&x).squeeze_dim(1), &labels);
        opt_prob.zero_grad();
        loss_prob.backward();
        opt_prob.step();

        let loss_logit = criterion.forward(&model_logit.forward(&x).squeeze_dim(1), &labels);
        opt_logit.zero_grad();
        loss_logit.backward();
        opt_logit.step();
        if epoch % 5 == 0 {
            writeln!(
                out,
                "Epoch {epoch:2} | BCE: {:.4} | BCEWithLogits: {:.4}",
                loss_prob.item(),
                loss_logit.item()
            )?;
        }
    }

    let (p1, p2) = kiln::no_grad(|| {
        (
            model_prob.forward(&x).squeeze_dim(1),
            model_logit.forward(&x).sigmoid().squeeze_dim(1),
        )
    });
    writeln!(out, "概率 (Sigmoid + BCE): {p1}")?;
    writeln!(out, "概率 (BCEWithLogitsLoss): {p2}")?;
    writeln!(out, "预测: {}", p2.gt_scalar(0.5).long())?;
    Ok(Outcome {
        prob_bce: p1.to_vec::<f32>(),
        prob_logits: p2.to_vec::<f32>(),
        labels: labels.to_vec::<f32>(),
    })
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    run(&mut io::stdout().lock()).map(|_| ())
}
