//! Sum and product reductions over dims, and the "product of the others" that a
//! product's gradient needs.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// Unrecorded sum of `x` over the sorted unique `dims` (all dims when it lists them all),
/// the reduced dims removed; bool and u8 sum as i64.
pub fn sum(x: &Tensor, dims: &[usize]) -> Tensor {
    select("sum", &[x]).sum(x, dims)
}

/// Unrecorded product of the numeric `x` over `dims`, the reduced dims removed.
pub fn prod(x: &Tensor, dims: &[usize]) -> Tensor {
    select("prod", &[x]).prod(x, dims)
}

/// For each element of the contiguous float `x`, the product of the other elements of
/// its contiguous run of `n` (prefix and suffix products: zeros need no division).
pub fn others_product(x: &Tensor, n: usize) -> Tensor {
    select("prod_backward", &[x]).others_product(x, n)
}

/// The `p`-norm of all of `x`'s elements, accumulated in f64 on the host
/// (`p = f64::INFINITY` is the largest absolute value); 0 for an empty `x`.
pub fn norm_f64(x: &Tensor, p: f64) -> f64 {
    select("norm", &[x]).norm_f64(x, p)
}

/// Unrecorded cumulative sum of `x` along `dim` (from the end when `reverse`); bool,
/// u8 and i64 inputs give i64. f32 accumulates in f64 and rounds each output, as
/// PyTorch's CPU kernel does.
pub fn cumsum(x: &Tensor, dim: usize, reverse: bool) -> Tensor {
    select("cumsum", &[x]).cumsum(x, dim, reverse)
}

/// Unrecorded cumulative product of `x` along `dim`; bool, u8 and i64 inputs give i64
/// (wrapping on overflow). f32 accumulates in f64 and rounds each output, as PyTorch's
/// CPU kernel does.
pub fn cumprod(x: &Tensor, dim: usize) -> Tensor {
    select("cumprod", &[x]).cumprod(x, dim)
}

/// The gradient of `out = cumprod(x, dim)` for the upstream gradient `g` (float, all of
/// one shape), exact with zeros in `x` as PyTorch's `cumprod_backward`: along each run,
/// with `z1` its first zero and `z2` its second (or the run's end), element `k < z1` gets
/// `sum_{k <= j < z1} out_j g_j / x_k`, element `z1` gets
/// `out_{z1-1} (g_{z1} + sum_{z1 < j < z2} g_j prod_{z1 < i <= j} x_i)`, later ones 0.
pub fn cumprod_backward(x: &Tensor, out: &Tensor, g: &Tensor, dim: usize) -> Tensor {
    select("cumprod_backward", &[x, out, g]).cumprod_backward(x, out, g, dim)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::tensor::kernels::reduce::{reduce, sum_slice};
    use crate::tensor::{BufferElement, DType, Float, Tensor};
    use crate::{float_dispatch, numeric_dispatch};
    use num_traits::{One, Zero};

    /// See [`super::sum`].
    pub fn sum(x: &Tensor, dims: &[usize]) -> Tensor {
        match x.dtype() {
            DType::F32 | DType::F64 => float_dispatch!("sum", x.dtype(), T => {
                if dims.len() == x.dim() && x.numel() >= crate::tensor::kernels::PAR_THRESHOLD {
                    // One long run: sum blocks on every thread, then the block sums.
                    let partial: Vec<T> = x.with_contiguous(|s: &[T]| {
                        crate::tensor::parallel::map_chunks(s, 1 << 16, sum_slice::<T>)
                    });
                    Tensor::scalar(sum_slice::<T>(&partial))
                } else if dims == [0] && x.dim() >= 2 && x.is_contiguous() {
                    // Leading-dim sum (bias gradients): add whole rows, no transposed copy.
                    let width = x.numel() / x.shape()[0].max(1);
                    let acc = x.with_contiguous(|s: &[T]| {
                        let mut acc = vec![T::default(); width];
                        crate::tensor::kernels::simd::dispatch(
                            #[inline(always)]
                            || add_rows(&mut acc, s),
                        );
                        acc
                    });
                    Tensor::from_vec(acc, &x.shape()[1..])
                } else {
                    reduce::<T, T>(x, dims, sum_slice::<T>)
                }
            }),
            DType::Bool | DType::U8 => sum(&x.cast_raw(DType::I64), dims),
            _ => {
                numeric_dispatch!("sum", x.dtype(), T => reduce::<T, T>(x, dims, |s: &[T]| s.iter().fold(T::default(), |a, &b| a + b)))
            }
        }
    }

    /// Adds every `acc.len()`-long row of `s` into `acc`, row after row.
    #[inline(always)]
    fn add_rows<T: Float>(acc: &mut [T], s: &[T]) {
        for row in s.chunks_exact(acc.len().max(1)) {
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        }
    }

    /// See [`super::norm_f64`].
    pub fn norm_f64(x: &Tensor, p: f64) -> f64 {
        let v = x.to_vec::<f64>();
        if p.is_infinite() {
            v.iter().map(|v| v.abs()).fold(0.0, f64::max)
        } else {
            v.iter().map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p)
        }
    }

    /// An inclusive scan of the contiguous `s`, seen as `[outer, n, inner]`, along its
    /// middle dim (from its end when `reverse`), accumulating in `A`.
    fn scan_runs<T: Copy, A: Copy>(
        s: &[T],
        n: usize,
        inner: usize,
        reverse: bool,
        zero: A,
        add: impl Fn(A, T) -> A,
        out: impl Fn(A) -> T,
    ) -> Vec<T> {
        let mut r = s.to_vec();
        let run = n * inner;
        if run == 0 {
            return r;
        }
        for block in (0..s.len()).step_by(run) {
            for j in 0..inner {
                let mut acc = zero;
                for k in 0..n {
                    let k = if reverse { n - 1 - k } else { k };
                    let i = block + k * inner + j;
                    acc = add(acc, s[i]);
                    r[i] = out(acc);
                }
            }
        }
        r
    }

    /// See [`super::cumsum`].
    pub fn cumsum(x: &Tensor, dim: usize, reverse: bool) -> Tensor {
        let n = x.shape()[dim];
        let inner: usize = x.shape()[dim + 1..].iter().product();
        match x.dtype() {
            DType::F32 => {
                let v = x.with_contiguous(|s: &[f32]| {
                    scan_runs(
                        s,
                        n,
                        inner,
                        reverse,
                        0.0f64,
                        |a, v| a + v as f64,
                        |a| a as f32,
                    )
                });
                Tensor::from_vec(v, x.shape())
            }
            DType::F64 => {
                let v = x.with_contiguous(|s: &[f64]| {
                    scan_runs(s, n, inner, reverse, 0.0f64, |a, v| a + v, |a| a)
                });
                Tensor::from_vec(v, x.shape())
            }
            DType::I64 => {
                let v = x.with_contiguous(|s: &[i64]| {
                    scan_runs(s, n, inner, reverse, 0i64, i64::wrapping_add, |a| a)
                });
                Tensor::from_vec(v, x.shape())
            }
            DType::Bool | DType::U8 => cumsum(&x.cast_raw(DType::I64), dim, reverse),
        }
    }

    /// See [`super::cumprod`].
    pub fn cumprod(x: &Tensor, dim: usize) -> Tensor {
        let n = x.shape()[dim];
        let inner: usize = x.shape()[dim + 1..].iter().product();
        match x.dtype() {
            DType::F32 => {
                let v = x.with_contiguous(|s: &[f32]| {
                    scan_runs(
                        s,
                        n,
                        inner,
                        false,
                        1.0f64,
                        |a, v| a * v as f64,
                        |a| a as f32,
                    )
                });
                Tensor::from_vec(v, x.shape())
            }
            DType::F64 => {
                let v = x.with_contiguous(|s: &[f64]| {
                    scan_runs(s, n, inner, false, 1.0f64, |a, v| a * v, |a| a)
                });
                Tensor::from_vec(v, x.shape())
            }
            DType::I64 => {
                let v = x.with_contiguous(|s: &[i64]| {
                    scan_runs(s, n, inner, false, 1i64, i64::wrapping_mul, |a| a)
                });
                Tensor::from_vec(v, x.shape())
            }
            DType::Bool | DType::U8 => cumprod(&x.cast_raw(DType::I64), dim),
        }
    }

    /// One run of [`super::cumprod_backward`]: `x`, `out` and `g` are the run's `n`
    /// elements `stride` apart from `base`, the gradient goes to the same places of `gi`.
    /// Sums accumulate in f64 and round once, as PyTorch's CPU cumsum and cumprod do.
    fn cumprod_backward_run<T: Float>(
        x: &[T],
        out: &[T],
        g: &[T],
        gi: &mut [T],
        base: usize,
        n: usize,
        stride: usize,
    ) {
        let at = |k: usize| base + k * stride;
        let zeros: Vec<usize> = (0..n).filter(|&k| x[at(k)] == T::zero()).take(2).collect();
        let z1 = zeros.first().copied().unwrap_or(n);
        let z2 = zeros.get(1).copied().unwrap_or(n);
        // k < z1: the reversed cumulative sum of out * g up to the first zero, over x_k.
        let mut acc = 0.0f64;
        for k in (0..z1).rev() {
            acc += (out[at(k)] * g[at(k)]).to_f64();
            gi[at(k)] = T::c(acc) / x[at(k)];
        }
        if z1 == n {
            return;
        }
        // k = z1: d out_j / d x_{z1} = out_{z1-1} * prod_{z1 < i <= j} x_i for z1 <= j < z2.
        let (mut prod, mut sum) = (1.0f64, T::zero());
        for j in z1..z2 {
            if j > z1 {
                prod *= x[at(j)].to_f64();
            }
            sum += T::c(prod) * g[at(j)];
        }
        let before = if z1 == 0 { T::one() } else { out[at(z1 - 1)] };
        gi[at(z1)] = sum * before;
    }

    /// See [`super::cumprod_backward`].
    pub fn cumprod_backward(x: &Tensor, out: &Tensor, g: &Tensor, dim: usize) -> Tensor {
        let n = x.shape()[dim];
        let inner: usize = x.shape()[dim + 1..].iter().product();
        float_dispatch!("cumprod_backward", x.dtype(), T => {
            let (xs, os, gs) = (x.to_vec::<T>(), out.to_vec::<T>(), g.to_vec::<T>());
            let mut gi = vec![T::zero(); xs.len()];
            if !xs.is_empty() {
                for block in (0..xs.len()).step_by(n * inner) {
                    for j in 0..inner {
                        cumprod_backward_run(&xs, &os, &gs, &mut gi, block + j, n, inner);
                    }
                }
            }
            Tensor::from_vec(gi, x.shape())
        })
    }

    /// See [`super::prod`].
    pub fn prod(x: &Tensor, dims: &[usize]) -> Tensor {
        numeric_dispatch!("prod", x.dtype(), T => {
            reduce::<T, T>(x, dims, |s: &[T]| s.iter().fold(T::one(), |a, &b| a * b))
        })
    }

    /// The product of each contiguous run of `n` elements except the element itself, computed
    /// with prefix and suffix products so zeros need no division.
    fn others_product_runs<T: BufferElement + One + std::ops::Mul<Output = T>>(
        s: &[T],
        n: usize,
    ) -> Vec<T> {
        let mut out = vec![T::one(); s.len()];
        for (src, dst) in s.chunks(n).zip(out.chunks_mut(n)) {
            let mut acc = T::one();
            for (o, &v) in dst.iter_mut().zip(src) {
                *o = acc;
                acc = acc * v;
            }
            let mut acc = T::one();
            for (o, &v) in dst.iter_mut().zip(src).rev() {
                *o = *o * acc;
                acc = acc * v;
            }
        }
        out
    }

    /// See [`super::others_product`].
    pub fn others_product(x: &Tensor, n: usize) -> Tensor {
        float_dispatch!("prod_backward", x.dtype(), T => {
            Tensor::from_vec(x.with_contiguous(|s: &[T]| others_product_runs(s, n)), x.shape())
        })
    }
}
