//! `std::ops` for tensors: `&a + &b`, `a * 2.0`, `2.0 * &a`, `-&a`, owned or borrowed.

use crate::tensor::{Scalar, ScalarOperand, Tensor};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// `tensor op scalar` for every Rust number type and `bool` ([`ScalarOperand`]): the
/// scalar keeps its Python kind (any Rust integer is a Python `int`, `f32`/`f64` a
/// `float`), so `&x * n` for an `n: usize` keeps an integer tensor integral and a float
/// tensor's dtype, while an integer tensor times `2.0` is float32, as in PyTorch. One
/// generic impl per operator, so unsuffixed literals still infer (`(&x * 2.0).sum()`).
///
/// `scalar op tensor` exists for one Rust type per Python kind (`f64`, `i64`, `bool`): a
/// left-hand operand picks the impl by its own type, and with several integer types
/// `(2 * &x).sum()` would no longer infer. A `usize` on the left is `&x * n` (or
/// `n as i64 * &x`).
macro_rules! scalar_operator {
    ($trait:ident, $method:ident, $scalar_op:ident, $rscalar:expr, $($s:ty),*) => {
        impl<S: ScalarOperand> $trait<S> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: S) -> Tensor {
                Tensor::$scalar_op(self, rhs)
            }
        }
        impl<S: ScalarOperand> $trait<S> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: S) -> Tensor {
                Tensor::$scalar_op(&self, rhs)
            }
        }
        $(
        impl $trait<&Tensor> for $s {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                let f: fn(Scalar, &Tensor) -> Tensor = $rscalar;
                f(self.into(), rhs)
            }
        }
        impl $trait<Tensor> for $s {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                let f: fn(Scalar, &Tensor) -> Tensor = $rscalar;
                f(self.into(), &rhs)
            }
        }
        )*
    };
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $tensor_op:ident, $scalar_op:ident, $rscalar:expr) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$tensor_op(self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$tensor_op(&self, &rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$tensor_op(&self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$tensor_op(self, &rhs)
            }
        }
        scalar_operator!($trait, $method, $scalar_op, $rscalar, f64, i64, bool);
    };
}

binary_operator!(Add, add, add, add_scalar, |s, t| t.add_scalar(s));
binary_operator!(Sub, sub, sub, sub_scalar, |s, t| t.rsub_scalar(s));
binary_operator!(Mul, mul, mul, mul_scalar, |s, t| t.mul_scalar(s));
binary_operator!(Div, div, div, div_scalar, |s, t| t.rdiv_scalar(s));

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}

macro_rules! assign_operator {
    ($trait:ident, $method:ident, $inplace:ident, $scalar_inplace:ident) => {
        /// In place, like PyTorch's `a op= b` (shares storage with every handle on `a`).
        impl $trait<&Tensor> for Tensor {
            fn $method(&mut self, rhs: &Tensor) {
                self.$inplace(rhs);
            }
        }
        /// In place, like PyTorch's `a op= b`.
        impl $trait<Tensor> for Tensor {
            fn $method(&mut self, rhs: Tensor) {
                self.$inplace(&rhs);
            }
        }
        /// In place with a Python scalar of any Rust number type, like PyTorch's `a op= 2`
        /// or `a op= 2.0`.
        impl<S: ScalarOperand> $trait<S> for Tensor {
            fn $method(&mut self, rhs: S) {
                self.$scalar_inplace(rhs);
            }
        }
    };
}

assign_operator!(AddAssign, add_assign, add_, add_scalar_);
assign_operator!(SubAssign, sub_assign, sub_, sub_scalar_);
assign_operator!(MulAssign, mul_assign, mul_, mul_scalar_);
assign_operator!(DivAssign, div_assign, div_, div_scalar_);
