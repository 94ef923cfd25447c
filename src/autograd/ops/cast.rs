//! Dtype conversion: `to_dtype`, `float()`, `double()`, `long()`.

use crate::autograd::record::record;
use crate::tensor::{DType, Tensor};

impl Tensor {
    /// A copy converted to `dtype` (`tensor.to(dtype)`); returns `self` if already that
    /// type. Float-to-float conversions are differentiable.
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let out = self.cast_raw(dtype);
        if !dtype.is_float() {
            return out;
        }
        let src = self.dtype();
        record(out, &[self], "ToCopyBackward0", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.to_dtype(src))]
        })
    }

    /// Converts to f32 (`tensor.float()`).
    pub fn float(&self) -> Tensor {
        self.to_dtype(DType::F32)
    }

    /// Converts to f64 (`tensor.double()`).
    pub fn double(&self) -> Tensor {
        self.to_dtype(DType::F64)
    }

    /// Converts to i64 (`tensor.long()`).
    pub fn long(&self) -> Tensor {
        self.to_dtype(DType::I64)
    }
}
