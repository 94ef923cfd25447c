//! Sum-like reductions: sum, mean, and `sum_to_size` (the adjoint of broadcasting).

use crate::autograd::record::record;
use crate::tensor::Tensor;
use crate::tensor::kernels::reductions;
use crate::tensor::layout::normalize_dim;

/// Resolves a dim list (negative allowed, empty = all dims) into sorted unique dims.
pub(crate) fn resolve_dims(op: &str, x: &Tensor, dims: &[isize]) -> Vec<usize> {
    if dims.is_empty() {
        return (0..x.dim()).collect();
    }
    let mut out: Vec<usize> = dims
        .iter()
        .map(|&d| normalize_dim(d, x.dim(), op))
        .collect();
    out.sort_unstable();
    out.dedup();
    if x.dim() == 0 {
        out.clear();
    }
    out
}

/// The shape after reducing `dims`, keeping them as size 1 when `keepdim`.
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if dims.contains(&i) {
                keepdim.then_some(1)
            } else {
                Some(d)
            }
        })
        .collect()
}

impl Tensor {
    /// Sum of all elements, as a 0-D tensor (`tensor.sum()`).
    pub fn sum(&self) -> Tensor {
        self.sum_dims(&[], false)
    }

    /// Sum over `dims` (negative indices allowed; empty = all), keeping them as size 1
    /// when `keepdim` (`tensor.sum(dim, keepdim)`).
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let d = resolve_dims("sum", self, dims);
        let out = reductions::sum(self, &d).reshape(&reduced_shape(self.shape(), &d, keepdim));
        let in_shape = self.size();
        let kept = reduced_shape(self.shape(), &d, true);
        // PyTorch's node names: `x.sum()` makes SumBackward0, `x.sum(dim)` SumBackward1.
        let name = if dims.is_empty() {
            "SumBackward0"
        } else {
            "SumBackward1"
        };
        record(out, &[self], name, move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.reshape(&kept).expand(&in_shape))]
        })
    }

    /// Mean of all elements (`tensor.mean()`).
    pub fn mean(&self) -> Tensor {
        self.mean_dims(&[], false)
    }

    /// Mean over `dims` (`tensor.mean(dim, keepdim)`).
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Tensor {
        assert!(
            self.dtype().is_float(),
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
            self.dtype()
        );
        let d = resolve_dims("mean", self, dims);
        let count: usize = d.iter().map(|&i| self.shape()[i]).product();
        let out = reductions::sum(self, &d)
            .reshape(&reduced_shape(self.shape(), &d, keepdim))
            .div_scalar(count as f64);
        let in_shape = self.size();
        let kept = reduced_shape(self.shape(), &d, true);
        // One node, as PyTorch's graph has: MeanBackward0 for `x.mean()`,
        // MeanBackward1 for `x.mean(dim)`.
        let name = if dims.is_empty() {
            "MeanBackward0"
        } else {
            "MeanBackward1"
        };
        record(out, &[self], name, move || {
            move |g: &Tensor, _: &[bool]| {
                vec![Some(
                    g.div_scalar(count as f64).reshape(&kept).expand(&in_shape),
                )]
            }
        })
    }

    /// Sums broadcast dimensions away so the result has `shape` (the adjoint of `expand`).
    pub fn sum_to_size(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.shallow_clone();
        }
        let lead = self.dim() - shape.len();
        let dims: Vec<isize> = (0..self.dim())
            .filter(|&i| i < lead || (shape[i - lead] == 1 && self.shape()[i] != 1))
            .map(|i| i as isize)
            .collect();
        self.sum_dims(&dims, true).reshape(shape)
    }
}
