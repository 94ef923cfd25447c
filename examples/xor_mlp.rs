//! The tutorial's multilayer perceptron MLP(2, 4, 1) solving XOR with Adam (lr 0.1) and
//! MSELoss: what a single perceptron cannot learn, one hidden ReLU layer can.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/xor_mlp.py` prints
//! (`tests/examples.rs` runs both and compares). Run: `cargo run --example xor_mlp`.

use kiln::Tensor;
use kiln::nn::{Linear, MSELoss, Module, ReLU};
use kiln::optim::{Adam, Optimizer};

/// 多层感知机 (a multilayer perceptron).
#[derive(Module)]
#[allow(clippy::upper_case_acronyms)] // the tutorial's name
struct MLP {
    layer1: Linear,
    layer2: Linear,
    activation: ReLU,
}

impl MLP {
    fn new(input_size: usize, hidden_size: usize, output_size: usize) -> Self {
        MLP {
            layer1: Linear::new(input_size, hidden_size),
            layer2: Linear::new(hidden_size, output_size),
            activation: ReLU::new(),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.layer1.forward(x);
        let x = self.activation.forward(&x);
        self.layer2.forward(&x)
    }
}

fn main() {
    kiln::manual_seed(1);
    // 解决 XOR 问题
    let x = kiln::tensor(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = kiln::tensor(&[[0.0], [1.0], [1.0], [0.0]]); // XOR

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
            println!("Epoch {}, Loss: {:.4}", epoch + 1, loss.item());
        }
    }

    println!("\nXOR 测试:");
    let predictions = kiln::no_grad(|| model.forward(&x));
    for (xi, pred) in x.iter().zip(&predictions) {
        println!("  {:?} -> {:.2}", xi.to_vec::<f32>(), pred.item());
    }
}
