//! Python-style scalar operands and `torch.result_type`.
//!
//! PyTorch types `x * 2`, `x * 2.0` and `x * True` differently: a Python number is a
//! "wrapped number" whose kind (bool, integer, float) matters but whose precision does
//! not. [`Scalar`] keeps that kind (`2` is [`Scalar::Int`], `2.0` is [`Scalar::Float`]),
//! and [`result_type`] follows ATen's rules: operands are grouped into dimensioned
//! tensors, 0-d tensors and scalars; a lower group only decides the dtype when it is of a
//! higher category (bool < integer < float) than every group above it. So an int64 tensor
//! times `2.0` is float32 (the default dtype), a float32 tensor times a float64 0-d
//! tensor stays float32, and a uint8 tensor plus `300` stays uint8.

use super::{DType, Device, Tensor};

/// A Python scalar operand: its kind decides promotion (`torch.result_type`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// A Python `bool`.
    Bool(bool),
    /// A Python `int`.
    Int(i64),
    /// A Python `float`.
    Float(f64),
}

impl Scalar {
    /// The value as f64 (`True` is 1).
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }

    /// The dtype a wrapped number of this kind contributes: `bool`, `int64`, or the
    /// default float dtype (`float32`).
    pub fn dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DType::F32,
        }
    }

    /// A 0-d tensor of `dtype` holding the value, on `like`'s device. An integer goes into
    /// int64 exactly (also past 2^53) and into uint8 modulo 256, as PyTorch converts a
    /// Python int (`uint8 + 300` adds 44).
    pub(crate) fn to_tensor_like(self, dtype: DType, like: &Tensor) -> Tensor {
        match (self, dtype) {
            (Scalar::Int(i), DType::I64) if matches!(like.device(), Device::Cpu) => {
                Tensor::scalar(i)
            }
            (Scalar::Int(i), DType::U8) if matches!(like.device(), Device::Cpu) => {
                Tensor::scalar(i as u8)
            }
            _ => Tensor::full_on(&[], self.to_f64(), dtype, like.device()),
        }
    }
}

macro_rules! scalar_from {
    ($($t:ty => $v:ident($conv:expr)),* $(,)?) => {$(
        impl From<$t> for Scalar {
            fn from(x: $t) -> Scalar {
                let f: fn($t) -> Scalar = |x| Scalar::$v($conv(x));
                f(x)
            }
        }
    )*};
}

/// A Rust integer as a Python `int`: kiln's integers are int64, so a `u64`/`usize` past
/// `i64::MAX` panics as PyTorch refuses `tensor + 2**64` ("int too big to convert").
fn int_scalar<T: TryInto<i64> + Copy + std::fmt::Display>(x: T) -> i64 {
    x.try_into()
        .unwrap_or_else(|_| panic!("int too big to convert: {x} does not fit in int64"))
}

scalar_from!(
    f64 => Float(|x| x),
    f32 => Float(f64::from),
    i64 => Int(|x| x),
    i32 => Int(i64::from),
    i16 => Int(i64::from),
    i8 => Int(i64::from),
    isize => Int(int_scalar),
    u64 => Int(int_scalar),
    u32 => Int(i64::from),
    u16 => Int(i64::from),
    u8 => Int(i64::from),
    usize => Int(int_scalar),
    bool => Bool(|x| x),
);

/// A Rust value that is a Python scalar operand: every number type and `bool`. It is
/// what the operators take on the right of a tensor (`&x * n`, `x += n`); its kind, not
/// its width, decides promotion.
pub trait ScalarOperand: Into<Scalar> + Copy {}

macro_rules! scalar_operand {
    ($($t:ty),*) => {$(impl ScalarOperand for $t {})*};
}

scalar_operand!(
    f64, f32, i64, i32, i16, i8, isize, u64, u32, u16, u8, usize, bool
);

/// One operand of [`result_type`]: a tensor or a Python scalar.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a> {
    /// A tensor (0-d or dimensioned).
    Tensor(&'a Tensor),
    /// A Python scalar.
    Scalar(Scalar),
}

impl<'a> From<&'a Tensor> for Operand<'a> {
    fn from(t: &'a Tensor) -> Self {
        Operand::Tensor(t)
    }
}

impl<S: Into<Scalar>> From<S> for Operand<'_> {
    fn from(s: S) -> Self {
        Operand::Scalar(s.into())
    }
}

fn promote_opt(a: Option<DType>, b: Option<DType>) -> Option<DType> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.promote(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// ATen's `combine_categories`: `higher` decides unless `lower` is of a higher category.
fn combine(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (Some(h), _) if h.is_float() => Some(h),
        (Some(h), Some(l)) if h == DType::Bool || l.is_float() => Some(h.promote(l)),
        (Some(h), _) => Some(h),
        (None, l) => l,
    }
}

/// The dtype PyTorch computes `op(operands...)` in (`torch.result_type`), for
/// arithmetic and comparisons; true division then takes float32 if this is not a
/// float type.
///
/// ```
/// use kiln::tensor::scalar::{result_type, Operand};
/// use kiln::{DType, Tensor, tensor};
/// let i = tensor(&[1i64, 2]);
/// assert_eq!(result_type(&[Operand::from(&i), Operand::from(2.0)]), DType::F32);
/// assert_eq!(result_type(&[Operand::from(&i), Operand::from(2)]), DType::I64);
/// ```
pub fn result_type(operands: &[Operand<'_>]) -> DType {
    let (mut dim, mut zero, mut wrapped) = (None, None, None);
    for op in operands {
        match op {
            Operand::Tensor(t) if t.dim() > 0 => dim = promote_opt(dim, Some(t.dtype())),
            Operand::Tensor(t) => zero = promote_opt(zero, Some(t.dtype())),
            Operand::Scalar(s) => wrapped = promote_opt(wrapped, Some(s.dtype())),
        }
    }
    combine(dim, combine(zero, wrapped)).expect("result_type: needs at least one operand")
}

impl Tensor {
    /// `torch.result_type(self, other)` for a tensor or a Python scalar `other`.
    pub fn result_type<'a>(&'a self, other: impl Into<Operand<'a>>) -> DType {
        result_type(&[Operand::Tensor(self), other.into()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_groups_only_raise_the_category() {
        let t = |d: DType, n: usize| Tensor::zeros_dtype(&vec![1; n], d);
        let (i, f, b, u) = (DType::I64, DType::F32, DType::Bool, DType::U8);
        assert_eq!(t(i, 1).result_type(2.0), f);
        assert_eq!(t(i, 1).result_type(2), i);
        assert_eq!(t(u, 1).result_type(300), u);
        assert_eq!(t(b, 1).result_type(2), i);
        assert_eq!(t(b, 1).result_type(true), b);
        assert_eq!(t(f, 1).result_type(&t(DType::F64, 0)), f);
        assert_eq!(t(i, 1).result_type(&t(DType::F64, 0)), DType::F64);
        assert_eq!(t(i, 0).result_type(2.5), f);
        assert_eq!(t(u, 0).result_type(&t(i, 0)), i);
    }
}
