//! Activation layers and dropout: ReLU, Sigmoid, Tanh, LeakyReLU, GELU, Softmax,
//! LogSoftmax, Dropout.

use super::functional;
use super::module::{Module, TrainingFlag, training_hooks};
use crate::tensor::Tensor;

macro_rules! stateless {
    ($(#[$m:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            training: TrainingFlag,
        }

        impl $name {
            #[doc = concat!("`nn.", stringify!($name), "()`.")]
            pub fn new() -> Self {
                Self::default()
            }
        }

        impl Module for $name {
            fn forward(&self, $x: &Tensor) -> Tensor {
                $body
            }
            training_hooks!();
        }
    };
}

stateless!(
    /// `max(x, 0)` (`nn.ReLU`); NaN stays NaN, as in PyTorch.
    ReLU, |x| x.relu());
stateless!(
    /// The logistic function (`nn.Sigmoid`).
    Sigmoid, |x| x.sigmoid());
stateless!(
    /// Hyperbolic tangent (`nn.Tanh`).
    Tanh, |x| x.tanh());

/// `x` for positive inputs, `negative_slope * x` otherwise (`nn.LeakyReLU`, default 0.01).
#[derive(Clone, Debug)]
pub struct LeakyReLU {
    /// The slope for negative inputs.
    pub negative_slope: f64,
    training: TrainingFlag,
}

impl LeakyReLU {
    /// `nn.LeakyReLU(negative_slope)`.
    pub fn new(negative_slope: f64) -> Self {
        LeakyReLU {
            negative_slope,
            training: TrainingFlag::new(),
        }
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU::new(0.01)
    }
}

impl Module for LeakyReLU {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.leaky_relu(self.negative_slope)
    }
    fn extra_repr(&self) -> String {
        format!("negative_slope={}", self.negative_slope)
    }
    training_hooks!();
}

/// The Gaussian error linear unit `x * Phi(x)` (`nn.GELU`): exact through erf, or
/// PyTorch's tanh approximation.
#[derive(Clone, Debug)]
pub struct GELU {
    /// Whether the tanh approximation is used (`approximate='tanh'`).
    pub approximate_tanh: bool,
    training: TrainingFlag,
}

impl GELU {
    /// `nn.GELU()`: the exact form through erf (`approximate='none'`).
    pub fn new() -> Self {
        GELU {
            approximate_tanh: false,
            training: TrainingFlag::new(),
        }
    }

    /// `nn.GELU(approximate='tanh')`.
    pub fn tanh() -> Self {
        GELU {
            approximate_tanh: true,
            training: TrainingFlag::new(),
        }
    }
}

impl Default for GELU {
    fn default() -> Self {
        GELU::new()
    }
}

impl Module for GELU {
    fn forward(&self, input: &Tensor) -> Tensor {
        if self.approximate_tanh {
            input.gelu_tanh()
        } else {
            input.gelu()
        }
    }
    fn extra_repr(&self) -> String {
        let a = if self.approximate_tanh {
            "tanh"
        } else {
            "none"
        };
        format!("approximate='{a}'")
    }
    training_hooks!();
}

macro_rules! along_dim {
    ($(#[$m:meta])* $name:ident, $method:ident) => {
        $(#[$m])*
        #[derive(Clone, Debug)]
        pub struct $name {
            /// The dimension normalised over.
            pub dim: isize,
            training: TrainingFlag,
        }

        impl $name {
            #[doc = concat!("`nn.", stringify!($name), "(dim)`.")]
            pub fn new(dim: isize) -> Self {
                $name { dim, training: TrainingFlag::new() }
            }
        }

        impl Module for $name {
            fn forward(&self, input: &Tensor) -> Tensor {
                input.$method(self.dim)
            }
            fn extra_repr(&self) -> String {
                format!("dim={}", self.dim)
            }
            training_hooks!();
        }
    };
}

along_dim!(
    /// Softmax along a dimension (`nn.Softmax(dim)`).
    Softmax, softmax);
along_dim!(
    /// Log-softmax along a dimension (`nn.LogSoftmax(dim)`).
    LogSoftmax, log_softmax);

/// Inverted dropout (`nn.Dropout(p)`): in training mode zeroes elements with probability
/// `p` and scales the rest by `1/(1-p)`; the identity in eval mode.
///
/// The masks are PyTorch's for the same seed (the pip wheels draw them from the default
/// generator on Intel and AMD CPUs alike, and so does kiln). See
/// [`functional::dropout`] and
/// [`BernoulliScalarKernel`](crate::tensor::random::BernoulliScalarKernel).
#[derive(Clone, Debug)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
    training: TrainingFlag,
}

impl Dropout {
    /// `nn.Dropout(p)`.
    pub fn new(p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "dropout probability has to be between 0 and 1, but got {p}"
        );
        Dropout {
            p,
            training: TrainingFlag::new(),
        }
    }
}

impl Default for Dropout {
    fn default() -> Self {
        Dropout::new(0.5)
    }
}

impl Module for Dropout {
    fn forward(&self, input: &Tensor) -> Tensor {
        functional::dropout(input, self.p, self.training.get())
    }
    fn extra_repr(&self) -> String {
        format!("p={}, inplace=False", self.p)
    }
    training_hooks!();
}
