//! PyTorch's spellings for compositions of kiln's ops: `sum_dim` / `mean_dim` /
//! `var_dim` / `std_dim` with a plain integer dim, `squeeze_dims`, `T()` / `mT()` for
//! `.T` / `.mT`, and iteration over the first dimension (`for xi in x.iter()`, Python's
//! `for xi in X`).

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

    /// Variance over one dim (`tensor.var(dim, unbiased=u, keepdim=k)`): `unbiased = true`
    /// is PyTorch's default (`correction=1`), `false` divides by the count (`correction=0`).
    ///
    /// ```
    /// let x = kiln::tensor(&[[1.0f32, 3.0], [2.0, 6.0]]);
    /// assert_eq!(x.var_dim(1, true, false).to_vec::<f32>(), [2.0, 8.0]);
    /// assert_eq!(x.var_dim(1, false, false).to_vec::<f32>(), [1.0, 4.0]);
    /// ```
    pub fn var_dim(&self, dim: isize, unbiased: bool, keepdim: bool) -> Tensor {
        self.var_dims(&[dim], if unbiased { 1.0 } else { 0.0 }, keepdim)
    }

    /// Standard deviation over one dim (`tensor.std(dim, unbiased=u, keepdim=k)`;
    /// `unbiased = true` is PyTorch's default).
    pub fn std_dim(&self, dim: isize, unbiased: bool, keepdim: bool) -> Tensor {
        self.std_dims(&[dim], if unbiased { 1.0 } else { 0.0 }, keepdim)
    }

    /// `tensor.T`: the dims in reverse order (a view; a matrix's transpose). PyTorch
    /// deprecates `.T` on tensors of other than 2 dims, and so does this doc: prefer
    /// [`Tensor::t`] or [`Tensor::permute`] there.
    #[allow(non_snake_case)]
    pub fn T(&self) -> Tensor {
        let perm: Vec<isize> = (0..self.dim() as isize).rev().collect();
        self.permute(&perm)
    }

    /// `tensor.mT`: the last two dims swapped (a batch of matrices transposed; a view).
    ///
    /// # Panics
    /// If the tensor has fewer than 2 dims (PyTorch's message).
    #[allow(non_snake_case)]
    pub fn mT(&self) -> Tensor {
        assert!(
            self.dim() >= 2,
            "tensor.mT is only supported on matrices or batches of matrices. Got {}-D tensor.",
            self.dim()
        );
        self.transpose(-2, -1)
    }

    /// `torch.allclose(self, other)` with PyTorch's defaults (`rtol=1e-5, atol=1e-8`, NaN
    /// unequal): `|self - other| <= atol + rtol * |other|` everywhere, broadcasting.
    ///
    /// ```
    /// let a = kiln::tensor(&[1.0f32, 2.0]);
    /// assert!(a.allclose(&kiln::tensor(&[1.0f32, 2.000001])));
    /// assert!(!a.allclose(&kiln::tensor(&[1.0f32, 2.1])));
    /// ```
    pub fn allclose(&self, other: &Tensor) -> bool {
        let (a, b) = (self.detach().double(), other.detach().double());
        let tol = b.abs().mul_scalar(1e-5).add_scalar(1e-8);
        a.sub(&b)
            .abs()
            .le(&tol)
            .to_vec::<bool>()
            .into_iter()
            .all(|v| v)
    }

    /// `torch.equal(self, other)`: the same shape and the same values (NaN unequal).
    pub fn equal(&self, other: &Tensor) -> bool {
        self.shape() == other.shape() && self.eq(other).to_vec::<bool>().into_iter().all(|v| v)
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
            .fold(self.shallow_clone(), |t, &d| t.squeeze_dim(d as isize))
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
