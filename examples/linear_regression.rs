//! The tutorial's regression: data from y = 2·x1 + 3·x2 + 5 + noise, a single
//! `Linear(2, 1)` trained with MSELoss and SGD (lr 0.1) for 100 epochs recovers the
//! weight ≈ [2, 3] and the bias ≈ 5.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/linear_regression.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example linear_regression`.

use kiln::Tensor;
use kiln::nn::{Linear, MSELoss, Module};
use kiln::optim::{Optimizer, SGD};
use std::io::{self, Write};

/// `LinearNet`: one fully connected layer, no activation.
#[derive(Module)]
pub struct LinearNet {
    /// 輸入2維,輸出1維.
    pub fc: Linear,
}

impl LinearNet {
    /// A fresh `Linear(2, 1)`.
    pub fn new() -> Self {
        LinearNet {
            fc: Linear::new(2, 1),
        }
    }

    /// `fc(x)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x)
    }
}

impl Default for LinearNet {
    fn default() -> Self {
        LinearNet::new()
    }
}

/// The whole tutorial program (seeded with 42, as its twin); returns the learned
/// weight and bias.
pub fn run(out: &mut dyn Write) -> io::Result<(Vec<f32>, f32)> {
    kiln::manual_seed(42);
    // 生成模擬數據(y = 2x1 + 3x2 + 5 + 噪聲)
    let x = Tensor::randn(&[100, 2]); // 100個樣本,2個特徵
    let true_w = kiln::tensor(&[2.0f32, 3.0]);
    let true_b = Tensor::scalar(5.0f32);
    let y_true = x.matmul(&true_w) + &true_b + 0.1 * Tensor::randn(&[100]); // 帶噪聲

    let model = LinearNet::new();

    let criterion = MSELoss::new(); // 均方誤差
    let mut optimizer = SGD::new(model.parameters(), 0.1); // 學習率0.1

    for epoch in 0..100 {
        let y_pred = model.forward(&x);
        let loss = criterion.forward(&y_pred, &y_true.unsqueeze(1)); // 調整維度匹配

        optimizer.zero_grad(); // 清空梯度
        loss.backward(); // 計算梯度
        optimizer.step(); // 更新參數

        if epoch % 10 == 0 {
            writeln!(out, "Epoch {epoch}, Loss: {:.4}", loss.item())?;
        }
    }

    writeln!(out, "學習後的權重: {}", model.fc.weight)?;
    writeln!(out, "學習後的偏置: {}", model.fc.bias())?;
    Ok((
        model.fc.weight.to_vec::<f32>(),
        model.fc.bias().item() as f32,
    ))
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    run(&mut io::stdout().lock()).map(|_| ())
}
