//! The tutorial's perceptron: a weighted sum and a step function, trained with the
//! perceptron rule until it reproduces the AND gate.
//!
//! Prints what its PyTorch twin `scripts/torch_examples/perceptron_and.py` prints
//! (`tests/examples.rs` compares the two). Run: `cargo run --example perceptron_and`.

use kiln::Tensor;

struct Perceptron {
    weights: Tensor,
    bias: Tensor,
}

impl Perceptron {
    fn new(input_size: usize) -> Self {
        // 随机初始化权重和偏置
        Perceptron {
            weights: Tensor::randn(&[input_size]),
            bias: Tensor::randn(&[1]),
        }
    }

    fn forward(&self, x: &Tensor) -> i64 {
        let z = x.dot(&self.weights) + &self.bias; // 加权求和
        if z.item() > 0.0 { 1 } else { 0 } // 阶跃激活函数
    }

    fn train(&mut self, x: &Tensor, y: &Tensor, epochs: usize, lr: f64) {
        for epoch in 0..epochs {
            let mut errors = 0;
            for (xi, yi) in x.iter().zip(y) {
                let prediction = self.forward(&xi);
                let error = yi.item() as i64 - prediction;
                if error != 0 {
                    // 更新权重
                    self.weights += lr * error as f64 * &xi;
                    self.bias += lr * error as f64;
                    errors += 1;
                }
            }
            if errors == 0 {
                println!("Epoch {epoch}: 收敛!");
                break;
            }
        }
    }
}

fn main() {
    kiln::manual_seed(42);
    // 示例:学习 AND 门
    let x = kiln::tensor(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = kiln::tensor(&[0i64, 0, 0, 1]); // AND 门的输出

    let mut perceptron = Perceptron::new(2);
    perceptron.train(&x, &y, 100, 0.1);

    println!("\nAND 门测试:");
    for xi in &x {
        println!("  {:?} -> {}", xi.to_vec::<f32>(), perceptron.forward(&xi));
    }
    println!("权重: {}", perceptron.weights);
    println!("偏置: {}", perceptron.bias);
}
