//! Training utilities built on hooks (`torch.nn.utils`-style).

mod grad_stats;

pub use grad_stats::GradStats;
