//! Creating tensors: from Rust data, constant fills, ranges and random draws.

use super::backend::for_device;
use super::layout::checked_alloc_numel;
use super::random::{Generator, with_global};
use super::{DType, Device, Tensor};

/// Rust values that `kiln::tensor` accepts, like the nested lists `torch.tensor` takes.
///
/// Floats become `f32` (PyTorch's default dtype), integers `i64`, booleans `bool`.
pub trait TensorData {
    /// The flattened values (as f64), the shape, and the dtype they become.
    fn flatten(&self) -> (Vec<f64>, Vec<usize>, DType);
}

macro_rules! scalar_data {
    ($t:ty, $d:expr) => {
        impl TensorData for $t {
            fn flatten(&self) -> (Vec<f64>, Vec<usize>, DType) {
                (vec![*self as f64], vec![], $d)
            }
        }
    };
}
scalar_data!(f64, DType::F32);
scalar_data!(f32, DType::F32);
scalar_data!(i64, DType::I64);
scalar_data!(i32, DType::I64);
scalar_data!(u8, DType::U8);

impl TensorData for bool {
    fn flatten(&self) -> (Vec<f64>, Vec<usize>, DType) {
        (vec![if *self { 1.0 } else { 0.0 }], vec![], DType::Bool)
    }
}

impl<T: TensorData, const N: usize> TensorData for [T; N] {
    fn flatten(&self) -> (Vec<f64>, Vec<usize>, DType) {
        self.as_slice().flatten()
    }
}

impl<T: TensorData> TensorData for Vec<T> {
    fn flatten(&self) -> (Vec<f64>, Vec<usize>, DType) {
        self.as_slice().flatten()
    }
}

impl<T: TensorData> TensorData for [T] {
    fn flatten(&self) -> (Vec<f64>, Vec<usize>, DType) {
        let mut values = Vec::new();
        let mut inner: Option<Vec<usize>> = None;
        let mut dtype = DType::F32;
        for item in self {
            let (v, s, d) = item.flatten();
            if let Some(prev) = &inner {
                assert_eq!(
                    prev, &s,
                    "tensor: expected sequence of equal-length lists, got shapes {prev:?} and {s:?}"
                );
            }
            inner = Some(s);
            dtype = d;
            values.extend(v);
        }
        let mut shape = vec![self.len()];
        shape.extend(inner.unwrap_or_default());
        (values, shape, dtype)
    }
}

/// Builds a tensor from nested arrays or vectors, like `torch.tensor(data)`.
///
/// ```
/// let x = kiln::tensor(&[[1.0, 2.0], [3.0, 4.0]]);
/// assert_eq!(x.shape(), &[2, 2]);
/// ```
pub fn tensor<D: TensorData + ?Sized>(data: &D) -> Tensor {
    let (values, shape, dtype) = data.flatten();
    Tensor::from_vec(values, &shape).to_dtype(dtype)
}

fn filled(op: &str, shape: &[usize], value: f64, dtype: DType) -> Tensor {
    let n = checked_alloc_numel(op, shape, dtype.size_in_bytes());
    match dtype {
        DType::F32 => Tensor::from_vec(super::alloc::filled_vec(n, value as f32), shape),
        DType::F64 => Tensor::from_vec(super::alloc::filled_vec(n, value), shape),
        DType::I64 => Tensor::from_vec(super::alloc::filled_vec(n, value as i64), shape),
        DType::U8 => Tensor::from_vec(super::alloc::filled_vec(n, value as u8), shape),
        DType::Bool => Tensor::from_vec(super::alloc::filled_vec(n, value != 0.0), shape),
    }
}

/// `make()` built in host memory, then placed on `device` (`device=` of PyTorch's
/// factories); panics naming `op` for a device this build has no backend for.
fn on(op: &str, device: Device, make: impl FnOnce() -> Tensor) -> Tensor {
    let backend = for_device(op, device);
    let host = make();
    if device == Device::Cpu {
        host
    } else {
        backend.upload(&host)
    }
}

fn from_f64s(values: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    match dtype {
        DType::F64 => Tensor::from_vec(values, shape),
        DType::F32 => Tensor::from_vec(values.into_iter().map(|v| v as f32).collect(), shape),
        _ => Tensor::from_vec(values, shape).to_dtype(dtype),
    }
}

impl Tensor {
    /// Zeros of the given shape (f32).
    pub fn zeros(shape: &[usize]) -> Tensor {
        filled("zeros", shape, 0.0, DType::F32)
    }

    /// Ones of the given shape (f32).
    pub fn ones(shape: &[usize]) -> Tensor {
        filled("ones", shape, 1.0, DType::F32)
    }

    /// A tensor filled with `value` (f32).
    pub fn full(shape: &[usize], value: f64) -> Tensor {
        filled("full", shape, value, DType::F32)
    }

    /// A tensor filled with `value` of the given dtype.
    pub fn full_dtype(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        filled("full", shape, value, dtype)
    }

    /// Zeros of the given shape and dtype.
    pub fn zeros_dtype(shape: &[usize], dtype: DType) -> Tensor {
        filled("zeros", shape, 0.0, dtype)
    }

    /// Ones of the given shape and dtype.
    pub fn ones_dtype(shape: &[usize], dtype: DType) -> Tensor {
        filled("ones", shape, 1.0, dtype)
    }

    /// Zeros of the given shape and dtype on `device`
    /// (`torch.zeros(shape, dtype=dtype, device=device)`).
    pub fn zeros_on(shape: &[usize], dtype: DType, device: Device) -> Tensor {
        on("zeros", device, || filled("zeros", shape, 0.0, dtype))
    }

    /// Ones of the given shape and dtype on `device` (`torch.ones(..., device=device)`).
    pub fn ones_on(shape: &[usize], dtype: DType, device: Device) -> Tensor {
        on("ones", device, || filled("ones", shape, 1.0, dtype))
    }

    /// `value` everywhere, of the given dtype, on `device` (`torch.full(..., device=device)`).
    pub fn full_on(shape: &[usize], value: f64, dtype: DType, device: Device) -> Tensor {
        on("full", device, || filled("full", shape, value, dtype))
    }

    /// `arange` of `dtype` on `device` (`torch.arange(..., device=device)`).
    pub fn arange_on(start: f64, end: f64, step: f64, dtype: DType, device: Device) -> Tensor {
        on("arange", device, || {
            Tensor::arange_dtype(start, end, step, dtype)
        })
    }

    /// Uniform draws in [0, 1) of a float `dtype` on `device`, from the default generator
    /// (`torch.rand(..., device=device)`; the draws are the CPU generator's).
    pub fn rand_on(shape: &[usize], dtype: DType, device: Device) -> Tensor {
        on("rand", device, || Tensor::rand_dtype(shape, dtype))
    }

    /// Standard normal draws of a float `dtype` on `device`, from the default generator
    /// (`torch.randn(..., device=device)`; the draws are the CPU generator's).
    pub fn randn_on(shape: &[usize], dtype: DType, device: Device) -> Tensor {
        on("randn", device, || Tensor::randn_dtype(shape, dtype))
    }

    /// Zeros with this tensor's shape and dtype (`torch.zeros_like`), on this tensor's device.
    pub fn zeros_like(&self) -> Tensor {
        on("zeros_like", self.device(), || {
            filled("zeros_like", self.shape(), 0.0, self.dtype())
        })
    }

    /// Ones with this tensor's shape and dtype (`torch.ones_like`), on this tensor's device.
    pub fn ones_like(&self) -> Tensor {
        on("ones_like", self.device(), || {
            filled("ones_like", self.shape(), 1.0, self.dtype())
        })
    }

    /// `value` everywhere, with this tensor's shape and dtype (`torch.full_like`), on this tensor's device.
    pub fn full_like(&self, value: f64) -> Tensor {
        on("full_like", self.device(), || {
            filled("full_like", self.shape(), value, self.dtype())
        })
    }

    /// A 0-D tensor of `dtype` holding `value`.
    pub fn scalar_dtype(value: f64, dtype: DType) -> Tensor {
        filled("scalar_tensor", &[], value, dtype)
    }

    /// `[start, start + step, ...)` below `end`, as f32 (`torch.arange(start, end, step)`).
    pub fn arange(start: f64, end: f64, step: f64) -> Tensor {
        Tensor::arange_dtype(start, end, step, DType::F32)
    }

    /// `arange` with an explicit dtype (`torch.arange(n)` of integers is i64).
    pub fn arange_dtype(start: f64, end: f64, step: f64, dtype: DType) -> Tensor {
        assert!(step != 0.0, "arange: step must be nonzero");
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        from_f64s(
            (0..n).map(|i| start + i as f64 * step).collect(),
            &[n],
            dtype,
        )
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive (f32), as `torch.linspace`.
    pub fn linspace(start: f64, end: f64, steps: usize) -> Tensor {
        let step = if steps > 1 {
            (end - start) / (steps - 1) as f64
        } else {
            0.0
        };
        // PyTorch fills the first half from `start` and the second half from `end`.
        let half = steps / 2;
        let values = (0..steps)
            .map(|i| {
                if i < half {
                    start + step * i as f64
                } else {
                    end - step * (steps - 1 - i) as f64
                }
            })
            .collect();
        from_f64s(values, &[steps], DType::F32)
    }

    /// The `n`×`n` identity (f32).
    pub fn eye(n: usize) -> Tensor {
        let mut v = vec![0f32; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_vec(v, &[n, n])
    }

    /// Uniform draws in [0, 1) from the default generator (f32), like `torch.rand`.
    pub fn rand(shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::rand_with(shape, DType::F32, g))
    }

    /// Uniform draws in [0, 1) of a float `dtype` from the default generator.
    pub fn rand_dtype(shape: &[usize], dtype: DType) -> Tensor {
        with_global(|g| Tensor::rand_with(shape, dtype, g))
    }

    /// Standard normal draws from the default generator (f32), like `torch.randn`.
    pub fn randn(shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::randn_with(shape, DType::F32, g))
    }

    /// Standard normal draws of a float `dtype` from the default generator.
    pub fn randn_dtype(shape: &[usize], dtype: DType) -> Tensor {
        with_global(|g| Tensor::randn_with(shape, dtype, g))
    }

    /// Uniform integers in `[low, high)` from the default generator (i64), like `torch.randint`.
    pub fn randint(low: i64, high: i64, shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::randint_with(low, high, shape, g))
    }

    /// A random permutation of `0..n` from the default generator (i64), like `torch.randperm`.
    pub fn randperm(n: usize) -> Tensor {
        with_global(|g| Tensor::randperm_with(n, g))
    }

    /// Uniform draws in [0, 1) of a float `dtype` from an explicit generator.
    pub fn rand_with(shape: &[usize], dtype: DType, g: &mut Generator) -> Tensor {
        Tensor::uniform_with(shape, 0.0, 1.0, dtype, g)
    }

    /// Uniform draws in `[low, high)` of a float `dtype`, as `torch.empty(shape).uniform_(low, high)`.
    pub fn uniform_with(
        shape: &[usize],
        low: f64,
        high: f64,
        dtype: DType,
        g: &mut Generator,
    ) -> Tensor {
        let n = checked_alloc_numel("uniform_", shape, dtype.size_in_bytes());
        match dtype {
            DType::F32 => {
                let mut v = vec![0f32; n];
                g.fill_uniform_f32(&mut v, low, high);
                Tensor::from_vec(v, shape)
            }
            DType::F64 => {
                let mut v = vec![0f64; n];
                g.fill_uniform_f64(&mut v, low, high);
                Tensor::from_vec(v, shape)
            }
            d => panic!("\"uniform_\" not implemented for '{}'", d.torch_name()),
        }
    }

    /// Standard normal draws of a float `dtype` from an explicit generator.
    pub fn randn_with(shape: &[usize], dtype: DType, g: &mut Generator) -> Tensor {
        Tensor::normal_with(shape, 0.0, 1.0, dtype, g)
    }

    /// Normal draws of a float `dtype`, as `torch.empty(shape).normal_(mean, std)`.
    pub fn normal_with(
        shape: &[usize],
        mean: f64,
        std: f64,
        dtype: DType,
        g: &mut Generator,
    ) -> Tensor {
        let n = checked_alloc_numel("normal_", shape, dtype.size_in_bytes());
        match dtype {
            DType::F32 => {
                let mut v = vec![0f32; n];
                g.fill_normal_f32(&mut v, mean, std);
                Tensor::from_vec(v, shape)
            }
            DType::F64 => {
                let mut v = vec![0f64; n];
                g.fill_normal_f64(&mut v, mean, std);
                Tensor::from_vec(v, shape)
            }
            d => panic!(
                "\"normal_kernel_cpu\" not implemented for '{}'",
                d.torch_name()
            ),
        }
    }

    /// Uniform integers in `[low, high)` from an explicit generator.
    pub fn randint_with(low: i64, high: i64, shape: &[usize], g: &mut Generator) -> Tensor {
        let n = checked_alloc_numel("randint", shape, DType::I64.size_in_bytes());
        Tensor::from_vec(
            (0..n).map(|_| g.randint(low, high)).collect::<Vec<i64>>(),
            shape,
        )
    }

    /// A random permutation of `0..n` (i64) from an explicit generator.
    pub fn randperm_with(n: usize, g: &mut Generator) -> Tensor {
        Tensor::from_vec(g.randperm(n), &[n])
    }

    /// Draws 1 with the probability given by each element (`torch.bernoulli(p)`); same
    /// shape and dtype as the (float) probabilities.
    pub fn bernoulli(&self) -> Tensor {
        with_global(|g| self.bernoulli_with(g))
    }

    /// `bernoulli` from an explicit generator.
    pub fn bernoulli_with(&self, g: &mut Generator) -> Tensor {
        match self.dtype() {
            DType::F32 => {
                let v: Vec<f32> = self
                    .to_vec::<f32>()
                    .into_iter()
                    .map(|p| if g.bernoulli_f32(p) { 1.0 } else { 0.0 })
                    .collect();
                Tensor::from_vec(v, self.shape())
            }
            DType::F64 => {
                let v: Vec<f64> = self
                    .to_vec::<f64>()
                    .into_iter()
                    .map(|p| if g.bernoulli_f64(p) { 1.0 } else { 0.0 })
                    .collect();
                Tensor::from_vec(v, self.shape())
            }
            d => panic!(
                "\"bernoulli_tensor_cpu_p_\" not implemented for '{}'",
                d.torch_name()
            ),
        }
    }

    /// A copy with another dtype (`tensor.to(dtype)`); no history is recorded here, see
    /// the differentiable `to_dtype` in autograd for floats.
    pub(crate) fn cast_raw(&self, dtype: DType) -> Tensor {
        super::kernels::cast::cast(self, dtype)
    }
}
