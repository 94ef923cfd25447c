//! Saving and loading a model: the tutorial's NeuralNetwork(2, 2) is trained briefly,
//! its `state_dict()` saved to `model.safetensors` (PyTorch's key names, so PyTorch's
//! `load_file` reads it too), loaded into a fresh model, which then answers exactly as
//! the original.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/save_load.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example save_load [PATH]`
//! (the file goes to `model.safetensors` in the current directory by default).

use kiln::Tensor;
use kiln::io::{load_state_dict_file, save_state_dict};
use kiln::nn::{Linear, Module, ReLU, Sequential, functional as F};
use kiln::optim::{Optimizer, SGD};
use std::io::{self, Write};
use std::path::Path;

/// The tutorial's `NeuralNetwork(num_inputs, num_outputs)`.
#[derive(Module)]
pub struct NeuralNetwork {
    layers: Sequential,
}

impl NeuralNetwork {
    /// Two hidden layers (30 and 20 units) with ReLU.
    pub fn new(num_inputs: usize, num_outputs: usize) -> Self {
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

    /// The logits.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

/// The whole program, saving to `path`; returns the outputs of the original and the
/// reloaded model.
pub fn run(out: &mut dyn Write, path: &Path) -> io::Result<(Vec<f32>, Vec<f32>)> {
    let x_train = kiln::tensor(&[
        [-1.2f32, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5],
    ]);
    let y_train = Tensor::from_vec(vec![0i64, 0, 0, 1, 1], &[5]);

    kiln::manual_seed(123);
    let model = NeuralNetwork::new(2, 2);
    let mut optimizer = SGD::new(model.parameters(), 0.5);

    let num_epochs = 3;
    for epoch in 0..num_epochs {
        model.train();
        let logits = model.forward(&x_train);
        let loss = F::cross_entropy(&logits, &y_train); // Loss function

        optimizer.zero_grad();
        loss.backward();
        optimizer.step();

        writeln!(
            out,
            "Epoch: {:03}/{num_epochs:03} | Train Loss: {:.2}",
            epoch + 1,
            loss.item()
        )?;
    }

    model.eval();
    save_state_dict(path, &model.state_dict()).map_err(io::Error::other)?;

    let model2 = NeuralNetwork::new(2, 2);
    let state = load_state_dict_file(path).map_err(io::Error::other)?;
    model2
        .load_state_dict(&state, true)
        .map_err(io::Error::other)?;
    model2.eval();
    let (y1, y2) = kiln::no_grad(|| (model.forward(&x_train), model2.forward(&x_train)));
    writeln!(out, "{y2}")?;
    let (v1, v2) = (y1.to_vec::<f32>(), y2.to_vec::<f32>());
    let same = v1.len() == v2.len() && v1.iter().zip(&v2).all(|(a, b)| a.to_bits() == b.to_bits());
    writeln!(out, "输出相同: {}", if same { "True" } else { "False" })?;
    writeln!(out, "预测: {}", y2.argmax(Some(1), false))?;
    Ok((v1, v2))
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "model.safetensors".into());
    run(&mut io::stdout().lock(), Path::new(&path)).map(|_| ())
}
