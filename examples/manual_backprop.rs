//! Port of the tutorial's `ManualMLP`: gradients derived by hand (chain rule, ReLU
//! derivative) next to kiln's autograd on the same weights and data, with the largest
//! difference printed; then the manual SGD update the tutorial performs.
//!
//! Run: `cargo run --example manual_backprop`

use kiln::{Tensor, no_grad};

/// The tutorial's two-layer MLP with hand-written backward.
struct ManualMlp {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
    z1: Option<Tensor>,
    a1: Option<Tensor>,
}

/// The hand-derived gradients of `0.5 * mean((y_pred - y)^2)`.
struct Grads {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl ManualMlp {
    fn new(input_size: usize, hidden_size: usize, output_size: usize) -> Self {
        ManualMlp {
            w1: Tensor::randn(&[input_size, hidden_size]) * 0.1,
            b1: Tensor::zeros(&[hidden_size]),
            w2: Tensor::randn(&[hidden_size, output_size]) * 0.1,
            b2: Tensor::zeros(&[output_size]),
            z1: None,
            a1: None,
        }
    }

    /// 前向传播
    fn forward(&mut self, x: &Tensor) -> Tensor {
        let z1 = x.matmul(&self.w1) + &self.b1;
        let a1 = z1.relu();
        let z2 = a1.matmul(&self.w2) + &self.b2;
        self.z1 = Some(z1);
        self.a1 = Some(a1);
        z2 // 线性输出
    }

    /// 反向传播: the tutorial's formulas, line by line.
    fn gradients(&self, x: &Tensor, y: &Tensor, y_pred: &Tensor) -> Grads {
        let (z1, a1) = (self.z1.as_ref().unwrap(), self.a1.as_ref().unwrap());
        let batch_size = x.shape()[0] as f64;
        let dl_dz2 = (y_pred - y) / batch_size;
        let dl_dw2 = a1.t().matmul(&dl_dz2);
        let dl_db2 = dl_dz2.sum_dims(&[0], false);
        let dl_da1 = dl_dz2.matmul(&self.w2.t());
        let dl_dz1 = &dl_da1 * &z1.gt_scalar(0.0).float(); // ReLU 导数
        let dl_dw1 = x.t().matmul(&dl_dz1);
        let dl_db1 = dl_dz1.sum_dims(&[0], false);
        Grads {
            w1: dl_dw1,
            b1: dl_db1,
            w2: dl_dw2,
            b2: dl_db2,
        }
    }

    /// 更新权重
    fn update(&mut self, g: &Grads, lr: f64) {
        self.w2 -= lr * &g.w2;
        self.b2 -= lr * &g.b2;
        self.w1 -= lr * &g.w1;
        self.b1 -= lr * &g.b1;
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().item()
}

fn main() {
    kiln::manual_seed(0);
    let mut model = ManualMlp::new(2, 4, 1);
    let x = Tensor::randn(&[10, 2]);
    let y = Tensor::randn(&[10, 1]);

    let y_pred = model.forward(&x);
    let manual = model.gradients(&x, &y, &y_pred);

    // The same network through autograd: leaves that share the manual model's values.
    let leaves: Vec<Tensor> = [&model.w1, &model.b1, &model.w2, &model.b2]
        .iter()
        .map(|t| t.detach().clone().requires_grad_(true))
        .collect();
    let (w1, b1, w2, b2) = (&leaves[0], &leaves[1], &leaves[2], &leaves[3]);
    let pred = (x.matmul(w1) + b1).relu().matmul(w2) + b2;
    // The manual dL/dz2 = (y_pred - y) / N is the derivative of 0.5 * mean((y_pred - y)^2).
    let loss = (&pred - &y).pow_scalar(2.0).mean() * 0.5;
    loss.backward();

    println!("loss = {:.6}", loss.item());
    let pairs = [
        ("W1", &manual.w1, w1),
        ("b1", &manual.b1, b1),
        ("W2", &manual.w2, w2),
        ("b2", &manual.b2, b2),
    ];
    let mut worst: f64 = 0.0;
    for (name, hand, leaf) in pairs {
        let auto = leaf.grad().unwrap();
        let d = max_abs_diff(hand, &auto);
        worst = worst.max(d);
        println!(
            "{name}: grad shape {:?}, max |manual - autograd| = {d:.3e}",
            auto.shape()
        );
    }
    println!("largest difference between hand-derived and autograd gradients: {worst:.3e}");

    no_grad(|| model.update(&manual, 0.01));
    let after = model.forward(&x);
    let new_loss = (&after - &y).pow_scalar(2.0).mean() * 0.5;
    println!("loss after one manual SGD step: {:.6}", new_loss.item());
}
