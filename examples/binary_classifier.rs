//! Binary classification two ways: a sigmoid output with `binary_cross_entropy`, and
//! raw logits with `BCEWithLogitsLoss` (the tutorial's recommendation: simpler, and
//! stable where the sigmoid saturates). First the tutorial's single neuron and its
//! gradients, then a classifier trained both ways from the same start.
//!
//! A line-by-line port of `scripts/torch_examples/binary_classifier.py`; prints what it
//! prints (`tests/examples.rs` compares the two). Run: `cargo run --example binary_classifier`.

use kiln::autograd::{BackwardOptions, grad_with_options};
use kiln::nn::functional::{
    binary_cross_entropy as bce, binary_cross_entropy_with_logits as bce_logits,
};
use kiln::nn::{BCEWithLogitsLoss, Linear, Module, Sigmoid};
use kiln::optim::{Optimizer, SGD};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. One neuron: forward pass, loss, gradients (the tutorial's w1, b, a, y).
    let y = kiln::tensor(&[1.0f32]);
    let x1 = kiln::tensor(&[1.1f32]);
    let w1 = kiln::tensor(&[2.2f32]).requires_grad_(true);
    let b = kiln::tensor(&[0.0f32]).requires_grad_(true);
    let z = &x1 * &w1 + &b;
    let a = z.sigmoid();
    let loss = bce(&a, &y);
    let grad_l_w1 = grad_with_options(&loss, &w1, None, BackwardOptions::new().retain_graph(true));
    let grad_l_b = grad_with_options(&loss, &b, None, BackwardOptions::new().retain_graph(true));
    println!("{grad_l_w1}");
    println!("{grad_l_b}");
    loss.backward();
    println!("{}", w1.grad().unwrap());
    println!("{}", b.grad().unwrap());
    println!("loss (sigmoid + BCE): {}", loss.detach());
    println!("loss (logits): {}", bce_logits(&z, &y).detach());

    // 2. Stability: a confident wrong prediction.
    let big = kiln::tensor(&[20.0f32]);
    let target = kiln::tensor(&[0.0f32]);
    println!("BCE(sigmoid(20), 0): {}", bce(&big.sigmoid(), &target));
    println!("BCEWithLogits(20, 0): {}", bce_logits(&big, &target));

    // 3. Training a classifier both ways from the same start.
    kiln::manual_seed(123);
    #[rustfmt::skip]
    let x = kiln::tensor(&[[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]]);
    let labels = kiln::tensor(&[0.0, 0.0, 0.0, 1.0, 1.0]);
    let model_prob = kiln::seq![Linear::new(2, 1), Sigmoid::new()];
    let model_logit = Linear::new(2, 1);
    model_logit.load_state_dict(&model_prob[0].state_dict())?;
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
            println!("Epoch {epoch:2} | BCE: {loss_prob:.4} | BCEWithLogits: {loss_logit:.4}");
        }
    }

    let _no_grad = kiln::no_grad_guard();
    let p1 = model_prob.forward(&x).squeeze_dim(1);
    let p2 = model_logit.forward(&x).sigmoid().squeeze_dim(1);
    println!("概率 (Sigmoid + BCE): {p1}");
    println!("概率 (BCEWithLogitsLoss): {p2}");
    println!("预测: {}", p2.gt(0.5).long());
    Ok(())
}
