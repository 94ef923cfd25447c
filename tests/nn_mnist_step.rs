//! The tutorial's MNIST classifier: one training step end to end, and (ignored by
//! default; run with `--release --ignored`) a timing of 200 steps on random data.

use kiln::nn::{CrossEntropyLoss, Dropout, Flatten, Linear, Module, ReLU, Sequential};
use kiln::optim::{Adam, Optimizer};
use kiln::{Tensor, seq};

#[derive(Module)]
struct DigitClassifier {
    flatten: Flatten,
    layers: Sequential,
}

impl DigitClassifier {
    fn new() -> Self {
        DigitClassifier {
            flatten: Flatten::new(),
            layers: seq![
                Linear::new(28 * 28, 256),
                ReLU::new(),
                Dropout::new(0.2),
                Linear::new(256, 128),
                ReLU::new(),
                Dropout::new(0.2),
                Linear::new(128, 10),
            ],
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(&self.flatten.forward(x))
    }
}

fn batch() -> (Tensor, Tensor) {
    (
        Tensor::randn(&[64, 1, 28, 28]),
        Tensor::randint(0, 10, &[64]),
    )
}

#[test]
fn training_steps_reduce_the_loss_on_a_fixed_batch() {
    kiln::manual_seed(0);
    let model = DigitClassifier::new();
    let criterion = CrossEntropyLoss::new();
    let mut optimizer = Adam::new(model.parameters(), 1e-3);
    let (x, y) = batch();
    model.train();
    let mut losses = Vec::new();
    for _ in 0..20 {
        optimizer.zero_grad();
        let loss = criterion.forward(&model.forward(&x), &y);
        loss.backward();
        optimizer.step();
        losses.push(loss.item());
    }
    assert!(losses[19] < losses[0] * 0.5, "{losses:?}");
}

#[test]
#[ignore]
fn time_200_steps() {
    kiln::manual_seed(0);
    let model = DigitClassifier::new();
    let criterion = CrossEntropyLoss::new();
    let mut optimizer = Adam::new(model.parameters(), 1e-3);
    let batches: Vec<_> = (0..10).map(|_| batch()).collect();
    let t = std::time::Instant::now();
    for i in 0..200 {
        let (x, y) = &batches[i % 10];
        optimizer.zero_grad();
        let loss = criterion.forward(&model.forward(x), y);
        loss.backward();
        optimizer.step();
    }
    let per = t.elapsed().as_secs_f64() / 200.0;
    println!(
        "{:.3} ms/step, {:.2} s per 938-step epoch",
        per * 1e3,
        per * 938.0
    );
}
