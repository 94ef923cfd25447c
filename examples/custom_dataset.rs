//! A user-defined dataset, the tutorial's `ToyDataset`: implementing [`Dataset`]
//! (`__getitem__` / `__len__`), batching it with a shuffling `DataLoader`, training the
//! tutorial's `NeuralNetwork(2, 2)` with SGD and `F.cross_entropy`, evaluating, then
//! saving and reloading the `state_dict()`.
//!
//! Initialisation and shuffle order follow PyTorch's for the same seed, so the losses
//! are PyTorch's. The PyTorch original (torch 2.x, CPU) printed:
//!
//! ```text
//! Epoch: 001/003 | Batch 000/002 | Train/Val Loss: 0.75   (loss=0.74873573)
//! Epoch: 001/003 | Batch 001/002 | Train/Val Loss: 0.65   (loss=0.64503062)
//! Epoch: 002/003 | Batch 000/002 | Train/Val Loss: 0.44   (loss=0.44225580)
//! Epoch: 002/003 | Batch 001/002 | Train/Val Loss: 0.13   (loss=0.12562281)
//! Epoch: 003/003 | Batch 000/002 | Train/Val Loss: 0.03   (loss=0.02690560)
//! Epoch: 003/003 | Batch 001/002 | Train/Val Loss: 0.00   (loss=0.00432724)
//! train accuracy 1.0, test accuracy 1.0
//! ```
//!
//! Run: `cargo run --release --example custom_dataset [PATH]` (the model is saved to
//! `model.safetensors` by default).

use kiln::Tensor;
use kiln::data::{DataLoader, Dataset};
use kiln::io::{load_state_dict_file, save_state_dict};
use kiln::nn::{Linear, Module, ReLU, Sequential, functional as F};
use kiln::optim::{Optimizer, SGD};
use std::error::Error;
use std::path::Path;

/// The tutorial's `ToyDataset(X, y)`: sample `i` is `(X[i], y[i])`.
struct ToyDataset {
    features: Tensor,
    labels: Tensor,
}

impl ToyDataset {
    fn new(x: Tensor, y: Tensor) -> Self {
        ToyDataset {
            features: x,
            labels: y,
        }
    }
}

impl Dataset for ToyDataset {
    type Item = (Tensor, Tensor);

    fn get(&self, index: usize) -> (Tensor, Tensor) {
        let one_x = self.features.select(0, index as isize);
        let one_y = self.labels.select(0, index as isize);
        (one_x, one_y)
    }

    fn len(&self) -> usize {
        self.labels.shape()[0]
    }
}

/// The tutorial's `NeuralNetwork(num_inputs, num_outputs)`.
#[derive(Module)]
struct NeuralNetwork {
    layers: Sequential,
}

impl NeuralNetwork {
    fn new(num_inputs: usize, num_outputs: usize) -> Self {
        NeuralNetwork {
            layers: kiln::seq![
                // 1st hidden layer
                Linear::new(num_inputs, 30),
                ReLU::new(),
                // 2nd hidden layer
                Linear::new(30, 20),
                ReLU::new(),
                // Output layer
                Linear::new(20, num_outputs),
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

/// Fraction of correctly classified samples over `loader`.
fn compute_accuracy(model: &NeuralNetwork, loader: &DataLoader<ToyDataset>) -> f64 {
    model.eval();
    let (mut correct, mut total) = (0.0, 0);
    for (features, labels) in loader {
        let logits = kiln::no_grad(|| model.forward(&features));
        let predictions = logits.argmax(Some(1), false);
        correct += predictions.eq(&labels).sum().item();
        total += labels.shape()[0];
    }
    correct / total as f64
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "model.safetensors".into());

    let x_train = kiln::tensor(&[
        [-1.2f32, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5],
    ]);
    let y_train = Tensor::from_vec(vec![0i64, 0, 0, 1, 1], &[5]);
    let x_test = kiln::tensor(&[[-0.8f32, 2.8], [2.6, -1.6]]);
    let y_test = Tensor::from_vec(vec![0i64, 1], &[2]);

    let train_ds = ToyDataset::new(x_train.shallow_clone(), y_train);
    let test_ds = ToyDataset::new(x_test.shallow_clone(), y_test);

    kiln::manual_seed(123);
    let train_loader = DataLoader::new(train_ds)
        .batch_size(2)
        .shuffle(true)
        .num_workers(0)
        .drop_last(true);
    let test_loader = DataLoader::new(test_ds)
        .batch_size(2)
        .shuffle(false)
        .num_workers(0);

    kiln::manual_seed(123);
    let model = NeuralNetwork::new(2, 2);
    let mut optimizer = SGD::new(model.parameters(), 0.5);

    let num_epochs = 3;
    for epoch in 0..num_epochs {
        model.train();
        for (batch_idx, (features, labels)) in train_loader.iter().enumerate() {
            let logits = model.forward(&features);
            let loss = F::cross_entropy(&logits, &labels); // Loss function

            optimizer.zero_grad();
            loss.backward();
            optimizer.step();

            // LOGGING
            println!(
                "Epoch: {:03}/{num_epochs:03} | Batch {batch_idx:03}/{:03} | Train/Val Loss: {:.2}   (loss={:.8})",
                epoch + 1,
                train_loader.len(),
                loss.item(),
                loss.item()
            );
        }
        model.eval();
        // Optional model evaluation
    }

    let train_acc = compute_accuracy(&model, &train_loader);
    let test_acc = compute_accuracy(&model, &test_loader);
    println!("train accuracy {train_acc:?}, test accuracy {test_acc:?}");

    // Saving and loading: `torch.save(model.state_dict(), ...)`, then a fresh model
    // `load_state_dict`-ed from the file.
    save_state_dict(Path::new(&path), &model.state_dict())?;
    let model2 = NeuralNetwork::new(2, 2);
    model2.load_state_dict(&load_state_dict_file(Path::new(&path))?)?;
    model2.eval();

    let (before, after) = kiln::no_grad(|| (model.forward(&x_test), model2.forward(&x_test)));
    let same = before.to_vec::<f32>() == after.to_vec::<f32>();
    println!("reloaded logits on X_test:\n{after}");
    println!("predictions: {}", after.argmax(Some(1), false));
    println!("same predictions after reload: {same}");
    Ok(())
}
