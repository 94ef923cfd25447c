//! Indexing by integer tensors and joining tensors: index_select, index_add, gather,
//! scatter_add, cat, stack. Index tensors are i64; indices are checked and an index out
//! of range panics naming the op, the index and the size.
//!
//! The forward kernels move elements of any dtype (u8 images, i64 labels, bool masks);
//! `index_add` and `scatter_add` add, so they take numeric dtypes only.

use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::gather_scatter as kernel;
use crate::tensor::kernels::index::checked_indices;
use crate::tensor::layout::normalize_dim;
use crate::tensor::{DType, Tensor};

/// Whether `t` is a 1-D tensor of size 0, which `cat` skips (PyTorch's legacy rule).
fn is_legacy_empty(t: &Tensor) -> bool {
    t.dim() == 1 && t.numel() == 0
}

/// The dtype all of `tensors` promote to.
fn promoted(tensors: &[&Tensor]) -> DType {
    tensors
        .iter()
        .fold(tensors[0].dtype(), |a, t| a.promote(t.dtype()))
}

/// `t` padded with zeros after its end in every dim up to `shape` (differentiable).
fn zero_pad_to(t: &Tensor, shape: &[usize]) -> Tensor {
    let mut t = t.shallow_clone();
    for (k, &n) in shape.iter().enumerate() {
        if t.shape()[k] != n {
            let mut s = t.size();
            s[k] = n;
            t = t.slice_backward(&s, k, 0, 1);
        }
    }
    t
}

impl Tensor {
    /// The entries `index` (a 1-D or 0-D i64 tensor) along `dim`, in that order,
    /// repeats allowed (`tensor.index_select(dim, index)`).
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Tensor {
        assert!(
            index.dim() <= 1,
            "index_select(): Index is supposed to be a vector, but got index of shape {:?}",
            index.shape()
        );
        if self.dim() == 0 {
            normalize_dim(dim, 0, "index_select");
            return self.reshape(&[1]).index_select(0, index).reshape(());
        }
        check_same_device("index_select", &[self, index]);
        let d = normalize_dim(dim, self.dim(), "index_select");
        let idx = checked_indices("index_select", index, d, self.shape()[d]);
        let out = kernel::index_select(self, d, &idx);
        record(out, &[self], "IndexSelectBackward0", || {
            let (si, in_shape) = (Saved::new(index), self.size());
            move |g: &Tensor, _: &[bool]| {
                let zeros = Tensor::zeros_dtype(&in_shape, g.dtype());
                vec![Some(zeros.index_add(d as isize, si.get(), g))]
            }
        })
    }

    /// `self` with the slices of `source` added at `index` along `dim`, repeats adding up
    /// (`tensor.index_add(dim, index, source)`, out of place).
    pub fn index_add(&self, dim: isize, index: &Tensor, source: &Tensor) -> Tensor {
        assert!(
            index.dim() <= 1,
            "index_add(): Index is supposed to be a vector, but got index of shape {:?}",
            index.shape()
        );
        if self.dim() == 0 {
            normalize_dim(dim, 0, "index_add");
            let src = source.reshape(&[source.numel()]);
            return self.reshape(&[1]).index_add(0, index, &src).reshape(());
        }
        check_same_device("index_add", &[self, index, source]);
        let d = normalize_dim(dim, self.dim(), "index_add");
        assert!(
            self.dtype() == source.dtype(),
            "index_add(): self ({}) and source ({}) must have the same scalar type",
            self.dtype(),
            source.dtype()
        );
        let mut expected = self.size();
        expected[d] = index.numel();
        assert!(
            source.shape() == expected.as_slice(),
            "index_add(): source of shape {:?} does not match the expected shape {expected:?} \
             (self of shape {:?} with {} indices at dimension {d})",
            source.shape(),
            self.shape(),
            index.numel()
        );
        let idx = checked_indices("index_add", index, d, self.shape()[d]);
        let out = kernel::index_add(self, d, &idx, source);
        record(out, &[self, source], "IndexAddBackward0", || {
            let si = Saved::new(index);
            move |g: &Tensor, n: &[bool]| {
                vec![
                    n[0].then(|| g.shallow_clone()),
                    n[1].then(|| g.index_select(d as isize, si.get())),
                ]
            }
        })
    }

    /// `out[i][j] = self[i][index[i][j]]` for `dim = 1`, and likewise for any rank: the
    /// output has `index`'s shape (`tensor.gather(dim, index)`).
    pub fn gather(&self, dim: isize, index: &Tensor) -> Tensor {
        if self.dim() == 0 && index.dim() == 0 {
            normalize_dim(dim, 0, "gather");
            return self
                .reshape(&[1])
                .gather(0, &index.reshape(&[1]))
                .reshape(());
        }
        assert!(
            index.dim() == self.dim(),
            "gather(): Index tensor must have the same number of dimensions as input tensor \
             (index of shape {:?}, input of shape {:?})",
            index.shape(),
            self.shape()
        );
        check_same_device("gather", &[self, index]);
        let d = normalize_dim(dim, self.dim(), "gather");
        for k in (0..self.dim()).filter(|&k| k != d) {
            assert!(
                index.shape()[k] <= self.shape()[k],
                "gather(): Size does not match at dimension {k} expected index {:?} to be no \
                 larger than self {:?} apart from dimension {d}",
                index.shape(),
                self.shape()
            );
        }
        let idx = checked_indices("gather", index, d, self.shape()[d]);
        let out = kernel::gather(self, d, &idx, index.shape());
        record(out, &[self], "GatherBackward0", || {
            let (si, in_shape) = (Saved::new(index), self.size());
            move |g: &Tensor, _: &[bool]| {
                let zeros = Tensor::zeros_dtype(&in_shape, g.dtype());
                vec![Some(zeros.scatter_add(d as isize, si.get(), g))]
            }
        })
    }

    /// `self` with `src[i][j]` added at `[i][index[i][j]]` for `dim = 1`, and likewise for
    /// any rank; repeats add up (`tensor.scatter_add(dim, index, src)`, out of place).
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Tensor {
        if self.dim() == 0 && index.dim() == 0 {
            normalize_dim(dim, 0, "scatter_add");
            let src = src.reshape(&[src.numel()]);
            return self
                .reshape(&[1])
                .scatter_add(0, &index.reshape(&[1]), &src)
                .reshape(());
        }
        assert!(
            index.dim() == self.dim() && src.dim() == self.dim(),
            "scatter_add(): Index tensor must have the same number of dimensions as self and src \
             tensors (index of shape {:?}, self of shape {:?}, src of shape {:?})",
            index.shape(),
            self.shape(),
            src.shape()
        );
        assert!(
            self.dtype() == src.dtype(),
            "scatter_add(): Expected self.dtype to be equal to src.dtype (got {} and {})",
            self.dtype(),
            src.dtype()
        );
        check_same_device("scatter_add", &[self, index, src]);
        let d = normalize_dim(dim, self.dim(), "scatter_add");
        for k in 0..self.dim() {
            assert!(
                index.shape()[k] <= src.shape()[k]
                    && (k == d || index.shape()[k] <= self.shape()[k]),
                "scatter_add(): Expected index {:?} to be no larger than self {:?} apart from \
                 dimension {d} and to be no larger size than src {:?}",
                index.shape(),
                self.shape(),
                src.shape()
            );
        }
        let idx = checked_indices("scatter_add", index, d, self.shape()[d]);
        let out = kernel::scatter_add(self, d, &idx, index.shape(), src);
        record(out, &[self, src], "ScatterAddBackward0", || {
            let (si, src_shape) = (Saved::new(index), src.size());
            move |g: &Tensor, n: &[bool]| {
                vec![
                    n[0].then(|| g.shallow_clone()),
                    n[1].then(|| zero_pad_to(&g.gather(d as isize, si.get()), &src_shape)),
                ]
            }
        })
    }

    /// Joins tensors along an existing `dim` (`torch.cat`); same as [`cat`].
    pub fn cat(tensors: &[Tensor], dim: isize) -> Tensor {
        cat(tensors, dim)
    }

    /// Joins equal-shaped tensors along a new `dim` (`torch.stack`); same as [`stack`].
    pub fn stack(tensors: &[Tensor], dim: isize) -> Tensor {
        stack(tensors, dim)
    }
}

/// Joins tensors along an existing `dim` (`torch.cat(tensors, dim)`). Shapes must agree
/// except at `dim`; dtypes are promoted; 1-D empty tensors are skipped, as in PyTorch.
pub fn cat(tensors: &[Tensor], dim: isize) -> Tensor {
    assert!(
        !tensors.is_empty(),
        "cat(): expected a non-empty list of Tensors"
    );
    let all_legacy = tensors.iter().all(is_legacy_empty);
    let kept: Vec<(usize, &Tensor)> = tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| all_legacy || !is_legacy_empty(t))
        .collect();
    for &(i, t) in &kept {
        assert!(
            t.dim() > 0,
            "cat(): zero-dimensional tensor (at position {i}) cannot be concatenated"
        );
    }
    let (_, first) = kept[0];
    let d = normalize_dim(dim, first.dim(), "cat");
    for &(i, t) in &kept[1..] {
        assert!(
            t.dim() == first.dim(),
            "cat(): Tensors must have same number of dimensions: got {} and {} (shapes {:?} and \
             {:?})",
            first.dim(),
            t.dim(),
            first.shape(),
            t.shape()
        );
        for k in (0..t.dim()).filter(|&k| k != d) {
            assert!(
                t.shape()[k] == first.shape()[k],
                "cat(): Sizes of tensors must match except in dimension {d}. Expected size {} but \
                 got size {} for tensor number {i} in the list (shapes {:?} and {:?})",
                first.shape()[k],
                t.shape()[k],
                first.shape(),
                t.shape()
            );
        }
    }
    let refs: Vec<&Tensor> = kept.iter().map(|&(_, t)| t).collect();
    check_same_device("cat", &refs);
    let dtype = promoted(&refs);
    let parts: Vec<Tensor> = refs.iter().map(|t| t.to_dtype(dtype)).collect();
    let out = kernel::cat(&parts, d);
    let inputs: Vec<&Tensor> = parts.iter().collect();
    record(out, &inputs, "CatBackward0", || {
        let sizes: Vec<usize> = parts.iter().map(|t| t.shape()[d]).collect();
        move |g: &Tensor, n: &[bool]| {
            let mut at = 0;
            sizes
                .iter()
                .zip(n)
                .map(|(&len, &need)| {
                    at += len;
                    need.then(|| g.narrow(d as isize, (at - len) as isize, len))
                })
                .collect()
        }
    })
}

/// Joins equal-shaped tensors along a new dimension `dim` (`torch.stack(tensors, dim)`).
pub fn stack(tensors: &[Tensor], dim: isize) -> Tensor {
    assert!(
        !tensors.is_empty(),
        "stack(): expects a non-empty TensorList"
    );
    let s0 = tensors[0].shape();
    for (i, t) in tensors.iter().enumerate().skip(1) {
        assert!(
            t.shape() == s0,
            "stack(): expects each tensor to be equal size, but got {s0:?} at entry 0 and {:?} \
             at entry {i}",
            t.shape()
        );
    }
    let d = normalize_dim(dim, s0.len() + 1, "stack");
    let refs: Vec<&Tensor> = tensors.iter().collect();
    check_same_device("stack", &refs);
    let dtype = promoted(&refs);
    let parts: Vec<Tensor> = tensors.iter().map(|t| t.to_dtype(dtype)).collect();
    let views: Vec<Tensor> = parts
        .iter()
        .map(|t| t.with_layout(t.layout().unsqueezed(d)))
        .collect();
    let out = kernel::cat(&views, d);
    let inputs: Vec<&Tensor> = parts.iter().collect();
    record(out, &inputs, "StackBackward0", || {
        move |g: &Tensor, n: &[bool]| {
            n.iter()
                .enumerate()
                .map(|(i, &need)| need.then(|| g.select(d as isize, i as isize)))
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn index_select_on_u8_bytes_and_bool() {
        let img = Tensor::from_vec(vec![10u8, 20, 30, 40, 50, 60], &[3, 2]);
        let idx = Tensor::from_vec(vec![2i64, 0], &[2]);
        let out = img.index_select(0, &idx);
        assert_eq!(out.dtype(), DType::U8);
        assert_eq!(out.to_vec::<u8>(), vec![50, 60, 10, 20]);
        let m = Tensor::from_vec(vec![true, false], &[2]);
        assert_eq!(
            m.index_select(0, &Tensor::scalar(1i64)).to_vec::<bool>(),
            vec![false]
        );
    }

    #[test]
    fn cat_of_i64_labels_and_promotion() {
        let a = Tensor::from_vec(vec![1i64, 2], &[2]);
        let b = Tensor::from_vec(vec![3i64], &[1]);
        let c = super::cat(&[a.shallow_clone(), b], 0);
        assert_eq!(c.dtype(), DType::I64);
        assert_eq!(c.to_vec::<i64>(), vec![1, 2, 3]);
        let f = Tensor::from_vec(vec![0.5f32], &[1]);
        let p = Tensor::cat(&[a, f], 0);
        assert_eq!(p.dtype(), DType::F32);
        assert_eq!(p.to_vec::<f32>(), vec![1.0, 2.0, 0.5]);
    }

    #[test]
    fn cat_skips_legacy_empty() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let e = Tensor::from_vec(Vec::<f32>::new(), &[0]);
        assert_eq!(super::cat(&[e, a], 0).shape(), &[2, 2]);
    }

    #[test]
    fn stack_of_scalars() {
        let s = super::stack(&[Tensor::scalar(1i64), Tensor::scalar(2i64)], 0);
        assert_eq!(s.shape(), &[2]);
        assert_eq!(s.to_vec::<i64>(), vec![1, 2]);
    }

    #[test]
    fn scatter_add_with_src_larger_than_index() {
        let base = Tensor::zeros(&[2, 3]);
        let idx = Tensor::from_vec(vec![2i64, 2], &[1, 2]);
        let src = Tensor::from_vec(vec![1.0f32, 2.0, 4.0, 8.0, 16.0, 32.0], &[2, 3]);
        let out = base.scatter_add(1, &idx, &src);
        assert_eq!(out.to_vec::<f32>(), vec![0.0, 0.0, 3.0, 0.0, 0.0, 0.0]);
    }
}
