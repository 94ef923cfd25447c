//! Index-driven copies with op-level signatures: index_select / index_add, gather /
//! scatter_add, cat, and the zero-padded scatter of a slice's gradient. Indices arrive
//! checked (`kernels::index::checked_indices`); the typed loops are in `kernels::index`.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// The entries `idx` of `x` along `dim` (`x.dim() >= 1`), any dtype.
pub fn index_select(x: &Tensor, dim: usize, idx: &[usize]) -> Tensor {
    select("index_select", &[x]).index_select(x, dim, idx)
}

/// `x` with the slices of `source` added at `idx` along `dim` (numeric dtypes).
pub fn index_add(x: &Tensor, dim: usize, idx: &[usize], source: &Tensor) -> Tensor {
    select("index_add", &[x, source]).index_add(x, dim, idx, source)
}

/// `out[..i..] = x[..idx[..i..]..]` along `dim`, shaped `index_shape`, any dtype.
pub fn gather(x: &Tensor, dim: usize, idx: &[usize], index_shape: &[usize]) -> Tensor {
    select("gather", &[x]).gather(x, dim, idx, index_shape)
}

/// `x` with `src` added at `idx` (shaped `index_shape`) along `dim` (numeric dtypes).
pub fn scatter_add(
    x: &Tensor,
    dim: usize,
    idx: &[usize],
    index_shape: &[usize],
    src: &Tensor,
) -> Tensor {
    select("scatter_add", &[x, src]).scatter_add(x, dim, idx, index_shape, src)
}

/// `parts` (one dtype, equal shapes but for `dim`) joined along `dim`.
pub fn cat(parts: &[Tensor], dim: usize) -> Tensor {
    let refs: Vec<&Tensor> = parts.iter().collect();
    select("cat", &refs).cat(parts, dim)
}

/// Zeros of `in_shape` with `x` written at `start, start + step, ...` along `dim`.
pub fn slice_scatter_zeros(
    x: &Tensor,
    in_shape: &[usize],
    dim: usize,
    start: usize,
    step: usize,
) -> Tensor {
    select("slice_backward", &[x]).slice_scatter_zeros(x, in_shape, dim, start, step)
}

/// The CPU dispatch onto the typed loops of `kernels::index`.
pub mod cpu {
    use crate::tensor::Tensor;
    use crate::tensor::kernels::index as typed;
    use crate::{any_dispatch, numeric_dispatch};

    /// See [`super::index_select`].
    pub fn index_select(x: &Tensor, dim: usize, idx: &[usize]) -> Tensor {
        any_dispatch!(x.dtype(), T => typed::index_select::<T>(x, dim, idx))
    }

    /// See [`super::index_add`].
    pub fn index_add(x: &Tensor, dim: usize, idx: &[usize], source: &Tensor) -> Tensor {
        numeric_dispatch!("index_add", x.dtype(), T => typed::index_add::<T>(x, dim, idx, source))
    }

    /// See [`super::gather`].
    pub fn gather(x: &Tensor, dim: usize, idx: &[usize], index_shape: &[usize]) -> Tensor {
        any_dispatch!(x.dtype(), T => typed::gather::<T>(x, dim, idx, index_shape))
    }

    /// See [`super::scatter_add`].
    pub fn scatter_add(
        x: &Tensor,
        dim: usize,
        idx: &[usize],
        index_shape: &[usize],
        src: &Tensor,
    ) -> Tensor {
        numeric_dispatch!("scatter_add", x.dtype(), T =>
            typed::scatter_add::<T>(x, dim, idx, index_shape, src))
    }

    /// See [`super::cat`].
    pub fn cat(parts: &[Tensor], dim: usize) -> Tensor {
        any_dispatch!(parts[0].dtype(), T => typed::cat::<T>(parts, dim))
    }

    /// See [`super::slice_scatter_zeros`].
    pub fn slice_scatter_zeros(
        x: &Tensor,
        in_shape: &[usize],
        dim: usize,
        start: usize,
        step: usize,
    ) -> Tensor {
        any_dispatch!(x.dtype(), T => typed::slice_scatter_zeros::<T>(x, in_shape, dim, start, step))
    }
}
