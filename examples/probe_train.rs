use kiln::Tensor;
use kiln::nn::{Dropout, Linear, Module, ReLU};
use kiln::optim::{Adam, Optimizer};
use std::time::Instant;

fn main() {
    kiln::manual_seed(0);
    let model = kiln::seq![
        Linear::new(784, 256),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(256, 128),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(128, 10)
    ];
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let n = 60000;
    let x = Tensor::rand(&[n, 784]);
    let y = Tensor::randint(0, 10, &[n]);
    let batch = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(64usize);
    for epoch in 0..3 {
        let t = Instant::now();
        let mut i = 0;
        let mut last = 0.0;
        while i < n {
            let len = batch.min(n - i);
            let xb = x.narrow(0, i as isize, len);
            let yb = y.narrow(0, i as isize, len);
            opt.zero_grad();
            let loss = kiln::nn::functional::cross_entropy(&model.forward(&xb), &yb);
            loss.backward();
            opt.step();
            last = loss.item();
            i += len;
        }
        println!(
            "epoch {epoch}: {:.3}s loss {last:.4}",
            t.elapsed().as_secs_f64()
        );
    }
}
