//! Normalisation layers: `BatchNorm1d` and `LayerNorm`.

use super::module::{Module, TrainingFlag, training_hooks};
use super::raw::write_f64;
use crate::autograd::no_grad;
use crate::tensor::kernels::copy::running_update;
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

    fn update_running(&self, mean: &Tensor, var: &Tensor, n: usize) {
        let (Some(rm), Some(rv), Some(nb)) = (
            &self.running_mean,
            &self.running_var,
            &self.num_batches_tracked,
        ) else {
            return;
        };
        let batches = nb.item() + 1.0;
        write_f64(nb, &[batches]);
        let f = self.momentum.unwrap_or(1.0 / batches);
        let unbias = n as f64 / (n as f64 - 1.0);
        running_update(rm, mean, f, 1.0);
        running_update(rv, var, f, unbias);
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
        let (dims, pshape): (Vec<isize>, Vec<usize>) = if x.dim() == 2 {
            (vec![0], vec![1, self.num_features])
        } else {
            (vec![0, 2], vec![1, self.num_features, 1])
        };
        let use_batch = self.training.get() || self.running_mean.is_none();
        let y = if use_batch {
            let n = x.numel() / self.num_features.max(1);
            assert!(
                !self.training.get() || n > 1,
                "Expected more than 1 value per channel when training, got input size {:?}",
                x.shape()
            );
            let mean = x.mean_dims(&dims, true);
            let xc = x.sub(&mean);
            let var = xc.mul(&xc).mean_dims(&dims, true);
            if self.training.get() {
                no_grad(|| self.update_running(&mean.detach(), &var.detach(), n));
            }
            xc.mul(&var.add_scalar(self.eps).rsqrt())
        } else {
            let rm = self.running_mean.as_ref().expect("running mean");
            let rv = self.running_var.as_ref().expect("running var");
            let rm = rm.to_dtype(x.dtype()).reshape(&pshape);
            let rv = rv.to_dtype(x.dtype()).reshape(&pshape);
            x.sub(&rm).mul(&rv.add_scalar(self.eps).rsqrt())
        };
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => y.mul(&w.reshape(&pshape)).add(&b.reshape(&pshape)),
            _ => y,
        }
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
        let dims: Vec<isize> = (x.dim() - k..x.dim()).map(|d| d as isize).collect();
        let mean = x.mean_dims(&dims, true);
        let xc = x.sub(&mean);
        let var = xc.mul(&xc).mean_dims(&dims, true);
        let y = xc.mul(&var.add_scalar(self.eps).rsqrt());
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => y.mul(w).add(b),
            _ => y,
        }
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
