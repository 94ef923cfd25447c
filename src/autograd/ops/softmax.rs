//! The softmax family: `softmax` and `log_softmax` along one dimension.
//!
//! Both subtract the running maximum before exponentiating, so large logits neither
//! overflow nor lose precision. The backward passes use the closed forms
//! `y * (g - sum(g * y))` and `g - softmax(x) * sum(g)`; when the backward itself is
//! being recorded (`create_graph`) they are rebuilt from differentiable ops instead.

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record_out};
use crate::float_dispatch;
use crate::tensor::kernels::PAR_THRESHOLD;
use crate::tensor::layout::normalize_dim;
use crate::tensor::parallel::for_each_chunk_mut;
use crate::tensor::{Float, Tensor};
use num_traits::Zero;

/// `(outer, n, inner)`: the sizes before, at and after `dim` of a row-major shape.
pub(crate) fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
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

/// Raw (unrecorded) softmax or log-softmax of `x` along `dim`.
fn softmax_raw(x: &Tensor, dim: usize, log: bool) -> Tensor {
    let (_, n, inner) = split_at_dim(x.shape(), dim);
    float_dispatch!("softmax", x.dtype(), T => {
        let mut out = vec![T::zero(); x.numel()];
        x.with_contiguous(|s: &[T]| {
            for_blocks(s, &mut out, n * inner, |b, o| softmax_block(b, o, n, inner, log))
        });
        Tensor::from_vec(out, x.shape())
    })
}

/// Raw backward of softmax (`log == false`, `y` = softmax output) or log-softmax
/// (`log == true`, `y` = log-softmax output) for upstream gradient `g`.
fn softmax_backward_raw(g: &Tensor, y: &Tensor, dim: usize, log: bool) -> Tensor {
    let (_, n, inner) = split_at_dim(y.shape(), dim);
    float_dispatch!("softmax_backward", y.dtype(), T => {
        let gv = g.to_dtype(y.dtype()).contiguous().gather_vec::<T>();
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

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `dim` (`torch.softmax(x, dim)`).
    ///
    /// Integer inputs are promoted to f32.
    pub fn softmax(&self, dim: isize) -> Tensor {
        self.softmax_impl(dim, false)
    }

    /// `x - log(sum(exp(x)))` along `dim`, computed stably (`torch.log_softmax(x, dim)`).
    ///
    /// Integer inputs are promoted to f32.
    pub fn log_softmax(&self, dim: isize) -> Tensor {
        self.softmax_impl(dim, true)
    }

    fn softmax_impl(&self, dim: isize, log: bool) -> Tensor {
        let op = if log { "log_softmax" } else { "softmax" };
        let x = if self.dtype().is_float() {
            self.clone()
        } else {
            self.float()
        };
        let d = normalize_dim(dim, x.dim(), op);
        let out = softmax_raw(&x, d, log);
        let name = if log {
            "LogSoftmaxBackward0"
        } else {
            "SoftmaxBackward0"
        };
        record_out(out, &[&x], name, |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sx = Saved::new(&x);
            move |g: &Tensor, _: &[bool]| {
                if !is_grad_enabled() {
                    return vec![Some(softmax_backward_raw(g, saved_out.get(), d, log))];
                }
                // Recording the backward: rebuild it from differentiable ops.
                let x = sx.get();
                let di = d as isize;
                let p = x.softmax(di);
                let gx = if log {
                    g.sub(&p.mul(&g.sum_dims(&[di], true)))
                } else {
                    p.mul(&g.sub(&g.mul(&p).sum_dims(&[di], true)))
                };
                vec![Some(gx)]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn rows_sum_to_one_and_large_logits_are_stable() {
        let x = Tensor::from_vec(vec![1000.0f32, 1001.0, 1002.0, -5.0, 0.0, 5.0], &[2, 3]);
        let s = x.softmax(1).to_vec::<f32>();
        assert!((s[0] + s[1] + s[2] - 1.0).abs() < 1e-6);
        assert!(s.iter().all(|v| v.is_finite()));
        let l = x.double().log_softmax(-1).to_vec::<f64>();
        let want = 2.0 - (1.0f64 + 1f64.exp() + 2f64.exp()).ln();
        assert!((l[2] - want).abs() < 1e-9);
    }

    #[test]
    fn middle_dim_matches_moved_last() {
        let x = Tensor::randn(&[2, 3, 4]);
        let a = x.softmax(1).to_vec::<f32>();
        let b = x
            .transpose(1, 2)
            .softmax(2)
            .transpose(1, 2)
            .contiguous()
            .to_vec::<f32>();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6);
        }
    }
}
