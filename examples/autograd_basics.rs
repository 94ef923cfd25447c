//! Port of the tutorial's autograd example: `y_pred = w * x + b`, squared error,
//! `loss.backward()`, the gradients, then one manual SGD step under `no_grad` and
//! zeroing the gradients.
//!
//! (The tutorial's text claims `tensor([4.])` and `tensor([2.])`; real PyTorch prints
//! `tensor([-8.])` and `tensor([-4.])`, and so does kiln.)
//!
//! Run: `cargo run --example autograd_basics`

use kiln::tensor;

fn main() {
    // 定义模型参数
    let mut w = tensor(&[1.0]).requires_grad_(true);
    let mut b = tensor(&[0.0]).requires_grad_(true);

    // 定义输入和标签
    let x = tensor(&[2.0]);
    let y_true = tensor(&[4.0]);

    // 前向传播
    let y_pred = &w * &x + &b;
    let loss = (&y_pred - &y_true).pow_scalar(2.0);

    // 反向传播
    loss.backward();

    // 输出梯度
    println!("Gradient of w: {}", w.grad().unwrap());
    println!("Gradient of b: {}", b.grad().unwrap());

    // 学习率 / 更新参数
    let learning_rate = 0.01;
    kiln::no_grad(|| {
        w -= learning_rate * &w.grad().unwrap();
        b -= learning_rate * &b.grad().unwrap();
    });

    // 清除梯度
    w.grad().unwrap().zero_();
    b.grad().unwrap().zero_();

    println!("w after one step: {w}");
    println!("b after one step: {b}");
    println!(
        "grads after zero_(): {} {}",
        w.grad().unwrap(),
        b.grad().unwrap()
    );
}
