//! The tutorial's multilayer perceptron MLP(2, 4, 1) solving XOR with Adam (lr 0.1) and
//! MSELoss: what a single perceptron cannot learn, one hidden ReLU layer can.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/xor_mlp.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example xor_mlp`.

use kiln::Tensor;
use kiln::nn::{Linear, MSELoss, Module, ReLU};
use kiln::optim::{Adam, Optimizer};
use std::io::{self, Write};

/// 多层感知机 (a multilayer perceptron).
#[derive(Module)]
#[allow(clippy::upper_case_acronyms)] // the tutorial's name
pub struct MLP {
    layer1: Linear,
    layer2: Linear,
    activation: ReLU,
}

impl MLP {
    /// `MLP(input_size, hidden_size, output_size)`.
    pub fn new(input_size: usize, hidden_size: usize, output_size: usize) -> Self {
        MLP {
            layer1: Linear::new(input_size, hidden_size),
            layer2: Linear::new(hidden_size, output_size),
            activation: ReLU::new(),
        }
    }

    /// `layer2(relu(layer1(x)))`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.layer1.forward(x);
        let x = self.activation.forward(&x);
        self.layer2.forward(&x)
    }
}

/// The whole tutorial program (seeded with 1, as its twin); returns the predictions
/// on the four XOR inputs.
pub fn run(out: &mut dyn Write) -> io::Result<Vec<f32>> {
    kiln::manual_seed(1);
    // 解决 XOR 问题
    let x = kiln::tensor(&[[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = kiln::tensor(&[[0.0f32], [1.0], [1.0], [0.0]]); // XOR

    let model = MLP::new(2, 4, 1);
    let criterion = MSELoss::new();
    let mut optimizer = Adam::new(model.parameters(), 0.1);

    for epoch in 0..1000 {
        let outputs = model.forward(&x);
        let loss = criterion.forward(&outputs, &y);

        optimizer.zero_grad();
        loss.backward();
        optimizer.step();

        if (epoch + 1) % 200 == 0 {
            writeln!(out, "Epoch {}, Loss: {:.4}", epoch + 1, loss.item())?;
        }
    }

    writeln!(out, "\nXOR 测试:")?;
    let predictions = kiln::no_grad(|| model.forward(&x));
    for (xi, pred) in x.unbind(0).iter().zip(predictions.unbind(0)) {
        writeln!(out, "  {:?} -> {:.2}", xi.to_vec::<f32>(), pred.item())?;
    }
    Ok(predictions.to_vec::<f32>())
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    run(&mut io::stdout().lock()).map(|_| ())
}
