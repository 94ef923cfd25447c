//! Unary elementwise math: neg, exp, log, log1p, sqrt, rsqrt, abs, sign, sin, cos,
//! pow with a scalar exponent, clamp.

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record, record_out};
use crate::tensor::Tensor;
use crate::tensor::kernels::unary::{UnaryOp, unary};

/// Defines a unary float op whose derivative is `g * deriv(x, y)`, where `y` is the
/// forward output (recomputed from `x` when building a differentiable backward).
macro_rules! unary_op {
    ($(#[$m:meta])* $name:ident, $node:expr, $op:expr, |$g:ident, $x:ident, $y:ident| $d:expr) => {
        impl Tensor {
            $(#[$m])*
            pub fn $name(&self) -> Tensor {
                let x = if self.dtype().is_float() { self.shallow_clone() } else { self.float() };
                let out = unary($op, &x);
                record_out(out, &[&x], $node, |out: &Tensor| {
                    let saved_out = Saved::data(out);
                    let sx = Saved::new(&x);
                    move |$g: &Tensor, _: &[bool]| {
                        let $x = sx.get();
                        // With create_graph the output must carry history: recompute it.
                        let y_owned = if is_grad_enabled() { Some($x.$name()) } else { None };
                        let $y = y_owned.as_ref().unwrap_or_else(|| saved_out.get());
                        let _ = &$y;
                        vec![Some($d)]
                    }
                })
            }
        }
    };
}

unary_op!(
    /// `e^x` (`torch.exp`).
    exp, "ExpBackward0", UnaryOp::Exp, |g, x, y| g.mul(y));
unary_op!(
    /// Natural logarithm (`torch.log`).
    log, "LogBackward0", UnaryOp::Log, |g, x, y| g.div(x));
unary_op!(
    /// `ln(1 + x)`, accurate near 0 (`torch.log1p`).
    log1p, "Log1PBackward0", UnaryOp::Log1p, |g, x, y| g.div(&x.add_scalar(1.0)));
unary_op!(
    /// Square root (`torch.sqrt`).
    sqrt, "SqrtBackward0", UnaryOp::Sqrt, |g, x, y| g.div(&y.mul_scalar(2.0)));
unary_op!(
    /// `1 / sqrt(x)` (`torch.rsqrt`).
    rsqrt, "RsqrtBackward0", UnaryOp::Rsqrt, |g, x, y| g.mul(&y.pow_scalar(3.0)).mul_scalar(-0.5));
unary_op!(
    /// Sine (`torch.sin`).
    sin, "SinBackward0", UnaryOp::Sin, |g, x, y| g.mul(&x.cos()));
unary_op!(
    /// Cosine (`torch.cos`).
    cos, "CosBackward0", UnaryOp::Cos, |g, x, y| g.mul(&x.sin()).neg());
unary_op!(
    /// Hyperbolic tangent (`torch.tanh`).
    tanh, "TanhBackward0", UnaryOp::Tanh, |g, x, y| g.mul(&y.mul(y).rsub_scalar(1.0)));
unary_op!(
    /// Logistic sigmoid `1 / (1 + e^-x)` (`torch.sigmoid`).
    sigmoid, "SigmoidBackward0",
    UnaryOp::Sigmoid,
    |g, x, y| g.mul(&y.mul(&y.rsub_scalar(1.0))));
unary_op!(
    /// Absolute value (`torch.abs`); the gradient at 0 is 0.
    abs, "AbsBackward0", UnaryOp::Abs, |g, x, y| g.mul(&x.sign()));

impl Tensor {
    /// `-self` (`torch.neg`).
    pub fn neg(&self) -> Tensor {
        let out = unary(UnaryOp::Neg, self);
        record(out, &[self], "NegBackward0", || {
            |g: &Tensor, _: &[bool]| vec![Some(g.neg())]
        })
    }

    /// `-1`, `0` or `1` by sign (`torch.sign`); not differentiable (zero gradient).
    pub fn sign(&self) -> Tensor {
        let out = unary(UnaryOp::Sign, self);
        record(out, &[self], "SignBackward0", || {
            |g: &Tensor, _: &[bool]| vec![Some(g.zeros_like())]
        })
    }

    /// `self ** e` for a scalar exponent (`torch.pow(x, 2.0)`).
    pub fn pow_scalar(&self, e: f64) -> Tensor {
        let x = if self.dtype().is_float() {
            self.shallow_clone()
        } else {
            self.float()
        };
        let out = unary(UnaryOp::PowScalar(e), &x);
        crate::autograd::explain::note_scalar(&out, "exponent", e);
        record(out, &[&x], "PowBackward0", || {
            let sx = Saved::new(&x);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                if e == 0.0 {
                    return vec![Some(g.zeros_like())];
                }
                vec![Some(g.mul(&x.pow_scalar(e - 1.0).mul_scalar(e)))]
            }
        })
    }

    /// Clamps into `[min, max]` (`torch.clamp`); either bound may be `None`, and a given
    /// bound is a plain number or `Some(v)` (`x.clamp(0.0, 1.0)`, `x.clamp(None, 1.0)`;
    /// `clamp(min=a)` is also [`Tensor::clamp_min`]). NaN stays NaN.
    /// The gradient passes only where the input is strictly inside the given bounds: it is 0
    /// at `x == min`, at `x == max` and at NaN, as in PyTorch 2.15.
    pub fn clamp(&self, min: impl Into<Option<f64>>, max: impl Into<Option<f64>>) -> Tensor {
        let (min, max) = (min.into(), max.into());
        let out = unary(UnaryOp::Clamp(min, max), self);
        record(out, &[self], "ClampBackward1", || {
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                // Only the bounds given take part, so clamp(max=2) still passes at -inf.
                let inside = match (min, max) {
                    (Some(l), Some(h)) => x.gt_scalar(l).logical_and(&x.lt_scalar(h)),
                    (Some(l), None) => x.gt_scalar(l),
                    (None, Some(h)) => x.lt_scalar(h),
                    (None, None) => x.eq(x),
                };
                vec![Some(g.mul(&inside.to_dtype(g.dtype())))]
            }
        })
    }

    /// `clamp(min=v)`.
    pub fn clamp_min(&self, v: f64) -> Tensor {
        self.clamp(Some(v), None)
    }

    /// `clamp(max=v)`.
    pub fn clamp_max(&self, v: f64) -> Tensor {
        self.clamp(None, Some(v))
    }
}
