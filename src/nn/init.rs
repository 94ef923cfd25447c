//! Parameter initialisers (`torch.nn.init`), writing in place without recording, with
//! PyTorch's fan rules: `fan_in = size(1) * receptive`, `fan_out = size(0) * receptive`,
//! `receptive` the product of dims after the first two.

use super::raw::fill_with;
use crate::tensor::Tensor;
use crate::tensor::random::with_global;

/// Which fan `kaiming_*` scales by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Preserve the variance of activations in the forward pass (`mode='fan_in'`).
    FanIn,
    /// Preserve the variance of gradients in the backward pass (`mode='fan_out'`).
    FanOut,
}

/// The recommended gain for a nonlinearity (`nn.init.calculate_gain`): `linear`,
/// `conv*`, `sigmoid` → 1; `tanh` → 5/3; `relu` → √2; `leaky_relu` → √(2/(1+slope²))
/// (slope `param`, default 0.01); `selu` → 3/4.
pub fn calculate_gain(nonlinearity: &str, param: Option<f64>) -> f64 {
    match nonlinearity {
        "linear" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d"
        | "conv_transpose3d" | "sigmoid" => 1.0,
        "tanh" => 5.0 / 3.0,
        "relu" => 2f64.sqrt(),
        "leaky_relu" => {
            let slope = param.unwrap_or(0.01);
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
        "selu" => 0.75,
        other => panic!("calculate_gain: unsupported nonlinearity {other}"),
    }
}

/// `(fan_in, fan_out)` of a weight shape (`nn.init._calculate_fan_in_and_fan_out`).
pub fn calculate_fan_in_and_fan_out(t: &Tensor) -> (usize, usize) {
    assert!(
        t.dim() >= 2,
        "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
    );
    let receptive: usize = t.shape()[2..].iter().product();
    (t.shape()[1] * receptive, t.shape()[0] * receptive)
}

fn fan(t: &Tensor, mode: FanMode) -> usize {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t);
    match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    }
}

/// Fills with draws from U(a, b) (`nn.init.uniform_`).
pub fn uniform_(t: &Tensor, a: f64, b: f64) -> Tensor {
    let f64s = t.dtype() == crate::tensor::DType::F64;
    with_global(|g| {
        fill_with(t, || {
            let u = if f64s {
                g.uniform_f64()
            } else {
                g.uniform_f32() as f64
            };
            a + (b - a) * u
        })
    });
    t.clone()
}

/// Fills with draws from N(mean, std²) (`nn.init.normal_`).
pub fn normal_(t: &Tensor, mean: f64, std: f64) -> Tensor {
    with_global(|g| fill_with(t, || mean + std * g.normal()));
    t.clone()
}

/// Fills with `value` (`nn.init.constant_`).
pub fn constant_(t: &Tensor, value: f64) -> Tensor {
    fill_with(t, || value);
    t.clone()
}

/// Fills with zeros (`nn.init.zeros_`).
pub fn zeros_(t: &Tensor) -> Tensor {
    constant_(t, 0.0)
}

/// Fills with ones (`nn.init.ones_`).
pub fn ones_(t: &Tensor) -> Tensor {
    constant_(t, 1.0)
}

/// Glorot uniform: U(-a, a), `a = gain * sqrt(6 / (fan_in + fan_out))`
/// (`nn.init.xavier_uniform_`).
pub fn xavier_uniform_(t: &Tensor, gain: f64) -> Tensor {
    let (fi, fo) = calculate_fan_in_and_fan_out(t);
    let a = gain * (6.0 / (fi + fo) as f64).sqrt();
    uniform_(t, -a, a)
}

/// Glorot normal: N(0, std²), `std = gain * sqrt(2 / (fan_in + fan_out))`
/// (`nn.init.xavier_normal_`).
pub fn xavier_normal_(t: &Tensor, gain: f64) -> Tensor {
    let (fi, fo) = calculate_fan_in_and_fan_out(t);
    normal_(t, 0.0, gain * (2.0 / (fi + fo) as f64).sqrt())
}

/// He uniform: U(-b, b), `b = gain * sqrt(3 / fan)` with `gain = calculate_gain(nonlinearity, a)`
/// (`nn.init.kaiming_uniform_`; PyTorch's defaults are `a = 0`, fan_in, `"leaky_relu"`).
pub fn kaiming_uniform_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: &str) -> Tensor {
    if t.numel() == 0 {
        return t.clone();
    }
    let std = calculate_gain(nonlinearity, Some(a)) / (fan(t, mode) as f64).sqrt();
    let bound = 3f64.sqrt() * std;
    uniform_(t, -bound, bound)
}

/// He normal: N(0, std²), `std = gain / sqrt(fan)` (`nn.init.kaiming_normal_`).
pub fn kaiming_normal_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: &str) -> Tensor {
    if t.numel() == 0 {
        return t.clone();
    }
    let std = calculate_gain(nonlinearity, Some(a)) / (fan(t, mode) as f64).sqrt();
    normal_(t, 0.0, std)
}
