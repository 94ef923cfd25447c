//! The tutorial's perceptron: a weighted sum and a step function, trained with the
//! perceptron rule until it reproduces the AND gate.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/perceptron_and.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example perceptron_and`.

use kiln::Tensor;
use std::io::{self, Write};

/// 感知机 (a perceptron).
pub struct Perceptron {
    /// One weight per input.
    pub weights: Tensor,
    /// The bias, shape `[1]`.
    pub bias: Tensor,
}

impl Perceptron {
    /// Random weights and bias (随机初始化权重和偏置).
    pub fn new(input_size: usize) -> Self {
        let weights = Tensor::randn(&[input_size]);
        let bias = Tensor::randn(&[1]);
        Perceptron { weights, bias }
    }

    /// 前向传播: the step function of `x · w + b`.
    pub fn forward(&self, x: &Tensor) -> i64 {
        // 加权求和
        let z = x.dot(&self.weights) + &self.bias;
        // 阶跃激活函数
        if z.item() > 0.0 { 1 } else { 0 }
    }

    /// 训练: the perceptron rule; returns the epoch at which no sample was wrong.
    pub fn train(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        epochs: usize,
        lr: f64,
        out: &mut dyn Write,
    ) -> io::Result<Option<usize>> {
        for epoch in 0..epochs {
            let mut errors = 0;
            for (xi, yi) in x.unbind(0).iter().zip(y.unbind(0)) {
                let prediction = self.forward(xi);
                let error = yi.item() as i64 - prediction;
                if error != 0 {
                    // 更新权重: PyTorch computes `lr * error` in float32 first.
                    let step = lr * error as f64;
                    self.weights = &self.weights + xi.mul_scalar(step);
                    self.bias = self.bias.add_scalar(step);
                    errors += 1;
                }
            }
            if errors == 0 {
                writeln!(out, "Epoch {epoch}: 收敛!")?;
                return Ok(Some(epoch));
            }
        }
        Ok(None)
    }
}

/// The whole tutorial program (seeded with 42, as its twin); returns the trained
/// perceptron and the epoch it converged at.
pub fn run(out: &mut dyn Write) -> io::Result<(Perceptron, Option<usize>)> {
    kiln::manual_seed(42);
    // 示例:学习 AND 门
    let x = kiln::tensor(&[[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = Tensor::from_vec(vec![0i64, 0, 0, 1], &[4]); // AND 门的输出

    let mut perceptron = Perceptron::new(2);
    let converged = perceptron.train(&x, &y, 100, 0.1, out)?;

    writeln!(out, "\nAND 门测试:")?;
    for xi in x.unbind(0) {
        let p = perceptron.forward(&xi);
        writeln!(out, "  {:?} -> {p}", xi.to_vec::<f32>())?;
    }
    writeln!(out, "权重: {}", perceptron.weights)?;
    writeln!(out, "偏置: {}", perceptron.bias)?;
    Ok((perceptron, converged))
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    run(&mut io::stdout().lock()).map(|_| ())
}
