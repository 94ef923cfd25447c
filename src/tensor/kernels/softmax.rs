//! Softmax and log-softmax along one dimension, and their closed-form backward passes.
//! Both subtract the running maximum before exponentiating.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// Unrecorded softmax (or log-softmax when `log`) of the float `x` along `dim`.
pub fn forward(x: &Tensor, dim: usize, log: bool) -> Tensor {
    select("softmax", &[x]).softmax(x, dim, log)
}

/// Unrecorded backward of softmax (`log == false`, `y` its output) or log-softmax
/// (`log == true`, `y` its output) for the upstream gradient `g` of `y`'s dtype:
/// `y * (g - sum(g * y))` or `g - exp(y) * sum(g)` along `dim`.
pub fn backward(g: &Tensor, y: &Tensor, dim: usize, log: bool) -> Tensor {
    select("softmax_backward", &[g, y]).softmax_backward(g, y, dim, log)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::float_dispatch;
    use crate::tensor::kernels::PAR_THRESHOLD;
    use crate::tensor::parallel::for_each_chunk_mut;
    use crate::tensor::{Float, Tensor};
    use num_traits::Zero;

    /// `(outer, n, inner)`: the sizes before, at and after `dim` of a row-major shape.
    fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
        if shape.is_empty() {
            return (1, 1, 1);
        }
        let outer = shape[..dim].iter().product();
        let inner = shape[dim + 1..].iter().product();
        (outer, shape[dim], inner)
    }

    /// Runs `f` over every `n * inner` block of `data` and the matching block of `out`,
    /// in parallel when the tensor is large.
    fn for_blocks<T: Float>(
        data: &[T],
        out: &mut [T],
        block: usize,
        f: impl Fn(&[T], &mut [T]) + Sync + Send,
    ) {
        if block == 0 {
            return;
        }
        if data.len() < PAR_THRESHOLD {
            data.chunks(block)
                .zip(out.chunks_mut(block))
                .for_each(|(x, o)| f(x, o));
        } else {
            let per = (crate::tensor::kernels::par_chunk(data.len()) / block).max(1) * block;
            for_each_chunk_mut(out, per, |i, o| {
                for (x, o) in data[i * per..].chunks(block).zip(o.chunks_mut(block)) {
                    f(x, o);
                }
            });
        }
    }

    /// Softmax (or log-softmax) of each `n`-long fibre with stride `inner` in a block.
    fn softmax_block<T: Float>(x: &[T], o: &mut [T], n: usize, inner: usize, log: bool) {
        for i in 0..inner {
            let mut max = T::neg_infinity();
            for k in 0..n {
                let v = x[k * inner + i];
                if v > max || v.is_nan() {
                    max = v;
                }
            }
            // A row of -inf would give NaN via -inf - -inf; PyTorch also yields NaN there.
            let mut sum = T::zero();
            for k in 0..n {
                let e = (x[k * inner + i] - max).exp();
                if !log {
                    o[k * inner + i] = e;
                }
                sum += e;
            }
            if log {
                let shift = max + sum.ln();
                for k in 0..n {
                    o[k * inner + i] = x[k * inner + i] - shift;
                }
            } else {
                for k in 0..n {
                    o[k * inner + i] /= sum;
                }
            }
        }
    }

    /// See [`super::forward`].
    pub fn forward(x: &Tensor, dim: usize, log: bool) -> Tensor {
        let (_, n, inner) = split_at_dim(x.shape(), dim);
        float_dispatch!("softmax", x.dtype(), T => {
            let mut out = vec![T::zero(); x.numel()];
            x.with_contiguous(|s: &[T]| {
                for_blocks(s, &mut out, n * inner, |b, o| softmax_block(b, o, n, inner, log))
            });
            Tensor::from_vec(out, x.shape())
        })
    }

    /// See [`super::backward`].
    pub fn backward(g: &Tensor, y: &Tensor, dim: usize, log: bool) -> Tensor {
        let (_, n, inner) = split_at_dim(y.shape(), dim);
        float_dispatch!("softmax_backward", y.dtype(), T => {
            let gv = g.gather_vec::<T>();
            let mut out = vec![T::zero(); y.numel()];
            y.with_contiguous(|ys: &[T]| {
                let block = n * inner;
                if block == 0 {
                    return;
                }
                for ((yb, gb), ob) in ys.chunks(block).zip(gv.chunks(block)).zip(out.chunks_mut(block)) {
                    for i in 0..inner {
                        let mut acc = T::zero();
                        for k in 0..n {
                            let j = k * inner + i;
                            acc += if log { gb[j] } else { gb[j] * yb[j] };
                        }
                        for k in 0..n {
                            let j = k * inner + i;
                            ob[j] = if log { gb[j] - yb[j].exp() * acc } else { yb[j] * (gb[j] - acc) };
                        }
                    }
                }
            });
            Tensor::from_vec(out, y.shape())
        })
    }
}
