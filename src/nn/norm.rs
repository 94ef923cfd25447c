//! Normalisation layers: `BatchNorm1d` and `LayerNorm`.

use super::functional;
use super::module::{Module, TrainingFlag, training_hooks};
use super::raw::write_f64;
use crate::tensor::{DType, Tensor};

/// Formats a float the way Python's `repr` does for the small constants in layer reprs.
pub(crate) fn py_float(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-4 {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').expect("exponent");
        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
        format!("{m}e{sign}{digits:0>2}")
    } else if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Batch normalisation over `[N, C]` or `[N, C, L]` inputs (`nn.BatchNorm1d`).
///
/// Training mode normalises with the batch mean and the biased variance and updates the
/// running statistics with `momentum` (using the unbiased variance); eval mode uses the
/// running statistics. Buffers: `running_mean`, `running_var`, `num_batches_tracked` (i64).
pub struct BatchNorm1d {
    /// Per-channel scale (parameter), when `affine`.
    pub weight: Option<Tensor>,
    /// Per-channel shift (parameter), when `affine`.
    pub bias: Option<Tensor>,
    /// Running mean (buffer), when tracking running stats.
    pub running_mean: Option<Tensor>,
    /// Running variance (buffer), when tracking running stats.
    pub running_var: Option<Tensor>,
    /// Number of training batches seen (i64 buffer), when tracking running stats.
    pub num_batches_tracked: Option<Tensor>,
    /// Number of channels `C`.
    pub num_features: usize,
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Running-average factor; `None` means a cumulative average.
    pub momentum: Option<f64>,
    training: TrainingFlag,
}

impl BatchNorm1d {
    /// `nn.BatchNorm1d(num_features)`: eps 1e-5, momentum 0.1, affine, running stats.
    pub fn new(num_features: usize) -> Self {
        BatchNorm1d::with_options(num_features, 1e-5, Some(0.1), true, true)
    }

    /// `nn.BatchNorm1d(num_features, eps, momentum, affine, track_running_stats)`.
    pub fn with_options(
        num_features: usize,
        eps: f64,
        momentum: Option<f64>,
        affine: bool,
        track_running_stats: bool,
    ) -> Self {
        let c = [num_features];
        BatchNorm1d {
            weight: affine.then(|| super::Parameter::new(Tensor::ones(&c))),
            bias: affine.then(|| super::Parameter::new(Tensor::zeros(&c))),
            running_mean: track_running_stats.then(|| Tensor::zeros(&c)),
            running_var: track_running_stats.then(|| Tensor::ones(&c)),
            num_batches_tracked: track_running_stats.then(|| Tensor::zeros_dtype(&[], DType::I64)),
            num_features,
            eps,
            momentum,
            training: TrainingFlag::new(),
        }
    }

    /// The running mean (`bn.running_mean`); panics if the layer was made with
    /// `track_running_stats=False` (the field is the `Option` itself).
    pub fn running_mean(&self) -> &Tensor {
        self.tracked(&self.running_mean)
    }

    /// The running variance (`bn.running_var`); panics as [`BatchNorm1d::running_mean`].
    pub fn running_var(&self) -> &Tensor {
        self.tracked(&self.running_var)
    }

    /// The number of training batches seen (`bn.num_batches_tracked`, i64); panics as
    /// [`BatchNorm1d::running_mean`].
    pub fn num_batches_tracked(&self) -> &Tensor {
        self.tracked(&self.num_batches_tracked)
    }

    fn tracked<'a>(&self, t: &'a Option<Tensor>) -> &'a Tensor {
        t.as_ref().unwrap_or_else(|| {
            panic!(
                "BatchNorm({}, track_running_stats=False) has no running statistics",
                self.num_features
            )
        })
    }

    /// Counts a training batch; the running-average factor for it (`momentum`, or
    /// `1 / batches` for the cumulative average).
    fn count_batch(&self) -> f64 {
        let Some(nb) = &self.num_batches_tracked else {
            return self.momentum.unwrap_or(0.0);
        };
        let batches = nb.item() + 1.0;
        write_f64(nb, &[batches]);
        self.momentum.unwrap_or(1.0 / batches)
    }
}

impl Module for BatchNorm1d {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            (x.dim() == 2 || x.dim() == 3) && x.shape()[1] == self.num_features,
            "BatchNorm1d: expected 2D or 3D input with {} channels (got {}D input of shape {:?})",
            self.num_features,
            x.dim(),
            x.shape()
        );
        // PyTorch's module logic: batch statistics in training or without running
        // statistics; the running statistics updated in training only.
        let training = self.training.get();
        let momentum = if training { self.count_batch() } else { 0.0 };
        functional::batch_norm(
            x,
            self.running_mean.as_ref(),
            self.running_var.as_ref(),
            self.weight.as_ref(),
            self.bias.as_ref(),
            training || self.running_mean.is_none(),
            momentum,
            self.eps,
        )
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f("weight", w);
            f("bias", b);
        }
    }
    fn visit_own_buffers(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        if let (Some(m), Some(v), Some(n)) = (
            &self.running_mean,
            &self.running_var,
            &self.num_batches_tracked,
        ) {
            f("running_mean", m);
            f("running_var", v);
            f("num_batches_tracked", n);
        }
    }
    fn extra_repr(&self) -> String {
        let py = |b: bool| if b { "True" } else { "False" };
        format!(
            "{}, eps={}, momentum={}, affine={}, bias={}, track_running_stats={}",
            self.num_features,
            py_float(self.eps),
            self.momentum.map_or("None".to_string(), py_float),
            py(self.weight.is_some()),
            py(self.bias.is_some()),
            py(self.running_mean.is_some())
        )
    }
    training_hooks!();
}

/// Normalises over the trailing `normalized_shape` dims of each sample (`nn.LayerNorm`),
/// with the biased variance, then applies an elementwise affine map.
pub struct LayerNorm {
    /// Elementwise scale (parameter), when `elementwise_affine`.
    pub weight: Option<Tensor>,
    /// Elementwise shift (parameter), when `elementwise_affine`.
    pub bias: Option<Tensor>,
    /// The trailing shape normalised over.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance before the square root.
    pub eps: f64,
    training: TrainingFlag,
}

impl LayerNorm {
    /// `nn.LayerNorm(normalized_shape)`: eps 1e-5, elementwise affine with bias.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNorm::with_options(normalized_shape, 1e-5, true)
    }

    /// `nn.LayerNorm(normalized_shape, eps, elementwise_affine)`.
    pub fn with_options(normalized_shape: &[usize], eps: f64, elementwise_affine: bool) -> Self {
        LayerNorm {
            weight: elementwise_affine
                .then(|| super::Parameter::new(Tensor::ones(normalized_shape))),
            bias: elementwise_affine
                .then(|| super::Parameter::new(Tensor::zeros(normalized_shape))),
            normalized_shape: normalized_shape.to_vec(),
            eps,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        let k = self.normalized_shape.len();
        assert!(
            x.dim() >= k && x.shape()[x.dim() - k..] == self.normalized_shape[..],
            "LayerNorm: given normalized_shape={:?}, expected input with shape [*, {:?}], but got \
             input of size {:?}",
            self.normalized_shape,
            self.normalized_shape,
            x.shape()
        );
        functional::layer_norm(
            x,
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f("weight", w);
            f("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        let shape: Vec<String> = self
            .normalized_shape
            .iter()
            .map(|d| d.to_string())
            .collect();
        let tuple = if shape.len() == 1 {
            format!("({},)", shape[0])
        } else {
            format!("({})", shape.join(", "))
        };
        let py = |b: bool| if b { "True" } else { "False" };
        format!(
            "{tuple}, eps={}, elementwise_affine={}, bias={}",
            py_float(self.eps),
            py(self.weight.is_some()),
            py(self.bias.is_some())
        )
    }
    training_hooks!();
}
