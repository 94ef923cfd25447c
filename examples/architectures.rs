//! The tutorial's network patterns: an Encoder that narrows (784 → 10), a Decoder that
//! widens (10 → 784), a ResidualBlock (`x + layers(x)`) and a NormalizedMLP with
//! BatchNorm1d. Each is printed, its parameters counted, and run in train and eval mode:
//! only the batch-norm model answers differently (batch statistics vs running ones).
//!
//! A line-by-line port of `scripts/torch_examples/architectures.py`; prints what it prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example architectures`.

use kiln::nn::{BatchNorm1d, Linear, Module, ReLU, Sequential};
use kiln::{Tensor, py, seq};

// 1. 逐渐缩小(分类常用)
#[derive(Module)]
struct Encoder {
    layers: Sequential,
}

impl Encoder {
    fn new() -> Self {
        Encoder {
            layers: seq![
                Linear::new(784, 256),
                ReLU::new(),
                Linear::new(256, 64),
                ReLU::new(),
                Linear::new(64, 10)
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

// 2. 逐渐扩大(生成常用)
#[derive(Module)]
struct Decoder {
    layers: Sequential,
}

impl Decoder {
    fn new() -> Self {
        Decoder {
            layers: seq![
                Linear::new(10, 64),
                ReLU::new(),
                Linear::new(64, 256),
                ReLU::new(),
                Linear::new(256, 784)
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

// 3. 残差连接(深层网络)
#[derive(Module)]
struct ResidualBlock {
    layers: Sequential,
}

impl ResidualBlock {
    fn new(dim: usize) -> Self {
        ResidualBlock {
            layers: seq![Linear::new(dim, dim), ReLU::new(), Linear::new(dim, dim)],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x + self.layers.forward(x) // 残差连接
    }
}

// 4. 批归一化(加速训练)
#[derive(Module)]
struct NormalizedMLP {
    layers: Sequential,
}

impl NormalizedMLP {
    fn new() -> Self {
        NormalizedMLP {
            layers: seq![
                Linear::new(784, 256),
                BatchNorm1d::new(256),
                ReLU::new(),
                Linear::new(256, 10)
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

type Maker = fn() -> Box<dyn Module>;

fn main() {
    kiln::manual_seed(0);
    let makers: [(&str, Maker, usize); 4] = [
        ("Encoder", || Box::new(Encoder::new()), 784),
        ("Decoder", || Box::new(Decoder::new()), 10),
        ("ResidualBlock", || Box::new(ResidualBlock::new(64)), 64),
        ("NormalizedMLP", || Box::new(NormalizedMLP::new()), 784),
    ];
    let mut last = None;
    for (name, make, in_dim) in makers {
        let model = last.insert(make());
        let x = Tensor::randn(&[8, in_dim]);
        println!("{model}");
        println!("{name} 参数量: {}", py::thousands(model.num_parameters()));
        model.train();
        let y_train = model.forward(&x);
        model.eval();
        let y_eval = kiln::no_grad(|| model.forward(&x));
        let (shape_in, shape_out) = (py::tuple(x.shape()), py::tuple(y_train.shape()));
        println!("输入 {shape_in} -> 输出 {shape_out}");
        let same = py::bool_str(y_train.allclose(&y_eval));
        println!("train/eval 输出相同: {same}");
        println!("eval 输出[0, :4]: {}", y_eval.select(0, 0).narrow(0, 0, 4));
        println!();
    }

    let model = last.unwrap();
    let bn: &BatchNorm1d = model.get_submodule_as("layers.1").unwrap();
    println!("running_mean[:4]: {}", bn.running_mean().narrow(0, 0, 4));
    println!("running_var[:4]: {}", bn.running_var().narrow(0, 0, 4));
    println!("num_batches_tracked: {}", bn.num_batches_tracked());
}
