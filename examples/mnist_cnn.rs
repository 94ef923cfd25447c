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
//! Flags (main.py's): `--batch-size 64`, `--test-batch-size 1000`, `--epochs 14`,
//! `--lr 1.0`, `--gamma 0.7`, `--seed 1`, `--log-interval 10`, `--dry-run`,
//! `--save-model` (writes `mnist_cnn.pt`, a PyTorch state dict `torch.load` reads).
//! main.py's `--no-accel` / `--no-cuda` / `--no-mps` are accepted and change nothing
//! (kiln runs on the CPU). Additions, the same in the twin: `--dataset fashion-mnist`,
//! `--data-dir DIR`, `--limit N` / `--test-limit N` (the first N samples of each split),
//! and each epoch's training time on stderr.
//!
//! On the CPU main.py's loaders do not shuffle (`shuffle=True` is among its
//! accelerator-only options), so neither does this port: with the same seed both
//! programs start from the same weights and draw the same dropout masks.
//!
//! Needs the MNIST files in `data/mnist` (or `$KILN_DATA/mnist`, or torchvision's
//! `data/MNIST/raw`); Fashion-MNIST is found in `data/fashion-mnist` or where Debian's
//! `dataset-fashion-mnist` puts it.

use kiln::Tensor;
use kiln::data::{DataLoader, Dataset, FashionMnist, Mnist, TensorDataset};
use kiln::nn::functional::{self as F, CrossEntropyOptions, MaxPoolOptions, Reduction};
use kiln::nn::{Conv2d, Dropout, Linear, Module};
use kiln::optim::{Adadelta, LrScheduler, Optimizer, StepLR};
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `transforms.Normalize((0.1307,), (0.3081,))`.
const NORMALIZE: (f64, f64) = (0.1307, 0.3081);

/// The example's `Net`.
#[derive(Module)]
pub struct Net {
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
    pub fn new() -> Self {
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
    pub fn forward(&self, x: &Tensor) -> Tensor {
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

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

/// The command line (main.py's `argparse` flags and defaults, plus the data options).
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// `--batch-size` (64).
    pub batch_size: usize,
    /// `--test-batch-size` (1000).
    pub test_batch_size: usize,
    /// `--epochs` (14).
    pub epochs: usize,
    /// `--lr` (1.0).
    pub lr: f64,
    /// `--gamma` (0.7).
    pub gamma: f64,
    /// `--dry-run`: one logged batch per epoch.
    pub dry_run: bool,
    /// `--seed` (1).
    pub seed: u64,
    /// `--log-interval` (10).
    pub log_interval: usize,
    /// `--save-model`.
    pub save_model: bool,
    /// `--dataset` (`mnist` or `fashion-mnist`).
    pub dataset: String,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--limit`: train on the first N samples.
    pub limit: Option<usize>,
    /// `--test-limit`: test on the first N samples.
    pub test_limit: Option<usize>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            batch_size: 64,
            test_batch_size: 1000,
            epochs: 14,
            lr: 1.0,
            gamma: 0.7,
            dry_run: false,
            seed: 1,
            log_interval: 10,
            save_model: false,
            dataset: "mnist".into(),
            data_dir: None,
            limit: None,
            test_limit: None,
        }
    }
}

impl Args {
    /// Parses flags as argparse would (`--flag value` or `--flag=value`).
    pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Args, String> {
        fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
            let v = v.ok_or_else(|| format!("argument {flag}: expected one argument"))?;
            v.parse()
                .map_err(|_| format!("argument {flag}: invalid value: '{v}'"))
        }
        let mut a = Args::default();
        let mut it = argv.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| it.next());
            match flag.as_str() {
                "--batch-size" => a.batch_size = num(&flag, value())?,
                "--test-batch-size" => a.test_batch_size = num(&flag, value())?,
                "--epochs" => a.epochs = num(&flag, value())?,
                "--lr" => a.lr = num(&flag, value())?,
                "--gamma" => a.gamma = num(&flag, value())?,
                "--seed" => a.seed = num(&flag, value())?,
                "--log-interval" => a.log_interval = num(&flag, value())?,
                "--limit" => a.limit = Some(num(&flag, value())?),
                "--test-limit" => a.test_limit = Some(num(&flag, value())?),
                "--dataset" => a.dataset = num(&flag, value())?,
                "--data-dir" => a.data_dir = Some(num(&flag, value())?),
                "--dry-run" => a.dry_run = true,
                "--save-model" => a.save_model = true,
                "--no-accel" | "--no-cuda" | "--no-mps" => {}
                _ => return Err(format!("unrecognized arguments: {arg}")),
            }
        }
        if a.batch_size == 0 || a.test_batch_size == 0 || a.log_interval == 0 {
            return Err(
                "--batch-size, --test-batch-size and --log-interval must be positive".into(),
            );
        }
        if !["mnist", "fashion-mnist"].contains(&a.dataset.as_str()) {
            return Err(format!(
                "argument --dataset: invalid choice: '{}' (choose from 'mnist', 'fashion-mnist')",
                a.dataset
            ));
        }
        Ok(a)
    }
}

/// One split as `ToTensor()` + `Normalize` gives it: `(f32 [N, 1, 28, 28], i64 [N])`.
pub fn load(args: &Args, train: bool) -> Result<TensorDataset, Box<dyn Error>> {
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

/// main.py's `train`: one epoch, logging every `log_interval` batches.
pub fn train(
    args: &Args,
    model: &Net,
    train_loader: &DataLoader<TensorDataset>,
    optimizer: &mut dyn Optimizer,
    epoch: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    model.train();
    let dataset_len = train_loader.dataset().len();
    for (batch_idx, (data, target)) in train_loader.iter().enumerate() {
        optimizer.zero_grad();
        let output = model.forward(&data);
        let loss = F::nll_loss(&output, &target);
        loss.backward();
        optimizer.step();
        if batch_idx % args.log_interval == 0 {
            writeln!(
                out,
                "Train Epoch: {} [{}/{} ({:.0}%)]\tLoss: {:.6}",
                epoch,
                batch_idx * data.size()[0],
                dataset_len,
                100. * batch_idx as f64 / train_loader.len() as f64,
                loss.item()
            )?;
            if args.dry_run {
                break;
            }
        }
    }
    Ok(())
}

/// What one test pass measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// Mean negative log-likelihood per sample.
    pub loss: f64,
    /// Correct predictions.
    pub correct: usize,
    /// Samples.
    pub total: usize,
}

/// main.py's `test`: summed loss and correct predictions in eval mode, no gradients.
pub fn test(
    model: &Net,
    test_loader: &DataLoader<TensorDataset>,
    out: &mut dyn Write,
) -> std::io::Result<TestResult> {
    model.eval();
    let mut test_loss = 0.0;
    let mut correct = 0;
    kiln::no_grad(|| {
        let sum = CrossEntropyOptions {
            reduction: Reduction::Sum,
            ..Default::default()
        };
        for (data, target) in test_loader {
            let output = model.forward(&data);
            test_loss += F::nll_loss_with(&output, &target, &sum).item(); // sum up batch loss
            let pred = output.argmax(Some(1), true); // the index of the max log-probability
            correct += pred.eq(&target.view_as(&pred)).sum().item() as usize;
        }
    });
    let total = test_loader.dataset().len();
    test_loss /= total as f64;
    writeln!(
        out,
        "\nTest set: Average loss: {:.4}, Accuracy: {}/{} ({:.0}%)\n",
        test_loss,
        correct,
        total,
        100. * correct as f64 / total as f64
    )?;
    Ok(TestResult {
        loss: test_loss,
        correct,
        total,
    })
}

/// main.py's `main` after argument parsing: every epoch's test result.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Vec<TestResult>, Box<dyn Error>> {
    kiln::manual_seed(args.seed);

    let dataset1 = load(args, true)?;
    let dataset2 = load(args, false)?;
    let train_loader = DataLoader::new(dataset1).batch_size(args.batch_size);
    let test_loader = DataLoader::new(dataset2).batch_size(args.test_batch_size);

    let model = Net::new();
    let mut optimizer = Adadelta::new(model.parameters(), args.lr);

    let mut scheduler = StepLR::new(&mut optimizer, 1, args.gamma);
    let mut results = Vec::new();
    for epoch in 1..=args.epochs {
        let start = Instant::now();
        train(args, &model, &train_loader, &mut optimizer, epoch, out)?;
        eprintln!(
            "epoch {epoch}: trained in {:.2} s",
            start.elapsed().as_secs_f64()
        );
        results.push(test(&model, &test_loader, out)?);
        scheduler.step(&mut optimizer);
    }

    if args.save_model {
        kiln::io::save_pt_state_dict(Path::new("mnist_cnn.pt"), &model.state_dict())?;
    }
    Ok(results)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mnist_cnn: error: {e}");
            std::process::exit(2);
        }
    };
    run(&args, &mut std::io::stdout().lock())?;
    Ok(())
}
