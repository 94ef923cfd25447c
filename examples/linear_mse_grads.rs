//! Port of seed 002's example: a Linear layer with its weights set by hand
//! (`W = [[0.3, -0.2]]`, `b = [0.1]`), MSE loss and its gradients. Prints what
//! `scripts/torch_examples/linear_mse_grads.py` prints.
//!
//! Run: `cargo run --example linear_mse_grads`

use kiln::nn::{Linear, MSELoss, Module};
use kiln::{no_grad, tensor};

fn main() {
    let x = tensor(&[[0.5, -1.5], [1.0, 1.0]]).requires_grad_(true);
    let linear = Linear::new(2, 1);
    no_grad(|| {
        linear.weight.copy_(&tensor(&[[0.3, -0.2]]));
        linear.bias().copy_(&tensor(&[0.1]));
    });
    let y_pred = linear.forward(&x);
    let y_true = tensor(&[[1.0], [0.0]]);
    let loss_fn = MSELoss::new();
    let loss = loss_fn.forward(&y_pred, &y_true);
    loss.backward();
    println!("Loss: {}", loss.item());
    let (gw, gb) = (linear.weight.grad().unwrap(), linear.bias().grad().unwrap());
    println!("Gradients: {gw}, {gb}");
    println!("{}", linear.weight);
}
