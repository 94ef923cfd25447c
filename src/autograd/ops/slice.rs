//! Views of part of one dimension: narrow, slice with a step, select, and the ways of
//! cutting a tensor into pieces (split, split_sizes, chunk, unbind). All share storage
//! with their input; each backward writes the gradient into zeros of the input's shape.

use crate::autograd::record::record;
use crate::tensor::Tensor;
use crate::tensor::kernels::gather_scatter::slice_scatter_zeros;
use crate::tensor::layout::normalize_dim;

/// Resolves a Python slice bound against a dimension of size `n`: negative counts from
/// the end, and anything out of range is clamped, as `x[a:b]` does.
fn clamp_bound(v: isize, n: usize) -> usize {
    let n = n as isize;
    let v = if v < 0 { v + n } else { v };
    v.clamp(0, n) as usize
}

impl Tensor {
    /// The view of `len` entries of dim `d` from `start`, every `step`-th one, recorded
    /// under `name`.
    fn strided_view(
        &self,
        d: usize,
        start: usize,
        len: usize,
        step: usize,
        name: &'static str,
    ) -> Tensor {
        // An empty view never reads its offset; keeping it at the base avoids an offset
        // past the end of the storage.
        let start = if len == 0 || self.numel() == 0 {
            0
        } else {
            start
        };
        let out = self.with_layout(self.layout().narrowed(d, start, len, step));
        let in_shape = self.size();
        record(out, &[self], name, move || {
            move |g: &Tensor, _: &[bool]| vec![Some(g.slice_backward(&in_shape, d, start, step))]
        })
    }

    /// Zeros of `in_shape` with `self` written at `start, start + step, ...` along `d`:
    /// the gradient of a slice. Differentiable (its own gradient is the slice again).
    pub(crate) fn slice_backward(
        &self,
        in_shape: &[usize],
        d: usize,
        start: usize,
        step: usize,
    ) -> Tensor {
        let out = slice_scatter_zeros(self, in_shape, d, start, step);
        let len = self.shape()[d];
        record(out, &[self], "SliceBackwardBackward0", move || {
            move |g: &Tensor, _: &[bool]| {
                vec![Some(g.strided_view(d, start, len, step, "SliceBackward0"))]
            }
        })
    }

    /// `length` entries of `dim` from `start` (negative counts from the end), sharing
    /// storage (`tensor.narrow(dim, start, length)`).
    pub fn narrow(&self, dim: isize, start: isize, length: usize) -> Tensor {
        assert!(
            self.dim() > 0,
            "narrow(): cannot be applied to a 0-dim tensor."
        );
        let d = normalize_dim(dim, self.dim(), "narrow");
        let n = self.shape()[d];
        let ni = n as isize;
        assert!(
            (-ni..=ni).contains(&start),
            "narrow(): start out of range (expected to be in range of [{}, {ni}], but got {start}) \
             for tensor of size {:?} at dimension {d}",
            -ni,
            self.shape()
        );
        let s = if start < 0 { start + ni } else { start } as usize;
        assert!(
            s + length <= n,
            "narrow(): start ({s}) + length ({length}) exceeds dimension size ({n}) of tensor of \
             size {:?} at dimension {d}",
            self.shape()
        );
        self.strided_view(d, s, length, 1, "SliceBackward0")
    }

    /// Python slicing `x[start:end:step]` along `dim`, sharing storage: a bound is a
    /// plain number or `None` for the whole range (`x[:, 1:3]` is `x.slice(1, 1, 3, 1)`,
    /// `x[:, 2:]` is `x.slice(1, 2, None, 1)`); negative bounds count from the end and
    /// out-of-range bounds are clamped. `step` must be positive.
    ///
    /// ```
    /// let x = kiln::Tensor::arange(0.0, 10.0, 1.0);
    /// assert_eq!(x.slice(0, 1, 3, 1).to_vec::<f32>(), [1.0, 2.0]);
    /// assert_eq!(x.slice(0, -3, None, 2).to_vec::<f32>(), [7.0, 9.0]);
    /// ```
    pub fn slice(
        &self,
        dim: isize,
        start: impl Into<Option<isize>>,
        end: impl Into<Option<isize>>,
        step: usize,
    ) -> Tensor {
        let (start, end) = (start.into(), end.into());
        assert!(
            self.dim() > 0,
            "slice(): cannot be applied to a 0-dim tensor."
        );
        assert!(step > 0, "slice(): slice step must be positive");
        let d = normalize_dim(dim, self.dim(), "slice");
        let n = self.shape()[d];
        let s = start.map_or(0, |v| clamp_bound(v, n));
        let e = end.map_or(n, |v| clamp_bound(v, n));
        let len = if e > s { (e - s).div_ceil(step) } else { 0 };
        self.strided_view(d, s, len, step, "SliceBackward0")
    }

    /// Entry `index` of `dim` (negative counts from the end), with `dim` removed, like
    /// `x[i]` (`tensor.select(dim, index)`).
    pub fn select(&self, dim: isize, index: isize) -> Tensor {
        self.select_named(dim, index, "SelectBackward0")
    }

    fn select_named(&self, dim: isize, index: isize, name: &'static str) -> Tensor {
        assert!(
            self.dim() > 0,
            "select(): cannot be applied to a 0-dim tensor."
        );
        let d = normalize_dim(dim, self.dim(), "select");
        let n = self.shape()[d] as isize;
        assert!(
            (-n..n).contains(&index),
            "select(): index {index} out of range for tensor of size {:?} at dimension {d}",
            self.shape()
        );
        let i = if index < 0 { index + n } else { index } as usize;
        let at = if self.numel() == 0 { 0 } else { i };
        let out = self.with_layout(self.layout().narrowed(d, at, 1, 1).squeezed(d));
        let in_shape = self.size();
        record(out, &[self], name, move || {
            move |g: &Tensor, _: &[bool]| {
                vec![Some(
                    g.unsqueeze(d as isize).slice_backward(&in_shape, d, i, 1),
                )]
            }
        })
    }

    /// Pieces of `split_size` entries along `dim`, the last one shorter if the size does
    /// not divide evenly (`tensor.split(split_size, dim)`). All are views.
    pub fn split(&self, split_size: usize, dim: isize) -> Vec<Tensor> {
        assert!(
            self.dim() > 0,
            "split(): expects at least a 1-dimensional tensor"
        );
        let d = normalize_dim(dim, self.dim(), "split");
        let n = self.shape()[d];
        assert!(
            split_size > 0 || n == 0,
            "split(): split_size can only be 0 if dimension size is 0, but got dimension size \
             of {n} (tensor of size {:?})",
            self.shape()
        );
        let count = if split_size == 0 {
            1
        } else {
            n.div_ceil(split_size).max(1)
        };
        (0..count)
            .map(|i| {
                let s = i * split_size;
                self.strided_view(d, s, split_size.min(n - s), 1, "SplitBackward0")
            })
            .collect()
    }

    /// Pieces of the given sizes along `dim`, which must sum to its size
    /// (`tensor.split([sizes], dim)`). All are views.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Vec<Tensor> {
        assert!(
            self.dim() > 0,
            "split_with_sizes(): expects at least a 1-dimensional tensor"
        );
        let d = normalize_dim(dim, self.dim(), "split_with_sizes");
        let n = self.shape()[d];
        assert!(
            sizes.iter().sum::<usize>() == n,
            "split_with_sizes(): expects split_sizes to sum exactly to {n} (input tensor's size \
             at dimension {d}, tensor of size {:?}), but got split_sizes={sizes:?}",
            self.shape()
        );
        let mut at = 0;
        sizes
            .iter()
            .map(|&len| {
                at += len;
                self.strided_view(d, at - len, len, 1, "SplitWithSizesBackward0")
            })
            .collect()
    }

    /// `chunks` pieces of `ceil(n / chunks)` entries along `dim` (fewer if they run out),
    /// as PyTorch sizes them (`tensor.chunk(chunks, dim)`).
    pub fn chunk(&self, chunks: usize, dim: isize) -> Vec<Tensor> {
        assert!(
            chunks > 0,
            "chunk(): expects `chunks` to be greater than 0, got: 0"
        );
        assert!(
            self.dim() > 0,
            "chunk(): expects at least a 1-dimensional tensor"
        );
        let d = normalize_dim(dim, self.dim(), "chunk");
        let n = self.shape()[d];
        if n == 0 {
            return self.split_sizes(&vec![0; chunks], dim);
        }
        self.split(n.div_ceil(chunks), dim)
    }

    /// Every entry of `dim`, each with `dim` removed (`tensor.unbind(dim)`).
    pub fn unbind(&self, dim: isize) -> Vec<Tensor> {
        assert!(
            self.dim() > 0,
            "unbind(): dimension specified as {dim} but tensor has no dimensions"
        );
        let d = normalize_dim(dim, self.dim(), "unbind");
        (0..self.shape()[d] as isize)
            .map(|i| self.select_named(d as isize, i, "UnbindBackward0"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    fn arange(n: usize, shape: &[usize]) -> Tensor {
        Tensor::from_vec((0..n as i64).collect(), shape)
    }

    #[test]
    fn slice_follows_python_bounds() {
        let x = arange(7, &[7]);
        let s = |a, b, st| x.slice(0, a, b, st).to_vec::<i64>();
        assert_eq!(s(None, None, 3), vec![0, 3, 6]);
        assert_eq!(s(Some(-3), None, 1), vec![4, 5, 6]);
        assert_eq!(s(Some(-100), Some(2), 1), vec![0, 1]);
        assert_eq!(s(Some(5), Some(100), 2), vec![5]);
        assert_eq!(s(Some(5), Some(2), 1), Vec::<i64>::new());
        assert_eq!(s(Some(1), Some(-1), 2), vec![1, 3, 5]);
    }

    #[test]
    fn views_share_storage() {
        let x = arange(12, &[3, 4]);
        let v = x.narrow(1, 1, 2);
        assert!(v.storage().same(x.storage()));
        assert_eq!(v.to_vec::<i64>(), vec![1, 2, 5, 6, 9, 10]);
        assert_eq!(x.select(1, -1).to_vec::<i64>(), vec![3, 7, 11]);
        assert!(x.select(0, 2).storage().same(x.storage()));
    }

    #[test]
    fn chunk_sizes_follow_pytorch() {
        let sizes = |n: usize, c: usize| -> Vec<usize> {
            arange(n, &[n])
                .chunk(c, 0)
                .iter()
                .map(|t| t.shape()[0])
                .collect()
        };
        // torch.arange(5).chunk(4) -> sizes 2, 2, 1; arange(6).chunk(4) -> 2, 2, 2.
        assert_eq!(sizes(5, 4), vec![2, 2, 1]);
        assert_eq!(sizes(6, 4), vec![2, 2, 2]);
        assert_eq!(sizes(0, 3), vec![0, 0, 0]);
        assert_eq!(arange(0, &[0, 2]).split(2, 0).len(), 1);
    }

    #[test]
    fn empty_slice_of_offset_view_reads_nothing() {
        let x = arange(6, &[2, 3]);
        let v = x.narrow(1, 2, 1).slice(0, Some(2), None, 1);
        assert_eq!(v.shape(), &[0, 1]);
        assert!(v.to_vec::<i64>().is_empty());
    }
}
