//! Dtype conversion: `to_dtype`, `float()`, `double()`, `long()`.

use crate::autograd::record::record;
use crate::tensor::backend::for_device;
use crate::tensor::{DType, Device, Tensor};

impl Tensor {
    /// A copy converted to `dtype` (`tensor.to(dtype)`); returns `self` if already that
    /// type. Float-to-float conversions are differentiable.
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.shallow_clone();
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
            return self.shallow_clone();
        }
        let target = for_device("to", device);
        let out = target.upload(&for_device("to", src).download(self));
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

#[cfg(test)]
mod tests {
    use crate::tensor::{DType, Device, Tensor};

    #[test]
    fn to_the_same_device_is_self() {
        let x = Tensor::randn(&[3]).requires_grad_(true);
        assert_eq!(x.device(), Device::Cpu);
        let y = x.to(Device::Cpu);
        assert!(y.same_tensor(&x));
        let z = x.to("cpu".parse().unwrap()).mul_scalar(2.0).sum();
        z.backward();
        assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![2.0; 3]);
    }

    #[test]
    #[should_panic(expected = "to: kiln not compiled with CUDA enabled")]
    fn to_cuda_panics_without_a_cuda_backend() {
        Tensor::zeros(&[2]).to(Device::Cuda(0));
    }

    #[test]
    fn factories_take_a_device() {
        let z = Tensor::zeros_on(&[2, 3], DType::F64, Device::Cpu);
        assert_eq!(
            (z.shape(), z.dtype(), z.device()),
            (&[2, 3][..], DType::F64, Device::Cpu)
        );
        assert_eq!(
            Tensor::ones_on(&[2], DType::I64, Device::Cpu).to_vec::<i64>(),
            vec![1, 1]
        );
        assert_eq!(
            Tensor::full_on(&[1], 7.0, DType::F32, Device::Cpu).to_vec::<f32>(),
            vec![7.0]
        );
        assert_eq!(
            Tensor::arange_on(0.0, 3.0, 1.0, DType::I64, Device::Cpu).numel(),
            3
        );
        assert_eq!(
            Tensor::randn_on(&[4], DType::F32, Device::Cpu).device(),
            Device::Cpu
        );
        assert_eq!(
            Tensor::rand_on(&[4], DType::F64, Device::Cpu).dtype(),
            DType::F64
        );
        assert_eq!(z.zeros_like().device(), Device::Cpu);
    }

    #[test]
    #[should_panic(expected = "zeros: kiln not compiled with CUDA enabled")]
    fn factories_panic_on_cuda() {
        Tensor::zeros_on(&[2], DType::F32, "cuda:0".parse().unwrap());
    }
}
