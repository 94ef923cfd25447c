//! Activation functions: relu, leaky_relu, gelu (erf and tanh forms), softplus, silu, and
//! the error function gelu is built on.
//!
//! Each derivative is computed in one fused kernel for an ordinary backward, and from
//! differentiable tensor ops when the backward itself is recorded (`create_graph`), so
//! higher-order gradients work.

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record, record_out};
use crate::float_dispatch;
use crate::tensor::kernels::elementwise::{map, zip};
use crate::tensor::{Float, Tensor};
use num_traits::{One, Zero};
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};

/// `sqrt(2 / pi)`, the scale inside the tanh approximation of gelu.
const GELU_BETA: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of gelu.
const GELU_KAPPA: f64 = 0.044715;

/// Applies `|v: T| body` to every element of a float tensor, panicking for other dtypes.
macro_rules! fmap {
    ($op:expr, $x:expr, |$v:ident : $T:ident| $body:expr) => {
        float_dispatch!($op, $x.dtype(), $T => map::<$T, $T>($x, move |$v: $T| $body))
    };
}

/// `erf` for either float type, evaluated in f64 (libm) and rounded back.
fn erf_t<T: Float>(v: T) -> T {
    T::c(libm::erf(v.to_f64()))
}

/// The standard normal CDF `0.5 (1 + erf(x / sqrt 2))`.
fn phi_t<T: Float>(v: T) -> T {
    T::c(0.5 * (1.0 + libm::erf(v.to_f64() * FRAC_1_SQRT_2)))
}

/// A stable logistic sigmoid.
fn sigmoid_t<T: Float>(v: T) -> T {
    if v >= T::zero() {
        (T::one() + (-v).exp()).recip()
    } else {
        let e = v.exp();
        e / (T::one() + e)
    }
}

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
        let out = fmap!("relu", self, |v: T| if v > T::zero() || v.is_nan() {
            v
        } else {
            T::zero()
        });
        record_out(out, &[self], "ReluBackward0", move |out: &Tensor| {
            let saved_out = Saved::data(out);
            move |g: &Tensor, _: &[bool]| {
                let out = saved_out.get();
                if is_grad_enabled() {
                    let pass = out.le_scalar(0.0).logical_not();
                    return vec![Some(g.mul(&pass.to_dtype(g.dtype())))];
                }
                // PyTorch's threshold_backward in one pass: `out <= 0 ? 0 : g`.
                let d = float_dispatch!("relu backward", g.dtype(), T => {
                    zip::<T, T>("relu backward", g, out, |g, o| if o <= T::zero() { T::zero() } else { g })
                });
                vec![Some(d)]
            }
        })
    }

    /// `x` for `x > 0`, else `negative_slope * x` (`F.leaky_relu`, PyTorch's default slope is
    /// 0.01). The gradient at 0 is `negative_slope`, as in PyTorch (`x > 0 ? g : g * slope`).
    pub fn leaky_relu(&self, negative_slope: f64) -> Tensor {
        let out = fmap!("leaky_relu", self, |v: T| {
            if v > T::zero() {
                v
            } else {
                v * T::c(negative_slope)
            }
        });
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
            self.clone()
        } else {
            self.float()
        };
        let out = fmap!("erf", &x, |v: T| erf_t(v));
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
        let out = fmap!("gelu", self, |v: T| v * phi_t(v));
        record(out, &[self], "GeluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let inv_sqrt_2pi = 0.5 * FRAC_2_SQRT_PI * FRAC_1_SQRT_2;
                let d = times_derivative(
                    g,
                    || {
                        fmap!("gelu_backward", x, |v: T| {
                            let pdf = T::c(inv_sqrt_2pi) * (-(v * v) * T::c(0.5)).exp();
                            phi_t(v) + v * pdf
                        })
                    },
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
        let out = fmap!("gelu", self, |v: T| {
            let inner = T::c(GELU_BETA) * (v + T::c(GELU_KAPPA) * v * v * v);
            T::c(0.5) * v * (T::one() + inner.tanh())
        });
        record(out, &[self], "GeluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let d = times_derivative(
                    g,
                    || {
                        fmap!("gelu_backward", x, |v: T| {
                            let (half, beta, kappa) =
                                (T::c(0.5), T::c(GELU_BETA), T::c(GELU_KAPPA));
                            let x2 = v * v;
                            let t = (beta * (v + kappa * x2 * v)).tanh();
                            let right = half
                                * v
                                * (T::one() - t * t)
                                * beta
                                * (T::one() + T::c(3.0) * kappa * x2);
                            half * (T::one() + t) + right
                        })
                    },
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
        let out = fmap!("softplus", self, |v: T| {
            let (b, th) = (T::c(beta), T::c(threshold));
            if v * b > th {
                v
            } else {
                (v * b).exp().ln_1p() / b
            }
        });
        record(out, &[self], "SoftplusBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let d = times_derivative(
                    g,
                    || {
                        fmap!("softplus_backward", x, |v: T| {
                            let bx = v * T::c(beta);
                            if bx > T::c(threshold) {
                                T::one()
                            } else {
                                sigmoid_t(bx)
                            }
                        })
                    },
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
        let out = fmap!("silu", self, |v: T| v * sigmoid_t(v));
        record(out, &[self], "SiluBackward0", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let d = times_derivative(
                    g,
                    || {
                        fmap!("silu_backward", x, |v: T| {
                            let s = sigmoid_t(v);
                            s * (T::one() + v * (T::one() - s))
                        })
                    },
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
