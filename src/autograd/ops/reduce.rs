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
        record(out, &[self], "SumBackward1", move || {
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
        self.sum_dims(dims, keepdim).div_scalar(count as f64)
    }

    /// Sums broadcast dimensions away so the result has `shape` (the adjoint of `expand`).
    pub fn sum_to_size(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        let lead = self.dim() - shape.len();
        let dims: Vec<isize> = (0..self.dim())
            .filter(|&i| i < lead || (shape[i - lead] == 1 && self.shape()[i] != 1))
            .map(|i| i as isize)
            .collect();
        self.sum_dims(&dims, true).reshape(shape)
    }
}
