//! `Unfold` and `Fold` layers (im2col / col2im as modules).

use super::module::{Module, TrainingFlag, training_hooks};
use crate::autograd::ops::conv::Pair;
use crate::autograd::ops::fold::{FoldOptions, fold, unfold};
use crate::tensor::Tensor;

/// PyTorch's repr of an `int or tuple` argument: `3` when both entries agree (as the
/// module stores what it was given, kiln prints a pair of equal values as one int).
fn one(p: Pair) -> String {
    if p.0 == p.1 {
        p.0.to_string()
    } else {
        format!("({}, {})", p.0, p.1)
    }
}

fn fold_repr(o: &FoldOptions) -> String {
    format!(
        "kernel_size={}, dilation={}, padding={}, stride={}",
        one(o.kernel_size),
        one(o.dilation),
        one(o.padding),
        one(o.stride)
    )
}

/// Extracts sliding local blocks of a `[N, C, H, W]` input as columns
/// `[N, C * kH * kW, L]` (`nn.Unfold`, see [`unfold`]).
#[derive(Clone, Debug)]
pub struct Unfold {
    /// Kernel size, dilation, padding and stride.
    pub options: FoldOptions,
    training: TrainingFlag,
}

impl Unfold {
    /// `nn.Unfold(kernel_size, dilation=, padding=, stride=)` from its options.
    pub fn new(options: FoldOptions) -> Self {
        Unfold {
            options,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for Unfold {
    fn forward(&self, input: &Tensor) -> Tensor {
        unfold(input, self.options)
    }
    fn visit_own_parameters(&self, _: &mut dyn FnMut(&str, &Tensor)) {}
    fn extra_repr(&self) -> String {
        fold_repr(&self.options)
    }
    training_hooks!();
}

/// Sums columns of sliding blocks `[N, C * kH * kW, L]` into a `[N, C, H, W]` image of
/// `output_size` (`nn.Fold`, see [`fold`]).
#[derive(Clone, Debug)]
pub struct Fold {
    /// The spatial output size `(H, W)`.
    pub output_size: Pair,
    /// Kernel size, dilation, padding and stride.
    pub options: FoldOptions,
    training: TrainingFlag,
}

impl Fold {
    /// `nn.Fold(output_size, kernel_size, dilation=, padding=, stride=)`.
    pub fn new(output_size: impl Into<Pair>, options: FoldOptions) -> Self {
        Fold {
            output_size: output_size.into(),
            options,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for Fold {
    fn forward(&self, input: &Tensor) -> Tensor {
        fold(input, self.output_size, self.options)
    }
    fn visit_own_parameters(&self, _: &mut dyn FnMut(&str, &Tensor)) {}
    fn extra_repr(&self) -> String {
        format!(
            "output_size={}, {}",
            one(self.output_size),
            fold_repr(&self.options)
        )
    }
    training_hooks!();
}
