//! `Linear`, `Identity` and `Flatten`.

use super::functional;
use super::init;
use super::module::{Module, Parameter, TrainingFlag, training_hooks};
use crate::tensor::Tensor;

/// A fully connected layer `y = x W^T + b` (`nn.Linear`).
///
/// `weight` is `[out_features, in_features]`. Both weight and bias start uniform in
/// `±1/sqrt(in_features)` (PyTorch's `kaiming_uniform_(a=sqrt(5))` and bias rule), drawn
/// from the default generator: weight first, then bias, exactly as PyTorch draws them, so
/// after `kiln::manual_seed(s)` a layer (or a `Sequential` of layers built in the same
/// order) holds the same numbers as after `torch.manual_seed(s)` in PyTorch.
#[derive(Clone, Debug)]
pub struct Linear {
    /// The `[out, in]` weight (a parameter).
    pub weight: Tensor,
    /// The `[out]` bias, if any (a parameter).
    pub bias: Option<Tensor>,
    /// Input size.
    pub in_features: usize,
    /// Output size.
    pub out_features: usize,
    training: TrainingFlag,
}

impl Linear {
    /// `nn.Linear(in_features, out_features)` with a bias.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        Linear::with_bias(in_features, out_features, true)
    }

    /// `nn.Linear(in_features, out_features, bias=False)`.
    pub fn no_bias(in_features: usize, out_features: usize) -> Self {
        Linear::with_bias(in_features, out_features, false)
    }

    /// `nn.Linear(in_features, out_features, bias=bias)`.
    pub fn with_bias(in_features: usize, out_features: usize, bias: bool) -> Self {
        let weight = Tensor::zeros(&[out_features, in_features]);
        init::kaiming_uniform_(&weight, 5f64.sqrt(), init::FanMode::FanIn, "leaky_relu");
        let bias = bias.then(|| {
            let b = Tensor::zeros(&[out_features]);
            let bound = if in_features > 0 {
                1.0 / (in_features as f64).sqrt()
            } else {
                0.0
            };
            init::uniform_(&b, -bound, bound);
            Parameter::new(b)
        });
        Linear {
            weight: Parameter::new(weight),
            bias,
            in_features,
            out_features,
            training: TrainingFlag::new(),
        }
    }

    /// A layer with the given weight (`[out, in]`) and optional bias, as parameters.
    pub fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Self {
        assert!(
            weight.dim() == 2,
            "Linear::from_weights: weight must be 2-D, got {:?}",
            weight.shape()
        );
        let (out_features, in_features) = (weight.shape()[0], weight.shape()[1]);
        Linear {
            weight: Parameter::new(weight),
            bias: bias.map(Parameter::new),
            in_features,
            out_features,
            training: TrainingFlag::new(),
        }
    }
}

impl Linear {
    /// The bias (`linear.bias`); panics if the layer was made with `bias=False`
    /// (the `bias` field is the `Option` itself).
    pub fn bias(&self) -> &Tensor {
        self.bias.as_ref().unwrap_or_else(|| {
            panic!(
                "Linear(in_features={}, out_features={}, bias=False) has no bias",
                self.in_features, self.out_features
            )
        })
    }
}

impl Module for Linear {
    fn forward(&self, input: &Tensor) -> Tensor {
        functional::linear(input, &self.weight, self.bias.as_ref())
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features,
            self.out_features,
            if self.bias.is_some() { "True" } else { "False" }
        )
    }
    training_hooks!();
}

/// Returns its input unchanged (`nn.Identity`).
#[derive(Clone, Debug, Default)]
pub struct Identity {
    training: TrainingFlag,
}

impl Identity {
    /// `nn.Identity()`.
    pub fn new() -> Self {
        Identity::default()
    }
}

impl Module for Identity {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.shallow_clone()
    }
    training_hooks!();
}

/// Flattens dims `start_dim..=end_dim` into one (`nn.Flatten`, default `1, -1`).
#[derive(Clone, Debug)]
pub struct Flatten {
    /// First dim flattened.
    pub start_dim: isize,
    /// Last dim flattened.
    pub end_dim: isize,
    training: TrainingFlag,
}

impl Flatten {
    /// `nn.Flatten()`: keeps the batch dim, flattens the rest.
    pub fn new() -> Self {
        Flatten::dims(1, -1)
    }

    /// `nn.Flatten(start_dim, end_dim)`.
    pub fn dims(start_dim: isize, end_dim: isize) -> Self {
        Flatten {
            start_dim,
            end_dim,
            training: TrainingFlag::new(),
        }
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Module for Flatten {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.flatten(self.start_dim, self.end_dim)
    }
    fn extra_repr(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
    training_hooks!();
}
