//! PyTorch's spellings for compositions of kiln's ops: `sum_dim` / `mean_dim` with a plain
//! integer dim, `squeeze_dims`, and iteration over the first
//! dimension (`for xi in x.iter()`, Python's `for xi in X`).

use crate::tensor::Tensor;

impl Tensor {
    /// Sum over one dim (`tensor.sum(dim=d, keepdim=k)`; negative dims count from the end).
    pub fn sum_dim(&self, dim: isize, keepdim: bool) -> Tensor {
        self.sum_dims(&[dim], keepdim)
    }

    /// Mean over one dim (`tensor.mean(dim=d, keepdim=k)`).
    pub fn mean_dim(&self, dim: isize, keepdim: bool) -> Tensor {
        self.mean_dims(&[dim], keepdim)
    }

    /// Removes each of `dims` that has size 1 (`tensor.squeeze(dim=(0, 2))`); negative
    /// dims count from the end, a dim of another size stays.
    pub fn squeeze_dims(&self, dims: &[isize]) -> Tensor {
        let n = self.dim() as isize;
        let mut ds: Vec<usize> = dims
            .iter()
            .map(|&d| {
                let r = if d < 0 { d + n.max(1) } else { d };
                assert!(
                    (0..n.max(1)).contains(&r),
                    "squeeze: Dimension out of range (expected to be in range of [{}, {}], but got {d})",
                    -n.max(1),
                    n.max(1) - 1
                );
                r as usize
            })
            .collect();
        ds.sort_unstable();
        ds.dedup();
        ds.iter()
            .rev()
            .fold(self.clone(), |t, &d| t.squeeze_dim(d as isize))
    }

    /// The slices along the first dimension, in order (`for xi in X` in Python,
    /// `zip(X, y)` as `x.iter().zip(y.iter())`). Each is a view (`x[i]`).
    ///
    /// ```
    /// let x = kiln::tensor(&[[0.0, 1.0], [2.0, 3.0]]);
    /// let rows: Vec<Vec<f32>> = x.iter().map(|xi| xi.to_vec()).collect();
    /// assert_eq!(rows, [[0.0, 1.0], [2.0, 3.0]]);
    /// ```
    pub fn iter(&self) -> std::vec::IntoIter<Tensor> {
        assert!(self.dim() > 0, "iteration over a 0-d tensor");
        self.unbind(0).into_iter()
    }
}

impl IntoIterator for &Tensor {
    type Item = Tensor;
    type IntoIter = std::vec::IntoIter<Tensor>;
    /// `for xi in &x` iterates over the first dimension, as Python's `for xi in x`.
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
