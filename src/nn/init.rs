//! Parameter initialisers (`torch.nn.init`), writing in place without recording, with
//! PyTorch's fan rules: `fan_in = size(1) * receptive`, `fan_out = size(0) * receptive`,
//! `receptive` the product of dims after the first two.
//!
//! The random initialisers draw exactly what PyTorch's do: the same generator stream
//! (`kiln::manual_seed` ≡ `torch.manual_seed`), the same bounds computed in the same
//! order, and the same CPU kernels (`uniform_`, `normal_`). Each has a `*_with` form
//! taking an explicit [`Generator`] (PyTorch's `generator=` argument).

use super::raw::{fill_with, normal_in_place, uniform_in_place};
use crate::tensor::Tensor;
use crate::tensor::random::{Generator, with_global};

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

/// Fills with draws from U(a, b) (`nn.init.uniform_`), from the default generator.
///
/// The draws are PyTorch's: after `kiln::manual_seed(s)` a tensor holds exactly what
/// `torch.manual_seed(s); nn.init.uniform_(t, a, b)` puts in a tensor of the same shape
/// and dtype (f32 or f64).
pub fn uniform_(t: &Tensor, a: f64, b: f64) -> Tensor {
    with_global(|g| uniform_with(t, a, b, g))
}

/// [`uniform_`] drawing from an explicit generator (`nn.init.uniform_(t, a, b, generator=g)`).
pub fn uniform_with(t: &Tensor, a: f64, b: f64, g: &mut Generator) -> Tensor {
    uniform_in_place(t, a, b, g);
    t.shallow_clone()
}

/// Fills with draws from N(mean, std²) (`nn.init.normal_`), from the default generator,
/// drawing exactly what PyTorch's `normal_` draws.
pub fn normal_(t: &Tensor, mean: f64, std: f64) -> Tensor {
    with_global(|g| normal_with(t, mean, std, g))
}

/// [`normal_`] drawing from an explicit generator (`nn.init.normal_(..., generator=g)`).
pub fn normal_with(t: &Tensor, mean: f64, std: f64, g: &mut Generator) -> Tensor {
    normal_in_place(t, mean, std, g);
    t.shallow_clone()
}

/// Fills with `value` (`nn.init.constant_`).
pub fn constant_(t: &Tensor, value: f64) -> Tensor {
    fill_with(t, || value);
    t.shallow_clone()
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
/// (`nn.init.xavier_uniform_`), from the default generator.
pub fn xavier_uniform_(t: &Tensor, gain: f64) -> Tensor {
    with_global(|g| xavier_uniform_with(t, gain, g))
}

/// [`xavier_uniform_`] drawing from an explicit generator.
pub fn xavier_uniform_with(t: &Tensor, gain: f64, g: &mut Generator) -> Tensor {
    // PyTorch's order of operations, so the bound rounds the same way.
    let a = 3f64.sqrt() * xavier_std(t, gain);
    uniform_with(t, -a, a, g)
}

/// Glorot normal: N(0, std²), `std = gain * sqrt(2 / (fan_in + fan_out))`
/// (`nn.init.xavier_normal_`), from the default generator.
pub fn xavier_normal_(t: &Tensor, gain: f64) -> Tensor {
    with_global(|g| xavier_normal_with(t, gain, g))
}

/// [`xavier_normal_`] drawing from an explicit generator.
pub fn xavier_normal_with(t: &Tensor, gain: f64, g: &mut Generator) -> Tensor {
    normal_with(t, 0.0, xavier_std(t, gain), g)
}

fn xavier_std(t: &Tensor, gain: f64) -> f64 {
    let (fi, fo) = calculate_fan_in_and_fan_out(t);
    gain * (2.0 / (fi + fo) as f64).sqrt()
}

fn kaiming_std(t: &Tensor, a: f64, mode: FanMode, nonlinearity: &str) -> f64 {
    calculate_gain(nonlinearity, Some(a)) / (fan(t, mode) as f64).sqrt()
}

/// He uniform: U(-b, b), `b = gain * sqrt(3 / fan)` with `gain = calculate_gain(nonlinearity, a)`
/// (`nn.init.kaiming_uniform_`; PyTorch's defaults are `a = 0`, fan_in, `"leaky_relu"`),
/// from the default generator. A tensor with no elements is left alone.
pub fn kaiming_uniform_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: &str) -> Tensor {
    with_global(|g| kaiming_uniform_with(t, a, mode, nonlinearity, g))
}

/// [`kaiming_uniform_`] drawing from an explicit generator.
pub fn kaiming_uniform_with(
    t: &Tensor,
    a: f64,
    mode: FanMode,
    nonlinearity: &str,
    g: &mut Generator,
) -> Tensor {
    if t.numel() == 0 {
        return t.shallow_clone();
    }
    let bound = 3f64.sqrt() * kaiming_std(t, a, mode, nonlinearity);
    uniform_with(t, -bound, bound, g)
}

/// He normal: N(0, std²), `std = gain / sqrt(fan)` (`nn.init.kaiming_normal_`), from the
/// default generator. A tensor with no elements is left alone.
pub fn kaiming_normal_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: &str) -> Tensor {
    with_global(|g| kaiming_normal_with(t, a, mode, nonlinearity, g))
}

/// [`kaiming_normal_`] drawing from an explicit generator.
pub fn kaiming_normal_with(
    t: &Tensor,
    a: f64,
    mode: FanMode,
    nonlinearity: &str,
    g: &mut Generator,
) -> Tensor {
    if t.numel() == 0 {
        return t.shallow_clone();
    }
    normal_with(t, 0.0, kaiming_std(t, a, mode, nonlinearity), g)
}
