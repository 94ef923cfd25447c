//! Views that share storage: reshape/view, flatten, squeeze/unsqueeze, transpose/t/permute,
//! expand/broadcast_to, contiguous. Each backward maps the gradient back through the
//! inverse view.

use crate::autograd::record::record;
use crate::tensor::Tensor;
use crate::tensor::kernels::cast::contiguous_copy;
use crate::tensor::layout::{checked_numel, normalize_dim};
use crate::tensor::size::ShapeArg;

/// Resolves one `-1` entry of a requested shape against `numel`.
fn infer_shape(op: &str, shape: &[isize], numel: usize, from: &[usize]) -> Vec<usize> {
    let known_dims: Vec<usize> = shape
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .collect();
    let known = checked_numel(&known_dims);
    if let Some(d) = shape.iter().find(|&&d| d < -1) {
        panic!("{op}: invalid shape dimension {d} (shape {shape:?})");
    }
    let free = shape.iter().filter(|&&d| d == -1).count();
    assert!(free <= 1, "{op}: only one dimension can be inferred");
    let out: Vec<usize> = shape
        .iter()
        .map(|&d| {
            if d == -1 {
                numel.checked_div(known).unwrap_or(0)
            } else {
                d as usize
            }
        })
        .collect();
    assert!(
        checked_numel(&out) == numel && (free == 0 || known != 0),
        "{op}: shape {shape:?} is invalid for input of size {numel} (input shape {from:?})"
    );
    out
}

impl Tensor {
    /// The same elements with another shape; shares storage when the strides allow,
    /// copies otherwise (`tensor.reshape`). One entry may be `-1`, inferred from the
    /// others (`x.reshape(&[2, -1])`); see [`ShapeArg`] for what `shape` may be.
    pub fn reshape(&self, shape: impl ShapeArg) -> Tensor {
        let new_shape = infer_shape("reshape", &shape.dims(), self.numel(), self.shape());
        if new_shape == self.shape() {
            return self.shallow_clone();
        }
        let out = match self.layout().reshaped(&new_shape) {
            Some(l) => self.with_layout(l),
            None => contiguous_copy(self).reshape_raw(&new_shape),
        };
        let in_shape = self.size();
        record(out, &[self], "ViewBackward0", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.reshape(&in_shape))]
        })
    }

    /// The old name of [`Tensor::reshape`] with a `-1` entry (`reshape` takes one now).
    pub fn reshape_infer(&self, shape: &[isize]) -> Tensor {
        self.reshape(shape)
    }

    fn reshape_raw(&self, shape: &[usize]) -> Tensor {
        self.with_layout(self.layout().reshaped(shape).expect("contiguous reshape"))
    }

    /// Like `reshape` but panics instead of copying when the strides do not allow a view
    /// (`tensor.view`).
    pub fn view(&self, shape: impl ShapeArg) -> Tensor {
        let new_shape = infer_shape("view", &shape.dims(), self.numel(), self.shape());
        assert!(
            self.layout().reshaped(&new_shape).is_some(),
            "view: size {new_shape:?} is not compatible with input tensor's size {:?} and stride {:?}; \
             use .reshape(...) instead",
            self.shape(),
            self.stride()
        );
        self.reshape(&new_shape)
    }

    /// `self.view(other.size())` (`tensor.view_as(other)`).
    ///
    /// # Panics
    /// As [`Tensor::view`]: if the element counts differ or the strides allow no view.
    pub fn view_as(&self, other: &Tensor) -> Tensor {
        let shape: Vec<isize> = other.shape().iter().map(|&d| d as isize).collect();
        self.view(&shape)
    }

    /// Flattens dims `start..=end` into one (`torch.flatten(x, start, end)`).
    pub fn flatten(&self, start: isize, end: isize) -> Tensor {
        if self.dim() == 0 {
            return self.reshape(&[1]);
        }
        let s = normalize_dim(start, self.dim(), "flatten");
        let e = normalize_dim(end, self.dim(), "flatten");
        assert!(s <= e, "flatten: start_dim cannot come after end_dim");
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape(&shape)
    }

    /// Reorders dimensions (`tensor.permute`).
    pub fn permute(&self, dims: &[isize]) -> Tensor {
        assert_eq!(
            dims.len(),
            self.dim(),
            "permute: number of dims don't match in permute (input shape {:?}, dims {dims:?})",
            self.shape()
        );
        let d: Vec<usize> = dims
            .iter()
            .map(|&x| normalize_dim(x, self.dim(), "permute"))
            .collect();
        let mut seen = vec![false; d.len()];
        for &x in &d {
            assert!(!seen[x], "permute: repeated dim in permute {dims:?}");
            seen[x] = true;
        }
        let out = self.with_layout(self.layout().permuted(&d));
        let mut inverse = vec![0isize; d.len()];
        for (i, &x) in d.iter().enumerate() {
            inverse[x] = i as isize;
        }
        record(out, &[self], "PermuteBackward0", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.permute(&inverse))]
        })
    }

    /// Swaps two dimensions (`tensor.transpose(d0, d1)`).
    pub fn transpose(&self, d0: isize, d1: isize) -> Tensor {
        if self.dim() < 2 && d0 == d1 {
            return self.shallow_clone();
        }
        let mut perm: Vec<isize> = (0..self.dim() as isize).collect();
        let a = normalize_dim(d0, self.dim(), "transpose");
        let b = normalize_dim(d1, self.dim(), "transpose");
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Transpose of a matrix; 0-D and 1-D tensors are returned as is (`tensor.t()`).
    pub fn t(&self) -> Tensor {
        assert!(
            self.dim() <= 2,
            "t() expects a tensor with <= 2 dimensions, but self is {}D",
            self.dim()
        );
        if self.dim() < 2 {
            self.shallow_clone()
        } else {
            self.transpose(0, 1)
        }
    }

    /// Inserts a size-1 dimension (`tensor.unsqueeze(dim)`).
    pub fn unsqueeze(&self, dim: isize) -> Tensor {
        let d = normalize_dim(dim, self.dim() + 1, "unsqueeze");
        let out = self.with_layout(self.layout().unsqueezed(d));
        let in_shape = self.size();
        record(out, &[self], "UnsqueezeBackward0", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.reshape(&in_shape))]
        })
    }

    /// Removes every size-1 dimension (`tensor.squeeze()`).
    pub fn squeeze(&self) -> Tensor {
        let shape: Vec<usize> = self.shape().iter().copied().filter(|&d| d != 1).collect();
        self.reshape(&shape)
    }

    /// Removes `dim` if it has size 1 (`tensor.squeeze(dim)`).
    pub fn squeeze_dim(&self, dim: isize) -> Tensor {
        if self.dim() == 0 {
            return self.shallow_clone();
        }
        let d = normalize_dim(dim, self.dim(), "squeeze");
        if self.shape()[d] != 1 {
            return self.shallow_clone();
        }
        let out = self.with_layout(self.layout().squeezed(d));
        let in_shape = self.size();
        record(out, &[self], "SqueezeBackward1", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.reshape(&in_shape))]
        })
    }

    /// Broadcasts to `shape` without copying (`tensor.expand`); `-1` keeps a dim's size
    /// (`x.expand(&[5, -1])`), as in PyTorch.
    pub fn expand(&self, shape: impl ShapeArg) -> Tensor {
        let want = shape.dims();
        let lead = want.len().saturating_sub(self.dim());
        let shape: Vec<usize> = want
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if d >= 0 {
                    return d as usize;
                }
                assert!(
                    d == -1 && i >= lead,
                    "expand: the expanded size of the tensor ({d}) isn't allowed in a leading, \
                     non-existing dimension {i} (expanding {:?} to {want:?})",
                    self.shape()
                );
                self.shape()[i - lead]
            })
            .collect();
        let shape = &shape[..];
        if self.shape() == shape {
            return self.shallow_clone();
        }
        let l = self.layout().expanded(shape).unwrap_or_else(|| {
            panic!(
                "expand: the expanded size of the tensor {shape:?} must match the existing size {:?} at \
                 non-singleton dimensions",
                self.shape()
            )
        });
        let out = self.with_layout(l);
        let in_shape = self.size();
        record(out, &[self], "ExpandBackward0", move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.sum_to_size(&in_shape))]
        })
    }

    /// `expand` under NumPy's name (`torch.broadcast_to`).
    pub fn broadcast_to(&self, shape: impl ShapeArg) -> Tensor {
        self.expand(shape)
    }

    /// A contiguous tensor with the same values; `self` if already contiguous.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() {
            return self.shallow_clone();
        }
        let out = contiguous_copy(self);
        record(out, &[self], "CloneBackward0", || {
            |g: &Tensor, _: &[bool]| vec![Some(g.shallow_clone())]
        })
    }

    /// PyTorch's `tensor.clone()`: a copy with its own storage, so an in-place update of
    /// either leaves the other untouched; differentiable (`CloneBackward0`: the gradient
    /// passes through unchanged). The copy is contiguous.
    ///
    /// This inherent method is what `t.clone()` calls (inherent methods win over traits in
    /// method-call syntax). The `Clone` trait's `clone` is different: it shares the handle
    /// (same storage, same autograd identity, like Python's `b = a`), so
    /// `#[derive(Clone)]` structs and generic code stay O(1); call it by name with
    /// [`Tensor::shallow_clone`].
    ///
    /// ```
    /// let w = kiln::tensor(&[1.0f32, 2.0]);
    /// let c = w.clone();
    /// c.add_scalar_(1.0);
    /// assert_eq!(w.to_vec::<f32>(), [1.0, 2.0]);
    /// assert_eq!(c.to_vec::<f32>(), [2.0, 3.0]);
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn clone(&self) -> Tensor {
        let out = contiguous_copy(self);
        record(out, &[self], "CloneBackward0", || {
            |g: &Tensor, _: &[bool]| vec![Some(g.shallow_clone())]
        })
    }

    /// The old name of [`Tensor::clone`] (PyTorch's copying clone).
    #[deprecated(note = "`tensor.clone()` now copies as PyTorch's does; call `clone()`")]
    #[allow(deprecated)]
    pub fn deep_clone(&self) -> Tensor {
        self.clone()
    }
}
