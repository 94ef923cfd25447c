//! Training utilities built on hooks (`torch.nn.utils`-style).

mod grad_stats;
pub mod rnn;

pub use grad_stats::{GradStats, layer_grad_norms};
