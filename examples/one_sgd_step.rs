//! Port of seed 003's example: a 784-to-10 network, CrossEntropyLoss and one SGD step.
//! Prints what `scripts/torch_examples/one_sgd_step.py` prints (same seed, same numbers).
//!
//! Run: `cargo run --example one_sgd_step`

use kiln::nn::{CrossEntropyLoss, Linear, Module};
use kiln::optim::{Optimizer, SGD};
use kiln::{Tensor, tensor};

#[derive(Module)]
struct SimpleNN {
    fc: Linear,
}

impl SimpleNN {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x)
    }
}

fn main() {
    kiln::manual_seed(0);
    let model = SimpleNN {
        fc: Linear::new(784, 10),
    };
    let criterion = CrossEntropyLoss::new();
    let mut optimizer = SGD::new(model.parameters(), 0.01);
    let x = Tensor::randn(&[1, 784]);
    let y_true = tensor(&[3i64]);
    let y_pred = model.forward(&x);
    let loss = criterion.forward(&y_pred, &y_true);
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
    println!("{model}");
    println!("Loss: {:.4}", loss.item());
    let after = criterion.forward(&model.forward(&x), &y_true);
    println!("Loss after the step: {after:.4}");
}
