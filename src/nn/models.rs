//! Ready-made networks used by the benchmarks and the command line.

use super::{Dropout, Linear, ReLU, Sequential};

/// The tutorial's digit classifier body: Linear 784-256, ReLU, Dropout 0.2,
/// Linear 256-128, ReLU, Dropout 0.2, Linear 128-10 (PyTorch's `nn.Sequential`).
pub fn digit_classifier() -> Sequential {
    crate::seq![
        Linear::new(784, 256),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(256, 128),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(128, 10)
    ]
}

/// An MLP with `depth` hidden layers of `width` units and ReLU between them.
pub fn mlp(inputs: usize, width: usize, depth: usize, outputs: usize) -> Sequential {
    let mut net = Sequential::new(Vec::new());
    let mut from = inputs;
    for _ in 0..depth {
        net.push(Linear::new(from, width));
        net.push(ReLU::new());
        from = width;
    }
    net.push(Linear::new(from, outputs));
    net
}
