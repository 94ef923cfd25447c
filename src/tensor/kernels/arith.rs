//! Named elementwise arithmetic: binary ops, comparisons, logical ops and their
//! in-place forms. Operands arrive promoted to one dtype (autograd's `promote`); the
//! kernels broadcast.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// A binary elementwise op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b` (numeric dtypes).
    Add,
    /// `a - b` (numeric dtypes).
    Sub,
    /// `a * b` (numeric dtypes).
    Mul,
    /// `a / b` (float dtypes).
    Div,
    /// `a ** b` (float dtypes).
    Pow,
    /// `torch.minimum`: NaN wins (numeric dtypes).
    Minimum,
    /// `torch.maximum`: NaN wins (numeric dtypes).
    Maximum,
}

impl BinaryOp {
    /// The op's PyTorch name (`"add"`), used in messages.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Maximum => "maximum",
        }
    }

    /// The in-place op's name (`"add_"`).
    pub fn inplace_name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add_",
            BinaryOp::Sub => "sub_",
            BinaryOp::Mul => "mul_",
            BinaryOp::Div => "div_",
            BinaryOp::Pow => "pow_",
            BinaryOp::Minimum => "minimum_",
            BinaryOp::Maximum => "maximum_",
        }
    }
}

/// A comparison, giving a `bool` mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CompareOp {
    /// The op's PyTorch name (`"eq"`), used in messages.
    pub fn name(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
        }
    }
}

/// A logical op on `bool` masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicalOp {
    /// `torch.logical_and`.
    And,
    /// `torch.logical_or`.
    Or,
}

/// `op(a, b)` with broadcasting, for `a` and `b` of one dtype; panics naming the op for
/// a dtype it does not support.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor {
    select(op.name(), &[a, b]).binary(op, a, b)
}

/// `op(a, b)` as a `bool` mask, with broadcasting, for `a` and `b` of one dtype.
pub fn compare(op: CompareOp, a: &Tensor, b: &Tensor) -> Tensor {
    select(op.name(), &[a, b]).compare(op, a, b)
}

/// `op(a, b)` for two `bool` masks, with broadcasting.
pub fn logical(op: LogicalOp, a: &Tensor, b: &Tensor) -> Tensor {
    select("logical", &[a, b]).logical(op, a, b)
}

/// `!x` for a `bool` mask.
pub fn logical_not(x: &Tensor) -> Tensor {
    select("logical_not", &[x]).logical_not(x)
}

/// `dst = op(dst, src)` in place, `src` (same dtype) broadcast to `dst`'s shape.
pub fn binary_(op: BinaryOp, dst: &Tensor, src: &Tensor) {
    select(op.inplace_name(), &[dst, src]).binary_(op, dst, src)
}

/// `dst += alpha * src` in place for a float `dst` (`add_(src, alpha=alpha)`).
pub fn add_scaled_(dst: &Tensor, src: &Tensor, alpha: f64) {
    select("add_", &[dst, src]).add_scaled_(dst, src, alpha)
}

/// `dst = alpha * src` for a float `dst` and `src` of its shape and dtype
/// (`torch.mul(src, alpha, out=dst)`): one pass where a copy and an in-place scaling
/// would make two.
pub fn assign_scaled(dst: &Tensor, src: &Tensor, alpha: f64) {
    select("mul_out", &[dst, src]).assign_scaled(dst, src, alpha)
}

/// Overwrites `dst` with `value` (same dtype), broadcast to `dst`'s shape; `op` names
/// the caller in messages.
pub fn assign(op: &str, dst: &Tensor, value: &Tensor) {
    select(op, &[dst, value]).assign(op, dst, value)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use super::{BinaryOp, CompareOp, LogicalOp};
    use crate::tensor::kernels::elementwise::{copy_contiguous, map, zip, zip_assign};
    use crate::tensor::{BufferElement, DType, Element, Tensor};
    use crate::{float_dispatch, numeric_dispatch};

    /// `+`, `-`, `*` that wrap around for integers, as PyTorch's (C++) integer kernels do
    /// (`uint8` 2 - 3 is 255), instead of panicking on overflow.
    trait Wrapping: Copy {
        fn w_add(self, o: Self) -> Self;
        fn w_sub(self, o: Self) -> Self;
        fn w_mul(self, o: Self) -> Self;
    }
    macro_rules! wrapping {
        (float $($t:ty),*) => {$(impl Wrapping for $t {
            fn w_add(self, o: Self) -> Self { self + o }
            fn w_sub(self, o: Self) -> Self { self - o }
            fn w_mul(self, o: Self) -> Self { self * o }
        })*};
        (int $($t:ty),*) => {$(impl Wrapping for $t {
            fn w_add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn w_sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            fn w_mul(self, o: Self) -> Self { self.wrapping_mul(o) }
        })*};
    }
    wrapping!(float f32, f64);
    wrapping!(int i64, u8);

    /// NaN test that also compiles for integers (where it is always false).
    fn is_nan<T: PartialOrd>(x: T) -> bool {
        x.partial_cmp(&x).is_none()
    }

    /// See [`super::binary`].
    pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor {
        let name = op.name();
        match op {
            BinaryOp::Add => {
                numeric_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| x.w_add(y)))
            }
            BinaryOp::Sub => {
                numeric_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| x.w_sub(y)))
            }
            BinaryOp::Mul => {
                numeric_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| x.w_mul(y)))
            }
            BinaryOp::Div => {
                float_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| x / y))
            }
            BinaryOp::Pow => {
                float_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| num_traits::Float::powf(x, y)))
            }
            BinaryOp::Minimum => {
                numeric_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| if is_nan(x) || x < y { x } else { y }))
            }
            BinaryOp::Maximum => {
                numeric_dispatch!(name, a.dtype(), T => zip::<T, T>(name, a, b, |x: T, y: T| if is_nan(x) || x > y { x } else { y }))
            }
        }
    }

    fn compare_typed<T: BufferElement>(op: CompareOp, a: &Tensor, b: &Tensor) -> Tensor {
        let name = op.name();
        match op {
            CompareOp::Eq => zip::<T, bool>(name, a, b, |x, y| x == y),
            CompareOp::Ne => zip::<T, bool>(name, a, b, |x, y| x != y),
            CompareOp::Lt => zip::<T, bool>(name, a, b, |x, y| x < y),
            CompareOp::Le => zip::<T, bool>(name, a, b, |x, y| x <= y),
            CompareOp::Gt => zip::<T, bool>(name, a, b, |x, y| x > y),
            CompareOp::Ge => zip::<T, bool>(name, a, b, |x, y| x >= y),
        }
    }

    /// See [`super::compare`].
    pub fn compare(op: CompareOp, a: &Tensor, b: &Tensor) -> Tensor {
        if a.dtype() == DType::Bool {
            return compare_typed::<bool>(op, a, b);
        }
        numeric_dispatch!(op.name(), a.dtype(), T => compare_typed::<T>(op, a, b))
    }

    /// See [`super::logical`].
    pub fn logical(op: LogicalOp, a: &Tensor, b: &Tensor) -> Tensor {
        match op {
            LogicalOp::And => zip::<bool, bool>("logical_and", a, b, |x, y| x && y),
            LogicalOp::Or => zip::<bool, bool>("logical_or", a, b, |x, y| x || y),
        }
    }

    /// See [`super::logical_not`].
    pub fn logical_not(x: &Tensor) -> Tensor {
        map::<bool, bool>(x, |v| !v)
    }

    /// See [`super::binary_`].
    pub fn binary_(op: BinaryOp, dst: &Tensor, src: &Tensor) {
        let name = op.inplace_name();
        match op {
            BinaryOp::Add => {
                numeric_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| a.w_add(b)))
            }
            BinaryOp::Sub => {
                numeric_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| a.w_sub(b)))
            }
            BinaryOp::Mul => {
                numeric_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| a.w_mul(b)))
            }
            BinaryOp::Div => {
                numeric_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| a / b))
            }
            BinaryOp::Pow => {
                float_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| num_traits::Float::powf(a, b)))
            }
            BinaryOp::Minimum => {
                numeric_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| if is_nan(a) || a < b { a } else { b }))
            }
            BinaryOp::Maximum => {
                numeric_dispatch!(name, dst.dtype(), T => zip_assign::<T>(name, dst, src, |a: T, b: T| if is_nan(a) || a > b { a } else { b }))
            }
        }
    }

    /// See [`super::add_scaled_`].
    pub fn add_scaled_(dst: &Tensor, src: &Tensor, alpha: f64) {
        float_dispatch!("add_", dst.dtype(), T => {
            let k = T::from_f64(alpha);
            zip_assign::<T>("add_", dst, src, move |a: T, b: T| a + b * k)
        })
    }

    /// See [`super::assign_scaled`].
    pub fn assign_scaled(dst: &Tensor, src: &Tensor, alpha: f64) {
        float_dispatch!("mul_out", dst.dtype(), T => {
            let k = T::from_f64(alpha);
            zip_assign::<T>("mul_out", dst, src, move |_: T, b: T| b * k)
        })
    }

    /// See [`super::assign`].
    pub fn assign(op: &str, dst: &Tensor, value: &Tensor) {
        fn go<T: BufferElement>(op: &str, dst: &Tensor, v: &Tensor) {
            if !copy_contiguous::<T>(dst, v) {
                zip_assign::<T>(op, dst, v, |_, s| s);
            }
        }
        crate::dtype_dispatch!(
            op, dst.dtype(), T => go::<T>(op, dst, value);
            F32 => f32, F64 => f64, I64 => i64, U8 => u8, Bool => bool
        )
    }
}

#[cfg(test)]
mod tests {
    use super::assign_scaled;
    use crate::tensor::Tensor;

    /// `dst = alpha * src` overwrites whatever `dst` held, in both float types, into a
    /// contiguous `dst` and a strided view of a bigger buffer (the rest left alone), with
    /// PyTorch's rounding of `mul_out`: the scalar cast to the element type first.
    #[test]
    fn assign_scaled_overwrites_with_the_product() {
        let src = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, 0.1], &[4]);
        let dst = Tensor::from_vec(vec![9.0f32; 4], &[4]);
        assign_scaled(&dst, &src, 1.0 / 3.0);
        let third = (1.0f64 / 3.0) as f32;
        let want: Vec<f32> = [1.0f32, -2.0, 3.0, 0.1].iter().map(|v| v * third).collect();
        assert_eq!(dst.to_vec::<f32>(), want);

        let big = Tensor::from_vec(vec![7.0f64; 6], &[2, 3]);
        let col = big.narrow(1, 1, 1).reshape(&[2]);
        let src64 = Tensor::from_vec(vec![2.0f64, -4.0], &[2]);
        assign_scaled(&col, &src64, 0.5);
        assert_eq!(big.to_vec::<f64>(), vec![7.0, 1.0, 7.0, 7.0, -2.0, 7.0]);
    }
}
