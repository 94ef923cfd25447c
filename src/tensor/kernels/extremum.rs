//! Extremum reductions with PyTorch's NaN rule (the first NaN wins every comparison):
//! the extreme values over dims, the index of the first extreme along a dim, and picking
//! one element per run by index.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// Unrecorded max (or min) of `x` over `dims`, the reduced dims removed; `op` names the
/// caller in messages.
pub fn extreme(op: &str, x: &Tensor, dims: &[usize], is_max: bool) -> Tensor {
    select(op, &[x]).extreme(op, x, dims, is_max)
}

/// The i64 index of the first max (or min) along `dim`, that dim removed.
pub fn arg_extreme(op: &str, x: &Tensor, dim: usize, is_max: bool) -> Tensor {
    select(op, &[x]).arg_extreme(op, x, dim, is_max)
}

/// Element `idx[k]` of every contiguous run `k` of length `n` of `c`, shaped `shape`.
pub fn take_along(op: &str, c: &Tensor, idx: &[i64], n: usize, shape: &[usize]) -> Tensor {
    select(op, &[c]).take_along(op, c, idx, n, shape)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::numeric_dispatch;
    use crate::tensor::kernels::reduce::reduce;
    use crate::tensor::{BufferElement, DType, Element, Tensor};

    /// NaN test that also compiles for integers and bools (always false there).
    fn is_nan<T: PartialOrd>(v: T) -> bool {
        v.partial_cmp(&v).is_none()
    }

    /// Index of the first maximum (or minimum) of `s`; the first NaN wins outright.
    fn pick<T: Element>(s: &[T], is_max: bool) -> usize {
        let mut best = 0;
        for (i, &v) in s.iter().enumerate().skip(1) {
            let b = s[best];
            if is_nan(b) {
                break;
            }
            if is_nan(v) || (if is_max { v > b } else { v < b }) {
                best = i;
            }
        }
        best
    }

    /// See [`super::extreme`].
    pub fn extreme(op: &str, x: &Tensor, dims: &[usize], is_max: bool) -> Tensor {
        if x.dtype() == DType::Bool {
            return reduce::<bool, bool>(x, dims, move |s: &[bool]| s[pick(s, is_max)]);
        }
        numeric_dispatch!(op, x.dtype(), T => reduce::<T, T>(x, dims, move |s: &[T]| s[pick(s, is_max)]))
    }

    /// See [`super::arg_extreme`].
    pub fn arg_extreme(op: &str, x: &Tensor, dim: usize, is_max: bool) -> Tensor {
        if x.dtype() == DType::Bool {
            return reduce::<bool, i64>(x, &[dim], move |s: &[bool]| pick(s, is_max) as i64);
        }
        numeric_dispatch!(op, x.dtype(), T => reduce::<T, i64>(x, &[dim], move |s: &[T]| pick(s, is_max) as i64))
    }

    fn take_along_typed<T: BufferElement>(
        c: &Tensor,
        idx: &[i64],
        n: usize,
        shape: &[usize],
    ) -> Tensor {
        let v: Vec<T> = c.with_contiguous(|s: &[T]| {
            idx.iter()
                .enumerate()
                .map(|(k, &i)| s[k * n + i as usize])
                .collect()
        });
        Tensor::from_vec(v, shape)
    }

    /// See [`super::take_along`].
    pub fn take_along(op: &str, c: &Tensor, idx: &[i64], n: usize, shape: &[usize]) -> Tensor {
        if c.dtype() == DType::Bool {
            return take_along_typed::<bool>(c, idx, n, shape);
        }
        numeric_dispatch!(op, c.dtype(), T => take_along_typed::<T>(c, idx, n, shape))
    }
}
