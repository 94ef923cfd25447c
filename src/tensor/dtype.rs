//! Element types a tensor can hold, and the traits kernels are generic over.

use std::fmt;

/// The element type of a tensor, as `torch.dtype` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float, the default for floating-point tensors.
    F32,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer: indices and class labels.
    I64,
    /// Unsigned byte: raw image pixels.
    U8,
    /// Boolean: masks.
    Bool,
}

impl DType {
    /// Whether the type is a floating-point type (and so can require gradients).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::U8 | DType::Bool => 1,
        }
    }

    /// PyTorch's name for the type (`torch.float32` prints as `float32`).
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }

    /// The type two operands are promoted to, following PyTorch's promotion lattice
    /// (bool < u8 < i64 < f32 < f64).
    pub fn promote(self, other: DType) -> DType {
        fn rank(d: DType) -> u8 {
            match d {
                DType::Bool => 0,
                DType::U8 => 1,
                DType::I64 => 2,
                DType::F32 => 3,
                DType::F64 => 4,
            }
        }
        if rank(self) >= rank(other) {
            self
        } else {
            other
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.{}", self.torch_name())
    }
}

/// A Rust type that can be stored in a tensor.
pub trait Element: Copy + Send + Sync + PartialOrd + fmt::Debug + Default + 'static {
    /// The dtype tag of this element type.
    const DTYPE: DType;
    /// Converts to f64 (booleans become 0 or 1).
    fn to_f64(self) -> f64;
    /// Converts from f64 the way `Tensor.to(dtype)` does (truncation for integers).
    fn from_f64(v: f64) -> Self;
}

/// A floating-point element: the types autograd differentiates.
pub trait Float:
    Element
    + num_traits::Float
    + num_traits::FloatConst
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
{
    /// Numeric value of `x` as this type.
    fn c(x: f64) -> Self {
        Self::from_f64(x)
    }
}

macro_rules! impl_element {
    ($t:ty, $d:expr, |$v:ident| $from:expr, |$s:ident| $to:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn to_f64(self) -> f64 {
                let $s = self;
                $to
            }
            fn from_f64($v: f64) -> Self {
                $from
            }
        }
    };
}

impl_element!(f32, DType::F32, |v| v as f32, |s| s as f64);
impl_element!(f64, DType::F64, |v| v, |s| s);
impl_element!(i64, DType::I64, |v| v as i64, |s| s as f64);
impl_element!(u8, DType::U8, |v| v as u8, |s| s as f64);
impl_element!(bool, DType::Bool, |v| v != 0.0, |s| if s {
    1.0
} else {
    0.0
});

impl Float for f32 {}
impl Float for f64 {}
