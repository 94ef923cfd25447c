//! Dtype conversion: `to_dtype`, `float()`, `double()`, `long()`.

use crate::autograd::record::record;
use crate::tensor::backend::for_device;
use crate::tensor::{DType, Device, Tensor};

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

    /// A copy on `device` (`tensor.to(device)`); returns `self` if already there, as
    /// PyTorch does. Differentiable: the gradient moves back to `self`'s device.
    ///
    /// Panics for a device this build has no backend for (any `cuda` device).
    pub fn to(&self, device: Device) -> Tensor {
        let src = self.device();
        if device == src {
            return self.clone();
        }
        let target = for_device("to", device);
        let out = target.from_host(&for_device("to", src).to_host(self));
        if !self.dtype().is_float() {
            return out;
        }
        record(out, &[self], "ToCopyBackward0", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.to(src))]
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
