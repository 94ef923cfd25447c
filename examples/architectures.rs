//! The tutorial's network patterns: an Encoder that narrows (784 → 10), a Decoder that
//! widens (10 → 784), a ResidualBlock (`x + layers(x)`) and a NormalizedMLP with
//! BatchNorm1d. Each is printed, its parameters counted, and run in train and eval mode:
//! only the batch-norm model answers differently (batch statistics vs running ones).
//!
//! Prints what its PyTorch twin `scripts/torch_examples/architectures.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example architectures`.

use kiln::Tensor;
use kiln::nn::{BatchNorm1d, Linear, Module, ReLU, Sequential};
use kiln::seq;
use std::io::{self, Write};

/// 1. 逐渐缩小(分类常用): 784 → 256 → 64 → 10.
#[derive(Module)]
pub struct Encoder {
    layers: Sequential,
}

impl Encoder {
    /// The tutorial's layers.
    pub fn new() -> Self {
        Encoder {
            layers: seq![
                Linear::new(784, 256),
                ReLU::new(),
                Linear::new(256, 64),
                ReLU::new(),
                Linear::new(64, 10),
            ],
        }
    }
    /// `layers(x)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

/// 2. 逐渐扩大(生成常用): 10 → 64 → 256 → 784.
#[derive(Module)]
pub struct Decoder {
    layers: Sequential,
}

impl Decoder {
    /// The tutorial's layers.
    pub fn new() -> Self {
        Decoder {
            layers: seq![
                Linear::new(10, 64),
                ReLU::new(),
                Linear::new(64, 256),
                ReLU::new(),
                Linear::new(256, 784),
            ],
        }
    }
    /// `layers(x)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

/// 3. 残差连接(深层网络): `x + layers(x)`.
#[derive(Module)]
pub struct ResidualBlock {
    layers: Sequential,
}

impl ResidualBlock {
    /// A block on `dim` features.
    pub fn new(dim: usize) -> Self {
        ResidualBlock {
            layers: seq![Linear::new(dim, dim), ReLU::new(), Linear::new(dim, dim)],
        }
    }
    /// `x + layers(x)` (残差连接).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x + self.layers.forward(x)
    }
}

/// 4. 批归一化(加速训练): Linear, BatchNorm1d, ReLU, Linear.
#[derive(Module)]
pub struct NormalizedMLP {
    layers: Sequential,
}

impl NormalizedMLP {
    /// The tutorial's layers.
    pub fn new() -> Self {
        NormalizedMLP {
            layers: seq![
                Linear::new(784, 256),
                BatchNorm1d::new(256),
                ReLU::new(),
                Linear::new(256, 10),
            ],
        }
    }
    /// `layers(x)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
    /// The batch-norm layer, for its running statistics.
    pub fn batch_norm(&self) -> &BatchNorm1d {
        self.layers[1]
            .downcast_ref()
            .expect("layer 1 is BatchNorm1d")
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Default for NormalizedMLP {
    fn default() -> Self {
        NormalizedMLP::new()
    }
}

/// `1234567` → `"1,234,567"` (Python's `{:,}`).
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `torch.allclose(a, b)` with its default tolerances.
fn allclose(a: &Tensor, b: &Tensor) -> bool {
    let (a, b) = (a.to_vec::<f64>(), b.to_vec::<f64>());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| (x - y).abs() <= 1e-8 + 1e-5 * y.abs())
}

fn shape(t: &Tensor) -> String {
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    format!("({})", dims.join(", "))
}

/// Builds a model, prints it and its parameter count, runs it in train and eval mode.
fn demo(
    out: &mut dyn Write,
    name: &str,
    model: &dyn Module,
    forward: &dyn Fn(&Tensor) -> Tensor,
    in_dim: usize,
) -> io::Result<usize> {
    let x = Tensor::randn(&[8, in_dim]);
    writeln!(out, "{}", model.repr())?;
    let count = model.num_parameters();
    writeln!(out, "{name} 参数量: {}", thousands(count))?;
    model.train();
    let y_train = forward(&x);
    model.eval();
    let y_eval = kiln::no_grad(|| forward(&x));
    writeln!(out, "输入 {} -> 输出 {}", shape(&x), shape(&y_train))?;
    writeln!(
        out,
        "train/eval 输出相同: {}",
        if allclose(&y_train, &y_eval) {
            "True"
        } else {
            "False"
        }
    )?;
    writeln!(
        out,
        "eval 输出[0, :4]: {}",
        y_eval.select(0, 0).narrow(0, 0, 4)
    )?;
    writeln!(out)?;
    Ok(count)
}

/// The whole program (seeded with 0, as its twin); returns each model's parameter count.
pub fn run(out: &mut dyn Write) -> io::Result<Vec<(String, usize)>> {
    kiln::manual_seed(0);
    let mut counts = Vec::new();
    let m = Encoder::new();
    counts.push((
        "Encoder".into(),
        demo(out, "Encoder", &m, &|x| m.forward(x), 784)?,
    ));
    let m = Decoder::new();
    counts.push((
        "Decoder".into(),
        demo(out, "Decoder", &m, &|x| m.forward(x), 10)?,
    ));
    let m = ResidualBlock::new(64);
    let n = demo(out, "ResidualBlock", &m, &|x| m.forward(x), 64)?;
    counts.push(("ResidualBlock(64)".into(), n));
    let m = NormalizedMLP::new();
    let n = demo(out, "NormalizedMLP", &m, &|x| m.forward(x), 784)?;
    counts.push(("NormalizedMLP".into(), n));

    let bn = m.batch_norm();
    let first4 = |t: &Option<Tensor>| t.as_ref().expect("tracked").narrow(0, 0, 4);
    writeln!(out, "running_mean[:4]: {}", first4(&bn.running_mean))?;
    writeln!(out, "running_var[:4]: {}", first4(&bn.running_var))?;
    let tracked = bn.num_batches_tracked.as_ref().expect("tracked");
    writeln!(out, "num_batches_tracked: {tracked}")?;
    Ok(counts)
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    run(&mut io::stdout().lock()).map(|_| ())
}
