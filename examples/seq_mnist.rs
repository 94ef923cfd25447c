//! Sequential MNIST: each image read row by row as 28 steps of 28 pixels by an
//! `LSTM(28, 128, batch_first=True)`, its last hidden state into `Linear(128, 10)`,
//! `CrossEntropyLoss`, Adam(1e-3), batch 64. Prints per-epoch loss, test accuracy and
//! training time. The PyTorch twin is `scripts/torch_examples/seq_mnist.py`.
//!
//! Needs the MNIST files in `data/mnist`. Run:
//! `cargo run --release --example seq_mnist [EPOCHS] [BATCHES]` (default 1 epoch; BATCHES
//! stops each epoch early, for timing).

use kiln::Tensor;
use kiln::data::{DataLoader, Mnist};
use kiln::nn::{CrossEntropyLoss, LSTM, Linear, Module, RnnOptions};
use kiln::optim::{Adam, Optimizer};
use std::error::Error;
use std::time::Instant;

/// LSTM over the rows, then a linear classifier of the last hidden state.
#[derive(Module)]
struct SeqClassifier {
    lstm: LSTM,
    fc: Linear,
}

impl SeqClassifier {
    fn new() -> Self {
        SeqClassifier {
            lstm: LSTM::with_options(28, 128, RnnOptions::new().batch_first(true)),
            fc: Linear::new(128, 10),
        }
    }

    /// `x` is `[B, 28, 28]`: batch, time step (image row), pixel.
    fn forward(&self, x: &Tensor) -> Tensor {
        let (_, (h_n, _)) = self.lstm.forward_with(x, None);
        self.fc.forward(&h_n.select(0, -1))
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let max_batches: usize = args.next().map_or(Ok(0), |a| a.parse())?;
    kiln::manual_seed(0);
    let norm = Some((0.1307, 0.3081));
    let train = Mnist::new(None, true, false)?.into_tensor_dataset(norm);
    let test = Mnist::new(None, false, false)?.into_tensor_dataset(norm);
    let train_loader = DataLoader::new(train).batch_size(64).shuffle(true);
    let test_loader = DataLoader::new(test).batch_size(1000);
    let model = SeqClassifier::new();
    let criterion = CrossEntropyLoss::new();
    let mut opt = Adam::new(model.parameters(), 1e-3);
    for epoch in 1..=epochs {
        model.train();
        let start = Instant::now();
        let (mut total, mut n) = (0.0, 0usize);
        for (x, y) in &train_loader {
            let x = x.reshape(&[x.shape()[0], 28, 28]);
            opt.zero_grad();
            let loss = criterion.forward(&model.forward(&x), &y);
            loss.backward();
            opt.step();
            total += loss.item();
            n += 1;
            if max_batches > 0 && n >= max_batches {
                break;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        model.eval();
        let (mut correct, mut seen) = (0usize, 0usize);
        kiln::no_grad(|| {
            for (x, y) in &test_loader {
                let x = x.reshape(&[x.shape()[0], 28, 28]);
                let pred = model.forward(&x).argmax(Some(1), false);
                correct += pred.eq(&y).sum().item() as usize;
                seen += y.shape()[0];
            }
        });
        println!(
            "epoch {epoch}: loss {:.4}, test accuracy {:.2}%, train {secs:.2} s ({:.2} ms/batch, {n} batches, {} threads)",
            total / n as f64,
            100.0 * correct as f64 / seen as f64,
            1000.0 * secs / n as f64,
            kiln::get_num_threads()
        );
    }
    Ok(())
}
