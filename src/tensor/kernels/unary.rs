//! Named unary elementwise ops: math functions, activations and their fused
//! derivatives, with PyTorch's NaN rules.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// `sqrt(2 / pi)`, the scale inside the tanh approximation of gelu.
const GELU_BETA: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of gelu.
const GELU_KAPPA: f64 = 0.044715;

/// A unary elementwise op. Float-only unless noted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `e^x`.
    Exp,
    /// `ln x`.
    Log,
    /// `ln(1 + x)`.
    Log1p,
    /// `sqrt x`.
    Sqrt,
    /// `1 / sqrt x`.
    Rsqrt,
    /// `sin x`.
    Sin,
    /// `cos x`.
    Cos,
    /// `tanh x`.
    Tanh,
    /// The stable logistic sigmoid.
    Sigmoid,
    /// `|x|`.
    Abs,
    /// `-x` (numeric dtypes).
    Neg,
    /// `-1`, `0` or `1` by sign (NaN stays NaN).
    Sign,
    /// `x ** e` (`x * x` for `e == 2`).
    PowScalar(f64),
    /// Clamp into the given bounds (numeric dtypes; NaN stays NaN).
    Clamp(Option<f64>, Option<f64>),
    /// `max(x, 0)`, NaN stays NaN.
    Relu,
    /// `x` for `x > 0`, else `slope * x`.
    LeakyRelu(f64),
    /// The Gauss error function (libm's, in f64).
    Erf,
    /// `x * Phi(x)`.
    Gelu,
    /// The derivative of [`UnaryOp::Gelu`].
    GeluGrad,
    /// Gelu's tanh approximation.
    GeluTanh,
    /// The derivative of [`UnaryOp::GeluTanh`].
    GeluTanhGrad,
    /// `log(1 + e^(beta x)) / beta`, `x` where `beta x > threshold`.
    Softplus {
        /// `beta`.
        beta: f64,
        /// `threshold`.
        threshold: f64,
    },
    /// The derivative of [`UnaryOp::Softplus`].
    SoftplusGrad {
        /// `beta`.
        beta: f64,
        /// `threshold`.
        threshold: f64,
    },
    /// `x * sigmoid(x)`.
    Silu,
    /// The derivative of [`UnaryOp::Silu`].
    SiluGrad,
}

impl UnaryOp {
    /// The op's PyTorch name, used in messages.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Abs => "abs",
            UnaryOp::Neg => "neg",
            UnaryOp::Sign => "sign",
            UnaryOp::PowScalar(_) => "pow",
            UnaryOp::Clamp(..) => "clamp",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Erf => "erf",
            UnaryOp::Gelu | UnaryOp::GeluTanh => "gelu",
            UnaryOp::GeluGrad | UnaryOp::GeluTanhGrad => "gelu_backward",
            UnaryOp::Softplus { .. } => "softplus",
            UnaryOp::SoftplusGrad { .. } => "softplus_backward",
            UnaryOp::Silu => "silu",
            UnaryOp::SiluGrad => "silu_backward",
        }
    }
}

/// `op(x)` elementwise, a new contiguous tensor of `x`'s shape and dtype; panics naming
/// the op for a dtype it does not support.
pub fn unary(op: UnaryOp, x: &Tensor) -> Tensor {
    select(op.name(), &[x]).unary(op, x)
}

/// PyTorch's `threshold_backward` for relu in one pass: `out <= 0 ? 0 : g`.
pub fn relu_backward(g: &Tensor, out: &Tensor) -> Tensor {
    select("relu backward", &[g, out]).relu_backward(g, out)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use super::{GELU_BETA, GELU_KAPPA, UnaryOp};
    use crate::tensor::kernels::elementwise::{map, zip};
    use crate::tensor::{DType, Element, Float, Tensor};
    use crate::{float_dispatch, numeric_dispatch};
    use num_traits::{One, Zero};
    use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};

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

    /// A float function applied to an f32 or f64 tensor.
    fn float_map(name: &str, x: &Tensor, f32f: fn(f32) -> f32, f64f: fn(f64) -> f64) -> Tensor {
        match x.dtype() {
            DType::F32 => map::<f32, f32>(x, f32f),
            DType::F64 => map::<f64, f64>(x, f64f),
            d => panic!("{name}: not implemented for dtype {d}"),
        }
    }

    /// Runs `|v: T| body` over a float tensor with `T` its element type.
    macro_rules! fmap {
        ($op:expr, $x:expr, |$v:ident : $T:ident| $body:expr) => {
            float_dispatch!($op, $x.dtype(), $T => map::<$T, $T>($x, move |$v: $T| $body))
        };
    }

    /// Applies a plain float function (`fn(T) -> T` for both float types).
    macro_rules! plain {
        ($name:expr, $x:expr, |$v:ident| $f:expr) => {{
            fn k<T: Float>($v: T) -> T {
                $f
            }
            float_map($name, $x, k::<f32>, k::<f64>)
        }};
    }

    /// See [`super::unary`].
    pub fn unary(op: UnaryOp, x: &Tensor) -> Tensor {
        let name = op.name();
        match op {
            UnaryOp::Exp => plain!(name, x, |v| v.exp()),
            UnaryOp::Log => plain!(name, x, |v| v.ln()),
            UnaryOp::Log1p => plain!(name, x, |v| v.ln_1p()),
            UnaryOp::Sqrt => plain!(name, x, |v| v.sqrt()),
            UnaryOp::Rsqrt => plain!(name, x, |v| v.sqrt().recip()),
            UnaryOp::Sin => plain!(name, x, |v| v.sin()),
            UnaryOp::Cos => plain!(name, x, |v| v.cos()),
            UnaryOp::Tanh => plain!(name, x, |v| v.tanh()),
            UnaryOp::Sigmoid => plain!(name, x, |v| sigmoid_t(v)),
            UnaryOp::Abs => plain!(name, x, |v| v.abs()),
            UnaryOp::Neg => {
                numeric_dispatch!(name, x.dtype(), T => map::<T, T>(x, |v: T| T::default() - v))
            }
            UnaryOp::Sign => fmap!(name, x, |v: T| {
                if v > T::zero() {
                    T::one()
                } else if v < T::zero() {
                    -T::one()
                } else {
                    v
                }
            }),
            UnaryOp::PowScalar(e) => float_dispatch!(name, x.dtype(), T => {
                let et = T::c(e);
                if e == 2.0 {
                    map::<T, T>(x, |v: T| v * v)
                } else {
                    map::<T, T>(x, move |v: T| v.powf(et))
                }
            }),
            UnaryOp::Clamp(min, max) => {
                let lo = min.unwrap_or(f64::NEG_INFINITY);
                let hi = max.unwrap_or(f64::INFINITY);
                numeric_dispatch!(name, x.dtype(), T => {
                    let (l, h) = (T::from_f64(lo.max(-1e300)), T::from_f64(hi.min(1e300)));
                    let (has_l, has_h) = (min.is_some(), max.is_some());
                    map::<T, T>(x, move |v: T| {
                        let v = if has_l && v < l { l } else { v };
                        if has_h && v > h { h } else { v }
                    })
                })
            }
            UnaryOp::Relu => fmap!(name, x, |v: T| if v > T::zero() || v.is_nan() {
                v
            } else {
                T::zero()
            }),
            UnaryOp::LeakyRelu(slope) => fmap!(name, x, |v: T| {
                if v > T::zero() { v } else { v * T::c(slope) }
            }),
            UnaryOp::Erf => fmap!(name, x, |v: T| erf_t(v)),
            UnaryOp::Gelu => fmap!(name, x, |v: T| v * phi_t(v)),
            UnaryOp::GeluGrad => {
                let inv_sqrt_2pi = 0.5 * FRAC_2_SQRT_PI * FRAC_1_SQRT_2;
                fmap!(name, x, |v: T| {
                    let pdf = T::c(inv_sqrt_2pi) * (-(v * v) * T::c(0.5)).exp();
                    phi_t(v) + v * pdf
                })
            }
            UnaryOp::GeluTanh => fmap!(name, x, |v: T| {
                let inner = T::c(GELU_BETA) * (v + T::c(GELU_KAPPA) * v * v * v);
                T::c(0.5) * v * (T::one() + inner.tanh())
            }),
            UnaryOp::GeluTanhGrad => fmap!(name, x, |v: T| {
                let (half, beta, kappa) = (T::c(0.5), T::c(GELU_BETA), T::c(GELU_KAPPA));
                let x2 = v * v;
                let t = (beta * (v + kappa * x2 * v)).tanh();
                let right =
                    half * v * (T::one() - t * t) * beta * (T::one() + T::c(3.0) * kappa * x2);
                half * (T::one() + t) + right
            }),
            UnaryOp::Softplus { beta, threshold } => fmap!(name, x, |v: T| {
                let (b, th) = (T::c(beta), T::c(threshold));
                if v * b > th {
                    v
                } else {
                    (v * b).exp().ln_1p() / b
                }
            }),
            UnaryOp::SoftplusGrad { beta, threshold } => fmap!(name, x, |v: T| {
                let bx = v * T::c(beta);
                if bx > T::c(threshold) {
                    T::one()
                } else {
                    sigmoid_t(bx)
                }
            }),
            UnaryOp::Silu => fmap!(name, x, |v: T| v * sigmoid_t(v)),
            UnaryOp::SiluGrad => fmap!(name, x, |v: T| {
                let s = sigmoid_t(v);
                s * (T::one() + v * (T::one() - s))
            }),
        }
    }

    /// See [`super::relu_backward`].
    pub fn relu_backward(g: &Tensor, out: &Tensor) -> Tensor {
        float_dispatch!("relu backward", g.dtype(), T => {
            zip::<T, T>("relu backward", g, out, |g, o| if o <= T::zero() { T::zero() } else { g })
        })
    }
}
