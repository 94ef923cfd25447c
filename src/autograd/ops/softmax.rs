//! The softmax family: `softmax` and `log_softmax` along one dimension.
//!
//! Both subtract the running maximum before exponentiating, so large logits neither
//! overflow nor lose precision. The backward passes use the closed forms
//! `y * (g - sum(g * y))` and `g - softmax(x) * sum(g)`; when the backward itself is
//! being recorded (`create_graph`) they are rebuilt from differentiable ops instead.

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record_out};
use crate::tensor::Tensor;
use crate::tensor::kernels::softmax as kernel;
use crate::tensor::layout::normalize_dim;

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
            self.shallow_clone()
        } else {
            self.float()
        };
        let d = normalize_dim(dim, x.dim(), op);
        let out = kernel::forward(&x, d, log);
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
                    return vec![Some(kernel::backward(
                        &g.to_dtype(saved_out.get().dtype()),
                        saved_out.get(),
                        d,
                        log,
                    ))];
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
