//! Dtype conversion and contiguous copies.

use super::elementwise::map_slice;
use crate::tensor::{BufferElement, DType, Tensor};

/// Converts `x` to `dtype` (a copy; the same dtype still copies).
///
/// Element by element through f64 as [`Tensor::to_vec`] converts, but in parallel and at
/// the CPU's best SIMD level ([`map_slice`]).
pub fn cast(x: &Tensor, dtype: DType) -> Tensor {
    fn to<T: BufferElement>(x: &Tensor) -> Tensor {
        if T::DTYPE == x.dtype() {
            return contiguous_copy(x);
        }
        fn from<S: BufferElement, T: BufferElement>(x: &Tensor) -> Vec<T> {
            x.with_contiguous(|s: &[S]| map_slice(s, |v| T::from_f64(v.to_f64())))
        }
        let v = match x.dtype() {
            DType::F32 => from::<f32, T>(x),
            DType::F64 => from::<f64, T>(x),
            DType::I64 => from::<i64, T>(x),
            DType::U8 => from::<u8, T>(x),
            DType::Bool => from::<bool, T>(x),
        };
        Tensor::from_vec(v, x.shape())
    }
    match dtype {
        DType::F32 => to::<f32>(x),
        DType::F64 => to::<f64>(x),
        DType::I64 => to::<i64>(x),
        DType::U8 => to::<u8>(x),
        DType::Bool => to::<bool>(x),
    }
}

/// A contiguous copy of `x` with the same dtype.
pub fn contiguous_copy(x: &Tensor) -> Tensor {
    fn go<T: BufferElement>(x: &Tensor) -> Tensor {
        Tensor::from_vec(x.gather_vec::<T>(), x.shape())
    }
    match x.dtype() {
        DType::F32 => go::<f32>(x),
        DType::F64 => go::<f64>(x),
        DType::I64 => go::<i64>(x),
        DType::U8 => go::<u8>(x),
        DType::Bool => go::<bool>(x),
    }
}
