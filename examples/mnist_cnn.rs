//! PyTorch's MNIST example (`pytorch/examples`, `mnist/main.py`), line by line: the
//! `Net` CNN (two 3×3 convolutions, max pooling, dropout, two linear layers,
//! `log_softmax`), `nll_loss`, Adadelta(lr=1.0) and `StepLR(step_size=1, gamma=0.7)`,
//! with the same flags and the same output lines. Its twin is
//! `scripts/torch_examples/mnist_cnn.py` (the same program reading the same local files).
//!
//! ```text
//! cargo run --release --example mnist_cnn -- --epochs 1
//! Train Epoch: 1 [0/60000 (0%)]    Loss: 2.329474    (a tab before "Loss", as main.py)
//! ...
//!
//! Test set: Average loss: 0.0468, Accuracy: 9841/10000 (98%)
//! ```
//!
//! Flags (main.py's, parsed by clap's derive as argparse parses them; `--help` lists
//! them): `--batch-size 64`, `--test-batch-size 1000`, `--epochs 14`, `--lr 1.0`,
//! `--gamma 0.7`, `--seed 1`, `--log-interval 10`, `--dry-run`, `--save-model` (writes
//! `mnist_cnn.pt`, a PyTorch state dict `torch.load` reads). main.py's `--no-accel`
//! (also spelled `--no-cuda` / `--no-mps`) is accepted and changes nothing (kiln runs on
//! the CPU). Additions, the same in the twin: `--dataset fashion-mnist`, `--data-dir
//! DIR`, `--limit N` / `--test-limit N` (the first N samples of each split), and each
//! epoch's training time on stderr.
//!
//! On the CPU main.py's loaders do not shuffle (`shuffle=True` is among its
//! accelerator-only options), so neither does this port: with the same seed both
//! programs start from the same weights and draw the same dropout masks.
//!
//! Needs the MNIST files in `data/mnist` (or `$KILN_DATA/mnist`, or torchvision's
//! `data/MNIST/raw`); Fashion-MNIST is found in `data/fashion-mnist` or where Debian's
//! `dataset-fashion-mnist` puts it.

use clap::Parser;
use kiln::Tensor;
use kiln::data::{DataLoader, Dataset, FashionMnist, Mnist, TensorDataset};
use kiln::nn::functional::{self as F, CrossEntropyOptions, MaxPoolOptions, Reduction};
use kiln::nn::{Conv2d, Dropout, Linear, Module};
use kiln::optim::{Adadelta, LrScheduler, Optimizer, StepLR};
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

/// `transforms.Normalize((0.1307,), (0.3081,))`.
const NORMALIZE: (f64, f64) = (0.1307, 0.3081);

/// The example's `Net`.
#[derive(Module)]
struct Net {
    conv1: Conv2d,
    conv2: Conv2d,
    dropout1: Dropout,
    dropout2: Dropout,
    fc1: Linear,
    fc2: Linear,
}

impl Net {
    /// `Net()`: the layers created in main.py's order, so the weights are PyTorch's for
    /// the same seed.
    fn new() -> Self {
        Net {
            conv1: Conv2d::new(1, 32, 3), // nn.Conv2d(1, 32, 3, 1)
            conv2: Conv2d::new(32, 64, 3),
            dropout1: Dropout::new(0.25),
            dropout2: Dropout::new(0.5),
            fc1: Linear::new(9216, 128),
            fc2: Linear::new(128, 10),
        }
    }

    /// Log-probabilities `[N, 10]` for images `[N, 1, 28, 28]`.
    ///
    /// `x` is reassigned, not shadowed, so each step's input is freed as in Python
    /// (a shadowed `let x` would keep every activation of a no-grad test batch alive).
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = self.conv1.forward(x);
        x = F::relu(&x);
        x = self.conv2.forward(&x);
        x = F::relu(&x);
        x = F::max_pool2d(&x, MaxPoolOptions::new(2));
        x = self.dropout1.forward(&x);
        x = x.flatten(1, -1);
        x = self.fc1.forward(&x);
        x = F::relu(&x);
        x = self.dropout2.forward(&x);
        x = self.fc2.forward(&x);
        F::log_softmax(&x, 1)
    }
}

/// main.py's `train`: one epoch, logging every `log_interval` batches.
fn train(
    args: &Args,
    model: &Net,
    train_loader: &DataLoader<TensorDataset>,
    optimizer: &mut dyn Optimizer,
    epoch: usize,
) {
    model.train();
    for (batch_idx, (data, target)) in train_loader.iter().enumerate() {
        optimizer.zero_grad();
        let output = model.forward(&data);
        let loss = F::nll_loss(&output, &target);
        loss.backward();
        optimizer.step();
        if batch_idx % args.log_interval == 0 {
            println!(
                "Train Epoch: {} [{}/{} ({:.0}%)]\tLoss: {:.6}",
                epoch,
                batch_idx * data.size_of(0),
                train_loader.dataset().len(),
                100. * batch_idx as f64 / train_loader.len() as f64,
                loss.item()
            );
            if args.dry_run {
                break;
            }
        }
    }
}

/// main.py's `test`: summed loss and correct predictions in eval mode, no gradients.
fn test(model: &Net, test_loader: &DataLoader<TensorDataset>) {
    model.eval();
    let mut test_loss = 0.0;
    let mut correct = 0.0;
    let sum = CrossEntropyOptions::new().reduction(Reduction::Sum);
    kiln::no_grad(|| {
        for (data, target) in test_loader {
            let output = model.forward(&data);
            test_loss += F::nll_loss_with(&output, &target, &sum).item(); // sum up batch loss
            let pred = output.argmax(1, true); // get the index of the max log-probability
            correct += pred.eq(&target.view_as(&pred)).sum().item();
        }
    });

    test_loss /= test_loader.dataset().len() as f64;

    println!(
        "\nTest set: Average loss: {:.4}, Accuracy: {}/{} ({:.0}%)\n",
        test_loss,
        correct,
        test_loader.dataset().len(),
        100. * correct / test_loader.dataset().len() as f64
    );
}

/// One split as `ToTensor()` + `Normalize` gives it: `(f32 [N, 1, 28, 28], i64 [N])`
/// (an addition, as the twin's `dataset`: the same samples, converted once).
fn dataset(args: &Args, train: bool) -> Result<TensorDataset, Box<dyn Error>> {
    let root = args.data_dir.as_deref();
    let limit = if train { args.limit } else { args.test_limit }.unwrap_or(usize::MAX);
    Ok(match args.dataset.as_str() {
        "fashion-mnist" => FashionMnist::new_prefix(root, train, false, limit)?
            .0
            .into_tensor_dataset(Some(NORMALIZE)),
        _ => Mnist::new_prefix(root, train, false, limit)?
            .0
            .into_tensor_dataset(Some(NORMALIZE)),
    })
}

/// PyTorch MNIST Example
#[derive(Parser)]
struct Args {
    /// input batch size for training
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch_size: usize,
    /// input batch size for testing
    #[arg(long, default_value_t = 1000, value_name = "N")]
    test_batch_size: usize,
    /// number of epochs to train
    #[arg(long, default_value_t = 14, value_name = "N")]
    epochs: usize,
    /// learning rate
    #[arg(long, default_value_t = 1.0, value_name = "LR")]
    lr: f64,
    /// Learning rate step gamma
    #[arg(long, default_value_t = 0.7, value_name = "M")]
    gamma: f64,
    /// disables accelerator (kiln runs on the CPU: accepted, changes nothing)
    #[arg(long, visible_aliases = ["no-cuda", "no-mps"])]
    #[allow(dead_code)] // read by nothing: there is no accelerator to disable
    no_accel: bool,
    /// quickly check a single pass
    #[arg(long)]
    dry_run: bool,
    /// random seed
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed: u64,
    /// how many batches to wait before logging training status
    #[arg(long, default_value_t = 10, value_name = "N")]
    log_interval: usize,
    /// For Saving the current Model
    #[arg(long)]
    save_model: bool,
    // additions
    #[arg(long, default_value = "mnist", value_parser = ["mnist", "fashion-mnist"])]
    dataset: String,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    test_limit: Option<usize>,
}

fn main() -> Result<(), Box<dyn Error>> {
    // Training settings
    let args = Args::parse();
    kiln::manual_seed(args.seed);

    let dataset1 = dataset(&args, true)?;
    let dataset2 = dataset(&args, false)?;
    let train_loader = DataLoader::new(dataset1).batch_size(args.batch_size);
    let test_loader = DataLoader::new(dataset2).batch_size(args.test_batch_size);

    let model = Net::new();
    let mut optimizer = Adadelta::new(model.parameters(), args.lr);

    let mut scheduler = StepLR::new(&mut optimizer, 1, args.gamma);
    for epoch in 1..=args.epochs {
        let start = Instant::now(); // addition
        train(&args, &model, &train_loader, &mut optimizer, epoch);
        eprintln!(
            "epoch {epoch}: trained in {:.2} s",
            start.elapsed().as_secs_f64()
        ); // addition
        test(&model, &test_loader);
        scheduler.step(&mut optimizer);
    }

    if args.save_model {
        kiln::save(&model.state_dict(), "mnist_cnn.pt")?;
    }
    Ok(())
}
