//! The tutorial's handwritten-digit classifier (实战:手写数字识别): MNIST through a
//! `DataLoader`, a `DigitClassifier` MLP with dropout, `CrossEntropyLoss`, Adam(1e-3),
//! `train_epoch` / `test` functions, then the `state_dict()` saved to
//! `mnist_classifier.safetensors` (PyTorch's key names, readable by safetensors' `load_file`).
//!
//! Needs the MNIST files in `data/mnist` (or `$KILN_DATA/mnist`, or torchvision's
//! `data/MNIST/raw`). Run: `cargo run --release --example mnist_mlp [EPOCHS]` (default 2;
//! the tutorial runs 10).

use kiln::Tensor;
use kiln::data::{DataLoader, Dataset, Mnist, TensorDataset};
use kiln::io::save_state_dict;
use kiln::nn::{CrossEntropyLoss, Dropout, Flatten, Linear, Module, ReLU, Sequential};
use kiln::optim::{Adam, Optimizer};
use std::error::Error;
use std::path::Path;

/// `transforms.Normalize((0.1307,), (0.3081,))`: MNIST's mean and std.
const NORMALIZE: (f64, f64) = (0.1307, 0.3081);

/// The tutorial's `DigitClassifier`: 784 → 256 → 128 → 10 with ReLU and Dropout(0.2).
#[derive(Module)]
struct DigitClassifier {
    flatten: Flatten,
    layers: Sequential,
}

impl DigitClassifier {
    fn new() -> Self {
        DigitClassifier {
            flatten: Flatten::new(),
            layers: kiln::seq![
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
        let x = self.flatten.forward(x);
        self.layers.forward(&x)
    }
}

/// Number of correct predictions in a batch: `(output.argmax(dim=1) == target).sum()`.
fn correct(output: &Tensor, target: &Tensor) -> usize {
    let pred = output.argmax(Some(1), false);
    pred.eq(target).sum().item() as usize
}

/// One pass over `loader`; returns (mean batch loss, accuracy).
fn train_epoch(
    model: &DigitClassifier,
    loader: &DataLoader<TensorDataset>,
    criterion: &CrossEntropyLoss,
    optimizer: &mut impl Optimizer,
) -> (f64, f64) {
    model.train();
    let (mut total_loss, mut correct_count, mut total) = (0.0, 0, 0);
    for (data, target) in loader {
        optimizer.zero_grad();
        let output = model.forward(&data);
        let loss = criterion.forward(&output, &target);
        loss.backward();
        optimizer.step();

        total_loss += loss.item();
        correct_count += correct(&output, &target);
        total += target.size()[0];
    }
    (
        total_loss / loader.len() as f64,
        correct_count as f64 / total as f64,
    )
}

/// Accuracy on `loader` in eval mode without gradients.
fn test(model: &DigitClassifier, loader: &DataLoader<TensorDataset>) -> f64 {
    model.eval();
    let (mut correct_count, mut total) = (0, 0);
    kiln::no_grad(|| {
        for (data, target) in loader {
            let output = model.forward(&data);
            correct_count += correct(&output, &target);
            total += target.size()[0];
        }
    });
    correct_count as f64 / total as f64
}

fn main() -> Result<(), Box<dyn Error>> {
    let epochs: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 2,
    };

    // 1. Data. `into_tensor_dataset` converts every image once, giving the same samples
    // as `Mnist::new(..).with_transform(Compose::new().then(ToTensor).then(Normalize::new(
    // &[0.1307], &[0.3081])))`, without the per-image transform in every batch.
    let train_dataset = Mnist::new(None, true, false)?.into_tensor_dataset(Some(NORMALIZE));
    let test_dataset = Mnist::new(None, false, false)?.into_tensor_dataset(Some(NORMALIZE));
    println!(
        "训练集: {} 张, 测试集: {} 张",
        train_dataset.len(),
        test_dataset.len()
    );
    let train_loader = DataLoader::new(train_dataset).batch_size(64).shuffle(true);
    let test_loader = DataLoader::new(test_dataset).batch_size(1000);

    // 2. The network.
    let model = DigitClassifier::new();

    // 3. Loss and optimizer.
    let criterion = CrossEntropyLoss::new();
    let mut optimizer = Adam::new(model.parameters(), 0.001);

    // 5. Training.
    println!("开始训练 MNIST 分类器...");
    for epoch in 0..epochs {
        let (train_loss, train_acc) =
            train_epoch(&model, &train_loader, &criterion, &mut optimizer);
        let test_acc = test(&model, &test_loader);
        println!(
            "Epoch {}: Loss={train_loss:.4}, Train Acc={:.2}%, Test Acc={:.2}%",
            epoch + 1,
            train_acc * 100.0,
            test_acc * 100.0
        );
    }

    // 6. Saving.
    save_state_dict(
        Path::new("mnist_classifier.safetensors"),
        &model.state_dict(),
    )?;
    println!("\n模型已保存!");
    Ok(())
}
