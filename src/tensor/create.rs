//! Creating tensors: from Rust data, constant fills, ranges and random draws.

use super::random::{Generator, with_global};
use super::{DType, Tensor};

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

fn filled(shape: &[usize], value: f64, dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    match dtype {
        DType::F32 => Tensor::from_vec(vec![value as f32; n], shape),
        DType::F64 => Tensor::from_vec(vec![value; n], shape),
        DType::I64 => Tensor::from_vec(vec![value as i64; n], shape),
        DType::U8 => Tensor::from_vec(vec![value as u8; n], shape),
        DType::Bool => Tensor::from_vec(vec![value != 0.0; n], shape),
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
        filled(shape, 0.0, DType::F32)
    }

    /// Ones of the given shape (f32).
    pub fn ones(shape: &[usize]) -> Tensor {
        filled(shape, 1.0, DType::F32)
    }

    /// A tensor filled with `value` (f32).
    pub fn full(shape: &[usize], value: f64) -> Tensor {
        filled(shape, value, DType::F32)
    }

    /// A tensor filled with `value` of the given dtype.
    pub fn full_dtype(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        filled(shape, value, dtype)
    }

    /// Zeros of the given shape and dtype.
    pub fn zeros_dtype(shape: &[usize], dtype: DType) -> Tensor {
        filled(shape, 0.0, dtype)
    }

    /// Ones of the given shape and dtype.
    pub fn ones_dtype(shape: &[usize], dtype: DType) -> Tensor {
        filled(shape, 1.0, dtype)
    }

    /// Zeros with this tensor's shape and dtype (`torch.zeros_like`).
    pub fn zeros_like(&self) -> Tensor {
        filled(self.shape(), 0.0, self.dtype())
    }

    /// Ones with this tensor's shape and dtype (`torch.ones_like`).
    pub fn ones_like(&self) -> Tensor {
        filled(self.shape(), 1.0, self.dtype())
    }

    /// `value` everywhere, with this tensor's shape and dtype (`torch.full_like`).
    pub fn full_like(&self, value: f64) -> Tensor {
        filled(self.shape(), value, self.dtype())
    }

    /// A 0-D tensor of `dtype` holding `value`.
    pub fn scalar_dtype(value: f64, dtype: DType) -> Tensor {
        filled(&[], value, dtype)
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

    /// Uniform draws in [0, 1) from the default generator (f32).
    pub fn rand(shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::rand_with(shape, DType::F32, g))
    }

    /// Standard normal draws from the default generator (f32).
    pub fn randn(shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::randn_with(shape, DType::F32, g))
    }

    /// Uniform integers in `[low, high)` from the default generator (i64).
    pub fn randint(low: i64, high: i64, shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::randint_with(low, high, shape, g))
    }

    /// Uniform draws in [0, 1) of `dtype` from an explicit generator.
    pub fn rand_with(shape: &[usize], dtype: DType, g: &mut Generator) -> Tensor {
        let n: usize = shape.iter().product();
        match dtype {
            DType::F64 => Tensor::from_vec((0..n).map(|_| g.uniform_f64()).collect(), shape),
            _ => Tensor::from_vec((0..n).map(|_| g.uniform_f32()).collect::<Vec<f32>>(), shape)
                .to_dtype(dtype),
        }
    }

    /// Standard normal draws of `dtype` from an explicit generator.
    pub fn randn_with(shape: &[usize], dtype: DType, g: &mut Generator) -> Tensor {
        let n: usize = shape.iter().product();
        from_f64s((0..n).map(|_| g.normal()).collect(), shape, dtype)
    }

    /// Uniform integers in `[low, high)` from an explicit generator.
    pub fn randint_with(low: i64, high: i64, shape: &[usize], g: &mut Generator) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(
            (0..n).map(|_| g.randint(low, high)).collect::<Vec<i64>>(),
            shape,
        )
    }

    /// Draws 1 with probability given by each element (`torch.bernoulli`), same dtype.
    pub fn bernoulli(&self) -> Tensor {
        with_global(|g| self.bernoulli_with(g))
    }

    /// `bernoulli` from an explicit generator.
    pub fn bernoulli_with(&self, g: &mut Generator) -> Tensor {
        let p = self.to_vec::<f64>();
        let v: Vec<f64> = p
            .iter()
            .map(|&p| if g.uniform_f64() < p { 1.0 } else { 0.0 })
            .collect();
        from_f64s(v, self.shape(), self.dtype())
    }

    /// A copy with another dtype (`tensor.to(dtype)`); no history is recorded here, see
    /// the differentiable `to_dtype` in autograd for floats.
    pub(crate) fn cast_raw(&self, dtype: DType) -> Tensor {
        super::kernels::cast::cast(self, dtype)
    }
}
