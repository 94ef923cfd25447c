//! The tutorial's regression: data from y = 2·x1 + 3·x2 + 5 + noise, a single
//! `Linear(2, 1)` trained with MSELoss and SGD (lr 0.1) for 100 epochs recovers the
//! weight ≈ [2, 3] and the bias ≈ 5.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/linear_regression.py` prints
//! (`tests/examples.rs` runs both and compares). Run: `cargo run --example linear_regression`.

use kiln::Tensor;
use kiln::nn::{Linear, MSELoss, Module};
use kiln::optim::{Optimizer, SGD};

#[derive(Module)]
struct LinearNet {
    fc: Linear, // 輸入2維,輸出1維
}

impl LinearNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x)
    }
}

fn main() {
    kiln::manual_seed(42);
    // 生成模擬數據(y = 2x1 + 3x2 + 5 + 噪聲)
    let x = Tensor::randn(&[100, 2]); // 100個樣本,2個特徵
    let true_w = kiln::tensor(&[2.0, 3.0]);
    let true_b = kiln::tensor(&5.0);
    let y_true = x.matmul(&true_w) + &true_b + 0.1 * Tensor::randn(&[100]); // 帶噪聲

    let model = LinearNet {
        fc: Linear::new(2, 1),
    };

    let criterion = MSELoss::new(); // 均方誤差
    let mut optimizer = SGD::new(model.parameters(), 0.1); // 學習率0.1

    for epoch in 0..100 {
        let y_pred = model.forward(&x);
        let loss = criterion.forward(&y_pred, &y_true.unsqueeze(1)); // 調整維度匹配

        optimizer.zero_grad(); // 清空梯度
        loss.backward(); // 計算梯度
        optimizer.step(); // 更新參數

        if epoch % 10 == 0 {
            println!("Epoch {epoch}, Loss: {:.4}", loss.item());
        }
    }

    println!("學習後的權重: {}", model.fc.weight);
    println!("學習後的偏置: {}", model.fc.bias());
}
