//! Dtype conversion and contiguous copies.

use crate::tensor::{BufferElement, DType, Tensor};

/// Converts `x` to `dtype` (a copy; the same dtype still copies).
pub fn cast(x: &Tensor, dtype: DType) -> Tensor {
    match dtype {
        DType::F32 => Tensor::from_vec(x.to_vec::<f32>(), x.shape()),
        DType::F64 => Tensor::from_vec(x.to_vec::<f64>(), x.shape()),
        DType::I64 => Tensor::from_vec(x.to_vec::<i64>(), x.shape()),
        DType::U8 => Tensor::from_vec(x.to_vec::<u8>(), x.shape()),
        DType::Bool => Tensor::from_vec(x.to_vec::<bool>(), x.shape()),
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
