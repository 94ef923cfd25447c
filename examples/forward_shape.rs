//! Port of seed 000's forward-shape example: a 784-128-10 network on one random input,
//! printing `torch.Size([1, 10])` and the model as PyTorch does
//! (`scripts/torch_examples/forward_shape.py`).
//!
//! Run: `cargo run --example forward_shape`

use kiln::Tensor;
use kiln::nn::{Linear, Module, ReLU};

#[derive(Module)]
struct SimpleNet {
    fc1: Linear,
    fc2: Linear,
    relu: ReLU,
}

impl SimpleNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.fc1.forward(x);
        let x = self.relu.forward(&x);
        self.fc2.forward(&x)
    }
}

fn main() {
    kiln::manual_seed(0);
    let x = Tensor::randn(&[1, 784]);
    let model = SimpleNet {
        fc1: Linear::new(784, 128),
        fc2: Linear::new(128, 10),
        relu: ReLU::new(),
    };
    let output = model.forward(&x);
    println!("{}", output.size());
    println!("{model}");
}
