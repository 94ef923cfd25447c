//! `BatchNorm2d` and `Dropout2d`: the per-channel layers of convolutional networks.

use super::functional;
use super::module::{Module, TrainingFlag, training_hooks};
use super::norm::BatchNorm1d;
use crate::tensor::Tensor;

/// Batch normalisation over `[N, C, H, W]` inputs (`nn.BatchNorm2d`): statistics per
/// channel over batch and space, otherwise exactly [`BatchNorm1d`] (same parameters
/// `weight`/`bias`, buffers `running_mean`/`running_var`/`num_batches_tracked`, train and
/// eval behaviour, `momentum=None` for a cumulative average), which it derefs to.
pub struct BatchNorm2d {
    inner: BatchNorm1d,
}

impl BatchNorm2d {
    /// `nn.BatchNorm2d(num_features)`: eps 1e-5, momentum 0.1, affine, running stats.
    pub fn new(num_features: usize) -> Self {
        BatchNorm2d {
            inner: BatchNorm1d::new(num_features),
        }
    }

    /// `nn.BatchNorm2d(num_features, eps, momentum, affine, track_running_stats)`.
    pub fn with_options(
        num_features: usize,
        eps: f64,
        momentum: Option<f64>,
        affine: bool,
        track_running_stats: bool,
    ) -> Self {
        BatchNorm2d {
            inner: BatchNorm1d::with_options(
                num_features,
                eps,
                momentum,
                affine,
                track_running_stats,
            ),
        }
    }
}

impl std::ops::Deref for BatchNorm2d {
    type Target = BatchNorm1d;
    fn deref(&self) -> &BatchNorm1d {
        &self.inner
    }
}

impl Module for BatchNorm2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(x.dim() == 4, "expected 4D input (got {}D input)", x.dim());
        let s = x.shape().to_vec();
        assert!(
            s[1] == self.inner.num_features,
            "running_mean should contain {} elements not {}",
            s[1],
            self.inner.num_features
        );
        // [N, C, H, W] as [N, C, H*W]: BatchNorm1d's 3-D path reduces over dims 0 and 2,
        // which are batch and space here.
        self.inner
            .forward(&x.reshape(&[s[0], s[1], s[2] * s[3]]))
            .reshape(&s)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.inner.visit_own_parameters(f)
    }
    fn visit_own_buffers(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.inner.visit_own_buffers(f)
    }
    fn extra_repr(&self) -> String {
        self.inner.extra_repr()
    }
    fn set_own_training(&self, on: bool) {
        self.inner.set_own_training(on)
    }
    fn own_training(&self) -> Option<bool> {
        self.inner.own_training()
    }
}

/// Zeroes whole channels with probability `p` and scales the rest by `1 / (1 - p)` when
/// `training` (`F.dropout2d`): a `[N, C, H, W]` input draws one Bernoulli per `(n, c)`;
/// a 3-D input is taken as `[N, C, L]`, as PyTorch does. The draws are PyTorch's for the
/// same seed (the mask is `F::dropout` of a `[N, C, 1, 1]` tensor of ones, which is how
/// PyTorch draws it).
///
/// # Panics
/// If `p` is outside `[0, 1]` or the input is not 3-D or 4-D.
pub fn dropout2d(x: &Tensor, p: f64, training: bool) -> Tensor {
    assert!(
        (0.0..=1.0).contains(&p),
        "dropout probability has to be between 0 and 1, but got {p}"
    );
    assert!(
        x.dim() == 3 || x.dim() == 4,
        "dropout2d: Expected 3D or 4D input, but got input of size: {:?}",
        x.shape()
    );
    if !training || p == 0.0 || x.numel() == 0 {
        return x.shallow_clone();
    }
    let mut noise_shape = x.shape()[..2].to_vec();
    noise_shape.resize(x.dim(), 1);
    let ones = Tensor::ones(&noise_shape).to_dtype(x.dtype());
    let noise = functional::dropout(&ones, p, true);
    x.mul(&noise)
}

/// Channel-wise dropout (`nn.Dropout2d`, default `p = 0.5`); see [`dropout2d`].
#[derive(Clone, Debug)]
pub struct Dropout2d {
    /// Probability of zeroing a channel.
    pub p: f64,
    training: TrainingFlag,
}

impl Dropout2d {
    /// `nn.Dropout2d(p)`.
    ///
    /// # Panics
    /// If `p` is outside `[0, 1]` (PyTorch's message).
    pub fn new(p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "dropout probability has to be between 0 and 1, but got {p}"
        );
        Dropout2d {
            p,
            training: TrainingFlag::new(),
        }
    }
}

impl Default for Dropout2d {
    fn default() -> Self {
        Dropout2d::new(0.5)
    }
}

impl Module for Dropout2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        dropout2d(x, self.p, self.training.get())
    }
    fn extra_repr(&self) -> String {
        format!("p={}, inplace=False", super::norm::py_float(self.p))
    }
    training_hooks!();
}
