//! Loss modules: thin holders of options around `nn::functional`.

use super::functional::{self as F, CrossEntropyOptions, Reduction};
use crate::tensor::Tensor;

macro_rules! simple_loss {
    ($(#[$m:meta])* $name:ident, |$s:ident, $i:ident, $t:ident| $body:expr) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            /// How per-element losses are combined.
            pub reduction: Reduction,
        }

        impl $name {
            #[doc = concat!("`nn.", stringify!($name), "()` with mean reduction.")]
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets the reduction, builder style.
            pub fn reduction(mut self, r: Reduction) -> Self {
                self.reduction = r;
                self
            }

            /// The loss of `input` against `target`.
            pub fn forward(&self, $i: &Tensor, $t: &Tensor) -> Tensor {
                let $s = self;
                $body
            }
        }
    };
}

simple_loss!(
    /// Mean squared error (`nn.MSELoss`).
    MSELoss, |s, i, t| F::mse_loss_with(i, t, s.reduction));
simple_loss!(
    /// Mean absolute error (`nn.L1Loss`).
    L1Loss, |s, i, t| F::l1_loss_with(i, t, s.reduction));

/// Smooth L1 loss with threshold `beta` (`nn.SmoothL1Loss`, default 1.0).
#[derive(Clone, Debug)]
pub struct SmoothL1Loss {
    /// How per-element losses are combined.
    pub reduction: Reduction,
    /// Where the loss switches from quadratic to linear.
    pub beta: f64,
}

impl SmoothL1Loss {
    /// `nn.SmoothL1Loss(beta=beta)`.
    pub fn new(beta: f64) -> Self {
        SmoothL1Loss {
            reduction: Reduction::Mean,
            beta,
        }
    }
    /// Sets the reduction, builder style.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
    /// The loss of `input` against `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        F::smooth_l1_loss(input, target, self.reduction, self.beta)
    }
}

/// Huber loss with threshold `delta` (`nn.HuberLoss`, default 1.0).
#[derive(Clone, Debug)]
pub struct HuberLoss {
    /// How per-element losses are combined.
    pub reduction: Reduction,
    /// Where the loss switches from quadratic to linear.
    pub delta: f64,
}

impl HuberLoss {
    /// `nn.HuberLoss(delta=delta)`.
    pub fn new(delta: f64) -> Self {
        HuberLoss {
            reduction: Reduction::Mean,
            delta,
        }
    }
    /// Sets the reduction, builder style.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
    /// The loss of `input` against `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        F::huber_loss(input, target, self.reduction, self.delta)
    }
}

/// Cross entropy of logits against class indices or probabilities (`nn.CrossEntropyLoss`).
#[derive(Clone, Debug, Default)]
pub struct CrossEntropyLoss {
    /// Weights, `ignore_index`, reduction and label smoothing.
    pub options: CrossEntropyOptions,
}

impl CrossEntropyLoss {
    /// `nn.CrossEntropyLoss()`.
    pub fn new() -> Self {
        Self::default()
    }
    /// Per-class weights (`weight=`).
    pub fn weight(mut self, w: Tensor) -> Self {
        self.options.weight = Some(w);
        self
    }
    /// Target value to ignore (`ignore_index=`).
    pub fn ignore_index(mut self, i: i64) -> Self {
        self.options.ignore_index = i;
        self
    }
    /// Label smoothing amount (`label_smoothing=`).
    pub fn label_smoothing(mut self, eps: f64) -> Self {
        self.options.label_smoothing = eps;
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.options.reduction = r;
        self
    }
    /// The loss of logits `input` against `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        F::cross_entropy_with(input, target, &self.options)
    }
}

/// Negative log-likelihood of log-probabilities (`nn.NLLLoss`).
#[derive(Clone, Debug, Default)]
pub struct NLLLoss {
    /// Weights, `ignore_index` and reduction (label smoothing must stay 0).
    pub options: CrossEntropyOptions,
}

impl NLLLoss {
    /// `nn.NLLLoss()`.
    pub fn new() -> Self {
        Self::default()
    }
    /// Per-class weights (`weight=`).
    pub fn weight(mut self, w: Tensor) -> Self {
        self.options.weight = Some(w);
        self
    }
    /// Target value to ignore (`ignore_index=`).
    pub fn ignore_index(mut self, i: i64) -> Self {
        self.options.ignore_index = i;
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.options.reduction = r;
        self
    }
    /// The loss of log-probabilities `input` against class indices `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        F::nll_loss_with(input, target, &self.options)
    }
}

/// Binary cross entropy on probabilities (`nn.BCELoss`).
#[derive(Clone, Debug, Default)]
pub struct BCELoss {
    /// Per-element weight, broadcast against the loss.
    pub weight: Option<Tensor>,
    /// How per-element losses are combined.
    pub reduction: Reduction,
}

impl BCELoss {
    /// `nn.BCELoss()`.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the weight (`weight=`).
    pub fn weight(mut self, w: Tensor) -> Self {
        self.weight = Some(w);
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
    /// The loss of probabilities `input` against `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        F::binary_cross_entropy_with(input, target, self.weight.as_ref(), self.reduction)
    }
}

/// Binary cross entropy on logits, computed stably (`nn.BCEWithLogitsLoss`).
#[derive(Clone, Debug, Default)]
pub struct BCEWithLogitsLoss {
    /// Per-element weight, broadcast against the loss.
    pub weight: Option<Tensor>,
    /// Weight of positive examples, broadcast over the class dim.
    pub pos_weight: Option<Tensor>,
    /// How per-element losses are combined.
    pub reduction: Reduction,
}

impl BCEWithLogitsLoss {
    /// `nn.BCEWithLogitsLoss()`.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the weight (`weight=`).
    pub fn weight(mut self, w: Tensor) -> Self {
        self.weight = Some(w);
        self
    }
    /// Sets the positive-class weight (`pos_weight=`).
    pub fn pos_weight(mut self, w: Tensor) -> Self {
        self.pos_weight = Some(w);
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
    /// The loss of logits `input` against `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Tensor {
        F::binary_cross_entropy_with_logits_with(
            input,
            target,
            self.weight.as_ref(),
            self.pos_weight.as_ref(),
            self.reduction,
        )
    }
}
