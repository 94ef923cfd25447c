//! The command line, as clap parses it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// kiln: train, evaluate and use PyTorch-style neural networks on the CPU.
#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "kiln: train, evaluate and use PyTorch-style neural networks on the CPU",
    long_about = None
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a classifier (by default the tutorial's MNIST digit classifier).
    Train(TrainArgs),
    /// Measure a trained model on a test set: accuracy, per-class accuracy, confusion matrix.
    Eval(EvalArgs),
    /// Classify image files (PNG or JPEG, any size or colour) with a trained model.
    Predict(PredictArgs),
    /// List the tensors of a weights file: names, shapes, dtypes, parameter count.
    Info(InfoArgs),
    /// Convert a weights or checkpoint file between safetensors and PyTorch's .pt/.pth
    /// (each format chosen by extension).
    Convert(ConvertArgs),
    /// Time kiln on the benchmark workloads (`scripts/compare.py` runs PyTorch beside it).
    Bench(super::bench::BenchArgs),
}

/// Which data set to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DatasetName {
    /// Handwritten digits.
    Mnist,
    /// Zalando's clothing images, a drop-in replacement for MNIST.
    FashionMnist,
}

/// Which network `kiln train` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// The tutorial's digit classifier: Flatten, then Linear layers (--hidden, --dropout,
    /// --batch-norm).
    Mlp,
    /// The CNN of PyTorch's mnist/main.py: Conv2d(1,32,3), Conv2d(32,64,3), max_pool2d(2),
    /// Dropout 0.25 / 0.5, Linear(9216,128), Linear(128,10), log_softmax with nll_loss.
    Cnn,
}

/// The optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerName {
    /// Stochastic gradient descent (with --momentum).
    Sgd,
    /// Adagrad.
    Adagrad,
    /// RMSprop (with --momentum).
    Rmsprop,
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Adadelta (mnist/main.py's; default lr 1.0).
    Adadelta,
    /// Adamax (Adam with the infinity norm).
    Adamax,
    /// Adam with Nesterov momentum.
    Nadam,
    /// Rectified Adam.
    Radam,
    /// Averaged SGD.
    Asgd,
    /// Resilient backpropagation (sign-based steps; no weight decay).
    Rprop,
}

/// Where the data comes from (shared by train and eval).
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// The data set.
    #[arg(long, value_enum, default_value_t = DatasetName::Mnist)]
    pub dataset: DatasetName,
    /// Directory holding the data set's IDX files (default: $KILN_DATA, ./data/<name>,
    /// then the Debian package location).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Download the data set if it is not found (checked against SHA-256 sums).
    #[arg(long)]
    pub download: bool,
    /// Refuse data files declaring more samples than this (unless --limit asks for fewer).
    #[arg(long, default_value_t = MAX_SAMPLES)]
    pub max_samples: u64,
}

/// Default for `--max-samples` (MNIST has 60,000 training images).
pub const MAX_SAMPLES: u64 = 1_000_000;

/// Default for `--max-model-bytes`: 4 GiB (the tutorial's model is under 1 MB).
pub const MAX_MODEL_BYTES: u64 = 4 << 30;
/// Default for `--max-layers`.
pub const MAX_LAYERS: usize = 1000;
/// Default for `--max-pixels`: 40 megapixels.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Most worker threads `--threads` accepts.
pub const MAX_THREADS: u64 = 1024;

/// Limits on what a model file may make kiln build (memory protection).
#[derive(Debug, Args, Clone)]
pub struct ModelLimits {
    /// Refuse model and checkpoint files larger than this many bytes.
    #[arg(long, default_value_t = MAX_MODEL_BYTES)]
    pub max_model_bytes: u64,
    /// Refuse models with more layers than this.
    #[arg(long, default_value_t = MAX_LAYERS)]
    pub max_layers: usize,
}

impl Default for ModelLimits {
    fn default() -> Self {
        ModelLimits {
            max_model_bytes: MAX_MODEL_BYTES,
            max_layers: MAX_LAYERS,
        }
    }
}

/// `kiln train`.
#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Passes over the training set (the tutorial trains for 10).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs: u64,
    /// Samples per batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// The network: the tutorial's MLP or the CNN of PyTorch's mnist/main.py.
    #[arg(long, value_enum, default_value_t = ModelKind::Mlp)]
    pub model: ModelKind,
    /// Learning rate [default: PyTorch's for the optimizer: 1.0 adadelta; 2e-3 adamax,
    /// nadam; 1e-2 adagrad, rmsprop, asgd, rprop; 1e-3 the others].
    #[arg(long)]
    pub lr: Option<f64>,
    /// The optimizer [default: adam for --model mlp, adadelta (main.py's) for cnn].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerName>,
    /// Multiply the learning rate by --gamma every N epochs (StepLR(step_size=N)); 0 keeps
    /// it constant [default: 1 for --model cnn (main.py's), 0 for mlp].
    #[arg(long)]
    pub lr_step: Option<u64>,
    /// StepLR's factor [default: 0.7 for --model cnn (main.py's), else PyTorch's 0.1].
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Momentum (sgd, rmsprop).
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f64,
    /// Weight decay (L2 penalty; decoupled for adamw, whose default is then 0.01 as in PyTorch).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Hidden layer widths, comma-separated (--model mlp) [default: 256,128].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Dropout probability after each hidden layer, 0 disables it (--model mlp)
    /// [default: 0.2].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Add BatchNorm1d after each hidden Linear layer (--model mlp).
    #[arg(long)]
    pub batch_norm: bool,
    /// Seed for weights, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads for tensor math (default: one per core; at most 1024).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
    pub threads: Option<u64>,
    /// Directory for the model, checkpoint, metrics and plots.
    #[arg(long, default_value = "runs/latest")]
    pub out: PathBuf,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Replace the run already in --out (its model, checkpoint and metrics).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Go on training after a non-finite loss (by default training stops at the first).
    #[arg(long)]
    pub keep_going: bool,
    /// Record each layer's gradient norm after every batch: `grad_norms.jsonl`, the
    /// epoch means in `metrics.jsonl`, and the plot `grad_norms.png`.
    #[arg(long)]
    pub grad_stats: bool,
    #[command(flatten)]
    pub limits: ModelLimits,
    /// Train on only the first N training samples (the test set is used whole).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Test on only the first N test samples.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub test_limit: Option<u64>,
}

/// `kiln eval`.
#[derive(Debug, Args, Clone)]
pub struct EvalArgs {
    /// The trained model (model.safetensors from `kiln train`, or a PyTorch .pt/.pth state dict).
    #[arg(long, default_value = "runs/latest/model.safetensors")]
    pub model: PathBuf,
    #[command(flatten)]
    pub limits: ModelLimits,
    /// The data set (default: the one the model was trained on, as its file records).
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetName>,
    /// Directory holding the data set's IDX files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Download the data set if it is not found.
    #[arg(long)]
    pub download: bool,
    /// Where to write confusion.png (default: beside the model).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Evaluate only the first N test samples.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

/// `kiln predict`.
#[derive(Debug, Args, Clone)]
pub struct PredictArgs {
    /// The trained model (model.safetensors from `kiln train`, or a PyTorch .pt/.pth state dict).
    #[arg(long, default_value = "runs/latest/model.safetensors")]
    pub model: PathBuf,
    #[command(flatten)]
    pub limits: ModelLimits,
    /// Images to classify.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Refuse images with more pixels than this (width × height).
    #[arg(long, default_value_t = MAX_PIXELS)]
    pub max_pixels: u64,
}

/// `kiln info`.
#[derive(Debug, Args, Clone)]
pub struct InfoArgs {
    /// A weights file (.safetensors, or PyTorch's .pt/.pth/.bin).
    pub file: PathBuf,
    /// Refuse files larger than this many bytes.
    #[arg(long, default_value_t = MAX_MODEL_BYTES)]
    pub max_model_bytes: u64,
}

/// `kiln convert`.
#[derive(Debug, Args, Clone)]
pub struct ConvertArgs {
    /// The file to read (.safetensors, .pt, .pth or .bin).
    pub input: PathBuf,
    /// The file to write; its extension picks the format (.pt/.pth/.bin: PyTorch,
    /// otherwise safetensors).
    pub output: PathBuf,
}
