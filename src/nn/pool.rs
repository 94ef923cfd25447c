//! Pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`.

use super::module::{Module, TrainingFlag, training_hooks};
use crate::autograd::ops::conv::Pair;
use crate::autograd::ops::pool::{
    AvgPoolOptions, MaxPoolOptions, adaptive_avg_pool2d, avg_pool2d, max_pool2d,
    max_pool2d_with_indices,
};
use crate::tensor::Tensor;

/// PyTorch prints a size given as an int as `2` and as a tuple `(2, 3)`; kiln keeps
/// pairs, so an equal pair prints as the int.
fn size(p: Pair) -> String {
    if p.0 == p.1 {
        p.0.to_string()
    } else {
        format!("({}, {})", p.0, p.1)
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// 2-D max pooling (`nn.MaxPool2d`); `stride` defaults to the kernel size.
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    /// Kernel, stride, padding, dilation and `ceil_mode`.
    pub options: MaxPoolOptions,
    /// Whether [`MaxPool2d::forward_with_indices`] is the intended call
    /// (`return_indices=True`); [`Module::forward`] always returns the values only.
    pub return_indices: bool,
    training: TrainingFlag,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel_size)`.
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        MaxPool2d::with_options(MaxPoolOptions::new(kernel_size), false)
    }

    /// `nn.MaxPool2d(kernel_size, stride, padding, dilation, return_indices, ceil_mode)`.
    pub fn with_options(options: MaxPoolOptions, return_indices: bool) -> Self {
        MaxPool2d {
            options,
            return_indices,
            training: TrainingFlag::new(),
        }
    }

    /// The pooled values and the flat per-plane argmax indices (int64).
    pub fn forward_with_indices(&self, input: &Tensor) -> (Tensor, Tensor) {
        max_pool2d_with_indices(input, self.options)
    }
}

impl Module for MaxPool2d {
    fn forward(&self, input: &Tensor) -> Tensor {
        max_pool2d(input, self.options)
    }
    fn extra_repr(&self) -> String {
        let o = &self.options;
        format!(
            "kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}",
            size(o.kernel_size),
            size(o.stride.unwrap_or(o.kernel_size)),
            size(o.padding),
            size(o.dilation),
            py_bool(o.ceil_mode)
        )
    }
    training_hooks!();
}

/// 2-D average pooling (`nn.AvgPool2d`); `stride` defaults to the kernel size.
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    /// Kernel, stride, padding, `ceil_mode`, `count_include_pad`, `divisor_override`.
    pub options: AvgPoolOptions,
    training: TrainingFlag,
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel_size)`.
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        AvgPool2d::with_options(AvgPoolOptions::new(kernel_size))
    }

    /// `nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)`.
    pub fn with_options(options: AvgPoolOptions) -> Self {
        AvgPool2d {
            options,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, input: &Tensor) -> Tensor {
        avg_pool2d(input, self.options)
    }
    fn extra_repr(&self) -> String {
        let o = &self.options;
        format!(
            "kernel_size={}, stride={}, padding={}",
            size(o.kernel_size),
            size(o.stride.unwrap_or(o.kernel_size)),
            size(o.padding)
        )
    }
    training_hooks!();
}

/// Adaptive 2-D average pooling to a fixed output size (`nn.AdaptiveAvgPool2d`).
#[derive(Clone, Debug)]
pub struct AdaptiveAvgPool2d {
    /// Output `(height, width)`.
    pub output_size: Pair,
    training: TrainingFlag,
}

impl AdaptiveAvgPool2d {
    /// `nn.AdaptiveAvgPool2d(output_size)`.
    pub fn new(output_size: impl Into<Pair>) -> Self {
        AdaptiveAvgPool2d {
            output_size: output_size.into(),
            training: TrainingFlag::new(),
        }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, input: &Tensor) -> Tensor {
        adaptive_avg_pool2d(input, self.output_size)
    }
    fn extra_repr(&self) -> String {
        format!("output_size={}", size(self.output_size))
    }
    training_hooks!();
}
