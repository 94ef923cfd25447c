//! Stateless functions behind the layers and losses (`torch.nn.functional`).

mod dropout;
mod embedding;
mod linear;
mod loss;
mod nll;
mod norm;
mod rnn;

pub use super::norm2d::dropout2d;
pub use crate::autograd::ops::conv::{
    ConvOptions, ConvTransposeOptions, Padding, Pair, conv_transpose2d, conv1d, conv2d,
};
pub use crate::autograd::ops::fold::{FoldOptions, fold, unfold};
pub use crate::autograd::ops::pool::{
    AvgPoolOptions, MaxPoolOptions, adaptive_avg_pool2d, avg_pool2d, max_pool2d,
    max_pool2d_with_indices,
};
pub use dropout::dropout;
pub use embedding::embedding;
pub use linear::linear;
pub use loss::{
    binary_cross_entropy, binary_cross_entropy_with, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_with, broadcast_warning, huber_loss, l1_loss, l1_loss_with,
    mse_loss, mse_loss_with, smooth_l1_loss,
};
pub use nll::{CrossEntropyOptions, cross_entropy, cross_entropy_with, nll_loss, nll_loss_with};
pub use norm::{batch_norm, layer_norm};
pub use rnn::{LayerOutput, LayerWeights, Mode, rnn_layer};

use crate::tensor::Tensor;

/// How a loss combines its per-element values (`reduction=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// Per-element losses, unreduced (`'none'`).
    None,
    /// The average (`'mean'`, the default).
    #[default]
    Mean,
    /// The total (`'sum'`).
    Sum,
}

impl Reduction {
    /// Applies the reduction to per-element losses.
    pub fn apply(self, losses: &Tensor) -> Tensor {
        match self {
            Reduction::None => losses.shallow_clone(),
            Reduction::Mean => losses.mean(),
            Reduction::Sum => losses.sum(),
        }
    }
}

/// `max(x, 0)` (`F.relu`); NaN stays NaN, as in PyTorch.
pub fn relu(x: &Tensor) -> Tensor {
    x.relu()
}

/// Softmax along `dim` (`F.softmax`).
pub fn softmax(x: &Tensor, dim: isize) -> Tensor {
    x.softmax(dim)
}

/// Log-softmax along `dim` (`F.log_softmax`).
pub fn log_softmax(x: &Tensor, dim: isize) -> Tensor {
    x.log_softmax(dim)
}

/// `x` where `x > 0`, else `slope * x` (`F.leaky_relu`); the gradient at 0 is `slope`
/// as in PyTorch.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.leaky_relu(slope)
}

/// `x * Phi(x)` (`F.gelu(x)`, exact through erf).
pub fn gelu(x: &Tensor) -> Tensor {
    x.gelu()
}

/// GELU with the tanh approximation (`F.gelu(x, approximate='tanh')`).
pub fn gelu_tanh(x: &Tensor) -> Tensor {
    x.gelu_tanh()
}
