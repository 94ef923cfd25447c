//! Activation functions: relu, leaky_relu, gelu (erf and tanh forms), softplus, silu, and
//! the error function gelu is built on.
//!
//! Each derivative is computed in one fused kernel for an ordinary backward, and from
//! differentiable tensor ops when the backward itself is recorded (`create_graph`), so
//! higher-order gradients work.

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record, record_out};
use crate::tensor::Tensor;
use crate::tensor::kernels::unary::{UnaryOp, relu_backward, unary};
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};

/// `sqrt(2 / pi)`, the scale inside the tanh approximation of gelu.
const GELU_BETA: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of gelu.
const GELU_KAPPA: f64 = 0.044715;

/// `g * d`, where `d` comes from a fused kernel for a plain backward and from the
/// differentiable `composite` when the backward is being recorded.
fn times_derivative(
    g: &Tensor,
    fused: impl FnOnce() -> Tensor,
    composite: impl FnOnce() -> Tensor,
) -> Tensor {
    if is_grad_enabled() {
        g.mul(&composite())
    } else {
        g.mul(&fused())
    }
}

impl Tensor {
    /// `max(x, 0)` (`torch.relu`); NaN stays NaN, as in PyTorch. The gradient at 0 is 0,
    /// and at NaN it passes through (PyTorch's `out <= 0 ? 0 : g`).
    pub fn relu(&self) -> Tensor {
        let out = unary(UnaryOp::Relu, self);
        record_out(out, &[self], "ReluBackward0", move |out: &Tensor| {
            let saved_out = Saved::data(out);
            move |g: &Tensor, _: &[bool]| {
                let out = saved_out.get();
                if is_grad_enabled() {
                    let pass = out.le_scalar(0.0).logical_not();
                    return vec![Some(g.mul(&pass.to_dtype(g.dtype())))];
                }
                // PyTorch's threshold_backward in one pass: `out <= 0 ? 0 : g`.
                let d = relu_backward(g, out);
                vec![Some(d)]
            }
        })
    }

    /// `x` for `x > 0`, else `negative_slope * x` (`F.leaky_relu`, PyTorch's default slope is
    /// 0.01). The gradient at 0 is `negative_slope`, as in PyTorch (`x > 0 ? g : g * slope`).
    pub fn leaky_relu(&self, negative_slope: f64) -> Tensor {
        let out = unary(UnaryOp::LeakyRelu(negative_slope), self);
        record(out, &[self], "LeakyReluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let slope = Tensor::scalar_dtype(negative_slope, g.dtype());
                let one = Tensor::scalar_dtype(1.0, g.dtype());
                let d = Tensor::where_(&x.gt_scalar(0.0), &one, &slope);
                vec![Some(g.mul(&d))]
            }
        })
    }

    /// The Gauss error function (`torch.erf`).
    pub fn erf(&self) -> Tensor {
        let x = if self.dtype().is_float() {
            self.shallow_clone()
        } else {
            self.float()
        };
        let out = unary(UnaryOp::Erf, &x);
        record(out, &[&x], "ErfBackward0", || {
            let sx = Saved::new(&x);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                // d/dx erf(x) = 2/sqrt(pi) e^(-x^2)
                let d = x.mul(x).neg().exp().mul_scalar(FRAC_2_SQRT_PI);
                vec![Some(g.mul(&d))]
            }
        })
    }

    /// Exact GELU `x * Phi(x)` with the normal CDF via erf (`F.gelu`, `approximate='none'`).
    pub fn gelu(&self) -> Tensor {
        let out = unary(UnaryOp::Gelu, self);
        record(out, &[self], "GeluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let inv_sqrt_2pi = 0.5 * FRAC_2_SQRT_PI * FRAC_1_SQRT_2;
                let d = times_derivative(
                    g,
                    || unary(UnaryOp::GeluGrad, x),
                    || {
                        // Phi(x) + x phi(x)
                        let cdf = x
                            .mul_scalar(FRAC_1_SQRT_2)
                            .erf()
                            .add_scalar(1.0)
                            .mul_scalar(0.5);
                        let pdf = x.mul(x).mul_scalar(-0.5).exp().mul_scalar(inv_sqrt_2pi);
                        cdf.add(&x.mul(&pdf))
                    },
                );
                vec![Some(d)]
            }
        })
    }

    /// GELU with PyTorch's tanh approximation
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (`F.gelu(x, approximate='tanh')`).
    pub fn gelu_tanh(&self) -> Tensor {
        let out = unary(UnaryOp::GeluTanh, self);
        record(out, &[self], "GeluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let d = times_derivative(
                    g,
                    || unary(UnaryOp::GeluTanhGrad, x),
                    || {
                        let x2 = x.mul(x);
                        let inner = x
                            .add(&x2.mul(x).mul_scalar(GELU_KAPPA))
                            .mul_scalar(GELU_BETA);
                        let t = inner.tanh();
                        let left = t.add_scalar(1.0).mul_scalar(0.5);
                        let dt = t.mul(&t).rsub_scalar(1.0);
                        let dinner = x2
                            .mul_scalar(3.0 * GELU_KAPPA)
                            .add_scalar(1.0)
                            .mul_scalar(GELU_BETA);
                        left.add(&x.mul_scalar(0.5).mul(&dt).mul(&dinner))
                    },
                );
                vec![Some(d)]
            }
        })
    }

    /// `log(1 + e^(beta x)) / beta`, and `x` itself where `beta x > threshold`
    /// (`F.softplus`; PyTorch's defaults are `beta = 1`, `threshold = 20`).
    pub fn softplus(&self, beta: f64, threshold: f64) -> Tensor {
        let out = unary(UnaryOp::Softplus { beta, threshold }, self);
        record(out, &[self], "SoftplusBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let d = times_derivative(
                    g,
                    || unary(UnaryOp::SoftplusGrad { beta, threshold }, x),
                    || {
                        let bx = x.mul_scalar(beta);
                        let one = Tensor::scalar_dtype(1.0, x.dtype());
                        Tensor::where_(&bx.gt_scalar(threshold), &one, &bx.sigmoid())
                    },
                );
                vec![Some(d)]
            }
        })
    }

    /// `x * sigmoid(x)`, also called swish (`F.silu`).
    pub fn silu(&self) -> Tensor {
        let out = unary(UnaryOp::Silu, self);
        record(out, &[self], "SiluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let d = times_derivative(
                    g,
                    || unary(UnaryOp::SiluGrad, x),
                    || {
                        let s = x.sigmoid();
                        s.mul(&x.mul(&s.rsub_scalar(1.0)).add_scalar(1.0))
                    },
                );
                vec![Some(d)]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        let x = Tensor::from_vec(vec![0.0f64, 0.5, -1.0, 3.0], &[4]);
        let y = x.erf().to_vec::<f64>();
        assert_eq!(y[0], 0.0);
        // libm's erf is accurate to an ulp; erf(-x) = -erf(x).
        assert!((y[1] - libm::erf(0.5)).abs() < 1e-16);
        assert_eq!(y[2], -libm::erf(1.0));
        assert!(y[3] > 0.99997 && y[3] < 1.0);
    }
}
