//! Extremum reductions: max/min over everything, amax/amin over dims, max_dim/min_dim
//! with indices, argmax/argmin.
//!
//! Tie rules follow PyTorch: reductions that return only values (`max()`, `amax`) split
//! the gradient evenly among tied elements; `max_dim` sends all of it to the returned
//! index, which (like `argmax`) is the first occurrence. NaN wins every comparison.

use super::reduce::{reduced_shape, resolve_dims};
use crate::autograd::record::{Saved, record, record_out};
use crate::tensor::kernels::extremum as kernel;
use crate::tensor::layout::normalize_dim;
use crate::tensor::{DType, Tensor};

/// Resolves `dims` like [`resolve_dims`], panicking when a dim is named twice.
pub(crate) fn resolve_unique_dims(op: &str, x: &Tensor, dims: &[isize]) -> Vec<usize> {
    let mut seen = Vec::with_capacity(dims.len());
    for &d in dims {
        let n = normalize_dim(d, x.dim(), op);
        assert!(
            !seen.contains(&n),
            "{op}: dim {n} appears multiple times in the list of dims {dims:?}"
        );
        seen.push(n);
    }
    resolve_dims(op, x, dims)
}

/// Panics like PyTorch when a reduced dim is empty (an extremum has no identity).
fn check_nonempty(op: &str, x: &Tensor, dims: &[usize]) {
    if x.dim() == 0 {
        return;
    }
    for &d in dims {
        assert!(
            x.shape()[d] != 0,
            "{op}(): Expected reduction dim {d} to have non-zero size (input shape {:?})",
            x.shape()
        );
    }
}

/// The gradient of a values-only extremum: split evenly among the elements equal to the
/// result. With `nan_aware`, a NaN result selects the NaN inputs (PyTorch's `max()`);
/// without, it selects nothing (PyTorch's `amax`, whose gradient is then NaN).
fn even_split_backward(
    g: &Tensor,
    x: &Tensor,
    y: &Tensor,
    dims: &[usize],
    nan_aware: bool,
) -> Tensor {
    let kept = reduced_shape(x.shape(), dims, true);
    let (g, y) = (g.reshape(&kept), y.reshape(&kept));
    let mut mask = x.eq(&y);
    if nan_aware {
        mask = mask.logical_or(&x.ne(x).logical_and(&y.ne(&y)));
    }
    let mask = mask.to_dtype(g.dtype());
    let dims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
    let count = if x.dim() == 0 {
        mask.shallow_clone()
    } else {
        mask.sum_dims(&dims, true)
    };
    g.div(&count).mul(&mask)
}

impl Tensor {
    fn extreme_all(&self, is_max: bool) -> Tensor {
        let op = if is_max { "max" } else { "min" };
        assert!(
            self.numel() > 0,
            "{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the \
             reduction dim with the 'dim' argument."
        );
        let dims: Vec<usize> = (0..self.dim()).collect();
        let out = kernel::extreme(op, self, &dims, is_max);
        let node = if is_max {
            "MaxBackward1"
        } else {
            "MinBackward1"
        };
        record_out(out, &[self], node, |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                vec![Some(even_split_backward(
                    g,
                    sx.get(),
                    saved_out.get(),
                    &dims,
                    true,
                ))]
            }
        })
    }

    /// The largest element, as a 0-D tensor (`tensor.max()`); NaN if any element is NaN.
    /// Tied maxima share the gradient evenly.
    pub fn max(&self) -> Tensor {
        self.extreme_all(true)
    }

    /// The smallest element, as a 0-D tensor (`tensor.min()`); ties share the gradient.
    pub fn min(&self) -> Tensor {
        self.extreme_all(false)
    }

    fn extreme_dims(&self, dims: &[isize], keepdim: bool, is_max: bool) -> Tensor {
        let op = if is_max { "amax" } else { "amin" };
        let d = resolve_unique_dims(op, self, dims);
        check_nonempty(op, self, &d);
        let out = kernel::extreme(op, self, &d, is_max).reshape(&reduced_shape(
            self.shape(),
            &d,
            keepdim,
        ));
        let node = if is_max {
            "AmaxBackward0"
        } else {
            "AminBackward0"
        };
        record_out(out, &[self], node, |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                vec![Some(even_split_backward(
                    g,
                    sx.get(),
                    saved_out.get(),
                    &d,
                    false,
                ))]
            }
        })
    }

    /// Maximum over `dims` (empty = all), keeping them as size 1 when `keepdim`
    /// (`torch.amax`). Tied maxima share the gradient evenly.
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.extreme_dims(dims, keepdim, true)
    }

    /// Minimum over `dims` (empty = all) (`torch.amin`); ties share the gradient evenly.
    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Tensor {
        self.extreme_dims(dims, keepdim, false)
    }

    fn extreme_dim(&self, dim: isize, keepdim: bool, is_max: bool) -> (Tensor, Tensor) {
        let op = if is_max { "max" } else { "min" };
        if self.dim() == 0 {
            normalize_dim(dim, 0, op);
            return self.reshape(&[1]).extreme_dim(0, false, is_max);
        }
        let d = normalize_dim(dim, self.dim(), op);
        check_nonempty(op, self, &[d]);
        let shape = reduced_shape(self.shape(), &[d], keepdim);
        let kept = reduced_shape(self.shape(), &[d], true);
        let idx = kernel::arg_extreme(op, self, d, is_max).reshape(&shape);
        // `dim` moved last with the other dims kept in order, so run `k` of `c` is output
        // element `k` (a transpose would swap `dim` with the last dim and scramble them).
        let order: Vec<isize> = (0..self.dim())
            .filter(|&i| i != d)
            .chain([d])
            .map(|i| i as isize)
            .collect();
        let c = self.detach().permute(&order).contiguous();
        let iv = idx.to_vec::<i64>();
        let n = self.shape()[d];
        let values = kernel::take_along(op, &c, &iv, n, &shape);
        let node = if is_max {
            "MaxBackward0"
        } else {
            "MinBackward0"
        };
        let mut ar_shape = vec![1; self.dim()];
        ar_shape[d] = n;
        let idx_ref = &idx;
        let values = record(values, &[self], node, move || {
            let saved_idx = Saved::data(idx_ref);
            move |g: &Tensor, _: &[bool]| {
                // A one-hot mask of the chosen index along `dim`: all the gradient goes there.
                let ar = Tensor::arange_dtype(0.0, n as f64, 1.0, DType::I64).reshape(&ar_shape);
                let mask = ar.eq(&saved_idx.get().reshape(&kept));
                vec![Some(g.reshape(&kept).mul(&mask.to_dtype(g.dtype())))]
            }
        });
        (values, idx)
    }

    /// Maximum along `dim` and the index of its first occurrence (`torch.max(x, dim)`);
    /// the whole gradient goes to that index.
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> (Tensor, Tensor) {
        self.extreme_dim(dim, keepdim, true)
    }

    /// Minimum along `dim` and the index of its first occurrence (`torch.min(x, dim)`).
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> (Tensor, Tensor) {
        self.extreme_dim(dim, keepdim, false)
    }

    fn arg_extreme(&self, dim: Option<isize>, keepdim: bool, is_max: bool) -> Tensor {
        let op = if is_max { "argmax" } else { "argmin" };
        match dim {
            None => {
                assert!(
                    self.numel() > 0,
                    "{op}(): Expected reduction dim to be specified for input.numel() == 0."
                );
                let flat = self.detach().reshape(&[self.numel()]);
                let i = kernel::arg_extreme(op, &flat, 0, is_max);
                let shape = if keepdim { vec![1; self.dim()] } else { vec![] };
                i.reshape(&shape)
            }
            Some(dim) => {
                if self.dim() == 0 {
                    normalize_dim(dim, 0, op);
                    return Tensor::scalar(0i64);
                }
                let d = normalize_dim(dim, self.dim(), op);
                check_nonempty(op, self, &[d]);
                kernel::arg_extreme(op, &self.detach(), d, is_max).reshape(&reduced_shape(
                    self.shape(),
                    &[d],
                    keepdim,
                ))
            }
        }
    }

    /// Index of the first maximum along `dim`, a plain integer (`x.argmax(1, false)` for
    /// `x.argmax(dim=1)`), or over the flattened tensor when `dim` is `None`
    /// (`torch.argmax`); i64, not differentiable.
    pub fn argmax(&self, dim: impl Into<Option<isize>>, keepdim: bool) -> Tensor {
        self.arg_extreme(dim.into(), keepdim, true)
    }

    /// Index of the first minimum (`torch.argmin`; `dim` as in [`Tensor::argmax`]); i64,
    /// not differentiable.
    pub fn argmin(&self, dim: impl Into<Option<isize>>, keepdim: bool) -> Tensor {
        self.arg_extreme(dim.into(), keepdim, false)
    }
}
