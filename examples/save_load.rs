//! Saving and loading a model: the tutorial's NeuralNetwork(2, 2) is trained briefly,
//! its `state_dict()` saved with `kiln::save` to `model.pth` (PyTorch's zip format and key
//! names, so `torch.load` reads it), loaded with `kiln::load` into a fresh model, which
//! then answers exactly as the original.
//!
//! A line-by-line port of `scripts/torch_examples/save_load.py`; prints what it prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example save_load` (it writes
//! `model.pth` in the current directory).

use kiln::nn::{Linear, Module, ReLU, Sequential, functional as F};
use kiln::optim::{Optimizer, SGD};
use kiln::{Tensor, py};

#[derive(Module)]
struct NeuralNetwork {
    layers: Sequential,
}

impl NeuralNetwork {
    fn new(num_inputs: usize, num_outputs: usize) -> Self {
        NeuralNetwork {
            layers: kiln::seq![
                // 1st hidden layer
                Linear::new(num_inputs, 30),
                ReLU::new(),
                // 2nd hidden layer
                Linear::new(30, 20),
                ReLU::new(),
                // Output layer
                Linear::new(20, num_outputs),
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[rustfmt::skip]
    let x_train = kiln::tensor(&[[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]]);
    let y_train = kiln::tensor(&[0, 0, 0, 1, 1]);

    kiln::manual_seed(123);
    let model = NeuralNetwork::new(2, 2);
    let mut optimizer = SGD::new(model.parameters(), 0.5);

    let num_epochs = 3;
    for epoch in 1..=num_epochs {
        model.train();
        let logits = model.forward(&x_train);
        let loss = F::cross_entropy(&logits, &y_train); // Loss function

        optimizer.zero_grad();
        loss.backward();
        optimizer.step();

        println!("Epoch: {epoch:03}/{num_epochs:03} | Train Loss: {loss:.2}");
    }

    model.eval();
    kiln::save(&model.state_dict(), "model.pth")?;

    let model2 = NeuralNetwork::new(2, 2);
    model2.load_state_dict(&kiln::load("model.pth")?)?;
    model2.eval();
    let _no_grad = kiln::no_grad_guard();
    let out = model.forward(&x_train);
    let out2 = model2.forward(&x_train);
    println!("{out2}");
    println!("输出相同: {}", py::bool_str(out.equal(&out2)));
    println!("预测: {}", out2.argmax(1, false));
    Ok(())
}
