//! More reductions: prod, var, std, logsumexp, vector norms.
//!
//! var is built from differentiable ops; the others have their own backward so they can
//! follow PyTorch at the awkward points (zeros in a product, a zero norm or deviation).

use super::minmax::resolve_unique_dims;
use super::reduce::reduced_shape;
use crate::autograd::mode::{is_grad_enabled, no_grad};
use crate::autograd::record::{Saved, record_out};
use crate::tensor::kernels::reductions;
use crate::tensor::layout::normalize_dim;
use crate::tensor::{DType, Tensor};

/// For each element, the product of the other elements along `dim` (no autograd).
fn others_product_raw(x: &Tensor, dim: usize) -> Tensor {
    let d = dim as isize;
    let c = x.detach().transpose(d, -1).contiguous();
    let n = x.shape()[dim];
    let t = reductions::others_product(&c, n);
    t.transpose(d, -1)
}

/// [`others_product_raw`] from differentiable ops, for backward passes that are recorded:
/// row `i` of an n×n matrix holds the slice with element `i` replaced by 1.
fn others_product_graph(x: &Tensor, dim: usize) -> Tensor {
    let d = dim as isize;
    let n = x.shape()[dim];
    let xt = x.transpose(d, -1).unsqueeze(-2);
    let mut shape = xt.size();
    let last = shape.len() - 2;
    shape[last] = n;
    let rows = xt.expand(&shape);
    let eye = Tensor::eye(n).to_dtype(DType::Bool);
    let one = Tensor::scalar_dtype(1.0, x.dtype());
    Tensor::where_(&eye, &one, &rows)
        .prod_dim(-1, false)
        .transpose(d, -1)
}

/// A reduced tensor reshaped with the reduced dims kept as size 1 (ready to broadcast).
fn unreduce(g: &Tensor, in_shape: &[usize], dims: &[usize]) -> Tensor {
    g.reshape(&reduced_shape(in_shape, dims, true))
}

/// `dims` as signed indices, for calling the dim-list ops again.
fn signed(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

impl Tensor {
    /// Product of all elements, as a 0-D tensor (`tensor.prod()`); integer and bool inputs
    /// give i64.
    pub fn prod(&self) -> Tensor {
        self.reshape(&[self.numel()]).prod_dim(0, false)
    }

    /// Product along `dim` (`tensor.prod(dim, keepdim)`). The gradient is exact with zeros
    /// in the input, as in PyTorch: each element gets the product of the others.
    pub fn prod_dim(&self, dim: isize, keepdim: bool) -> Tensor {
        if self.dim() == 0 {
            normalize_dim(dim, 0, "prod");
            return if self.dtype().is_float() {
                self.shallow_clone()
            } else {
                self.to_dtype(DType::I64)
            };
        }
        let d = normalize_dim(dim, self.dim(), "prod");
        let x = match self.dtype() {
            DType::Bool | DType::U8 => self.to_dtype(DType::I64),
            _ => self.shallow_clone(),
        };
        let shape = reduced_shape(x.shape(), &[d], keepdim);
        let out = reductions::prod(&x, &[d]).reshape(&shape);
        record_out(out, &[&x], "ProdBackward1", |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sx = Saved::new(&x);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let g = unreduce(g, x.shape(), &[d]);
                let has_zero = x.eq_scalar(0.0).to_vec::<bool>().into_iter().any(|z| z);
                let gi = if !has_zero {
                    let y = if is_grad_enabled() {
                        x.prod_dim(d as isize, true)
                    } else {
                        unreduce(saved_out.get(), x.shape(), &[d])
                    };
                    g.mul(&y.div(x))
                } else if is_grad_enabled() {
                    g.mul(&others_product_graph(x, d))
                } else {
                    g.mul(&others_product_raw(x, d))
                };
                vec![Some(gi)]
            }
        })
    }

    /// Variance over `dims` (empty = all) with `correction` subtracted from the count
    /// (`tensor.var(dims, correction=c, keepdim)`; `unbiased=True` is `correction = 1`).
    /// A count not above the correction gives inf or NaN, as in PyTorch.
    pub fn var_dims(&self, dims: &[isize], correction: f64, keepdim: bool) -> Tensor {
        assert!(
            self.dtype().is_float(),
            "var: std and var only support floating point dtypes (got {})",
            self.dtype()
        );
        let d = resolve_unique_dims("var", self, dims);
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        let sd = signed(&d);
        let dev = self.sub(&self.mean_dims(&sd, true));
        dev.mul(&dev)
            .sum_dims(&sd, keepdim)
            .div_scalar((n as f64 - correction).max(0.0))
    }

    /// Unbiased variance of all elements (`tensor.var()`).
    pub fn var(&self) -> Tensor {
        self.var_dims(&[], 1.0, false)
    }

    /// Standard deviation over `dims` (`tensor.std(dims, correction=c, keepdim)`). Where
    /// it is 0 the gradient is 0, as in PyTorch.
    pub fn std_dims(&self, dims: &[isize], correction: f64, keepdim: bool) -> Tensor {
        assert!(
            self.dtype().is_float(),
            "std: std and var only support floating point dtypes (got {})",
            self.dtype()
        );
        let v = self.var_dims(dims, correction, keepdim);
        let out = no_grad(|| v.sqrt());
        record_out(out, &[&v], "StdBackward0", |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sv = Saved::new(&v);
            move |g: &Tensor, _: &[bool]| {
                let y = if is_grad_enabled() {
                    sv.get().sqrt()
                } else {
                    saved_out.get().shallow_clone()
                };
                let gi = g
                    .div(&y.mul_scalar(2.0))
                    .masked_fill(&y.eq_scalar(0.0), 0.0);
                vec![Some(gi)]
            }
        })
    }

    /// Unbiased standard deviation of all elements (`tensor.std()`).
    pub fn std(&self) -> Tensor {
        self.std_dims(&[], 1.0, false)
    }

    /// `log(sum(exp(x)))` over `dims` (empty = all), computed stably by subtracting the
    /// maximum (`torch.logsumexp`). Integer inputs are promoted to f32.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Tensor {
        let x = if self.dtype().is_float() {
            self.shallow_clone()
        } else {
            self.float()
        };
        let d = resolve_unique_dims("logsumexp", &x, dims);
        let sd = signed(&d);
        let out = no_grad(|| {
            let x = x.detach();
            let empty = d.iter().any(|&i| x.shape()[i] == 0);
            let kept = reduced_shape(x.shape(), &d, true);
            let m = if empty {
                Tensor::zeros_dtype(&kept, x.dtype())
            } else {
                // An infinite max would give inf - inf; PyTorch shifts by 0 there.
                let m = x.amax(&sd, true);
                m.masked_fill(&m.abs().eq_scalar(f64::INFINITY), 0.0)
            };
            x.sub(&m)
                .exp()
                .sum_dims(&sd, true)
                .log()
                .add(&m)
                .reshape(&reduced_shape(x.shape(), &d, keepdim))
        });
        record_out(out, &[&x], "LogsumexpBackward0", |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sx = Saved::new(&x);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                let y = if is_grad_enabled() {
                    x.logsumexp(&sd, true)
                } else {
                    unreduce(saved_out.get(), x.shape(), &d)
                };
                vec![Some(unreduce(g, x.shape(), &d).mul(&x.sub(&y).exp()))]
            }
        })
    }

    /// The `p`-norm of all elements, as a 0-D tensor (`tensor.norm(p)`, `p = 2.0` for
    /// PyTorch's default).
    pub fn norm(&self, p: f64) -> Tensor {
        self.norm_dims(p, &[], false)
    }

    /// The vector `p`-norm over `dims` (empty = all) (`torch.linalg.vector_norm`). `p` may
    /// be any real, `0` (count of non-zeros), or `±inf` (max/min of `|x|`). At a zero
    /// vector the gradient is 0 (PyTorch's subgradient).
    pub fn norm_dims(&self, p: f64, dims: &[isize], keepdim: bool) -> Tensor {
        assert!(
            self.dtype().is_float(),
            "linalg.vector_norm: Expected a floating point tensor as input. Got {}",
            self.dtype()
        );
        let d = resolve_unique_dims("linalg.vector_norm", self, dims);
        let sd = signed(&d);
        if p == 1.0 {
            return self.abs().sum_dims(&sd, keepdim);
        }
        if p.is_infinite() {
            let empty = self.numel() == 0 || d.iter().any(|&i| self.shape()[i] == 0);
            assert!(
                !empty,
                "linalg.vector_norm: cannot compute the {p} norm on an empty tensor because \
                 the operation does not have an identity (input shape {:?})",
                self.shape()
            );
            let a = self.abs();
            return if p > 0.0 {
                a.amax(&sd, keepdim)
            } else {
                a.amin(&sd, keepdim)
            };
        }
        let shape = reduced_shape(self.shape(), &d, keepdim);
        let out = no_grad(|| {
            let x = self.detach();
            let r = if p == 0.0 {
                x.ne_scalar(0.0).to_dtype(x.dtype()).sum_dims(&sd, true)
            } else if p == 2.0 {
                x.mul(&x).sum_dims(&sd, true).sqrt()
            } else {
                x.abs()
                    .pow_scalar(p)
                    .sum_dims(&sd, true)
                    .pow_scalar(1.0 / p)
            };
            r.reshape(&shape)
        });
        record_out(out, &[self], "LinalgVectorNormBackward0", |out: &Tensor| {
            let saved_out = Saved::data(out);
            let sx = Saved::new(self);
            move |g: &Tensor, _: &[bool]| {
                let x = sx.get();
                if p == 0.0 {
                    return vec![Some(x.zeros_like())];
                }
                let g = unreduce(g, x.shape(), &d);
                let y = if is_grad_enabled() {
                    x.norm_dims(p, &sd, true)
                } else {
                    unreduce(saved_out.get(), x.shape(), &d)
                };
                let y_zero = y.eq_scalar(0.0);
                let gi = if p == 2.0 {
                    g.mul(&x.div(&y).masked_fill(&y_zero, 0.0))
                } else if p < 1.0 {
                    let scaled = x
                        .sign()
                        .mul(&x.abs().pow_scalar(p - 1.0))
                        .masked_fill(&x.eq_scalar(0.0), 0.0);
                    scaled.mul(&g).mul(&y.pow_scalar(1.0 - p))
                } else {
                    let scaled = if p < 2.0 {
                        x.sign().mul(&x.abs().pow_scalar(p - 1.0))
                    } else {
                        x.mul(&x.abs().pow_scalar(p - 2.0))
                    };
                    scaled.mul(&g.div(&y.pow_scalar(p - 1.0)).masked_fill(&y_zero, 0.0))
                };
                vec![Some(gi)]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_product_handles_zeros() {
        let s = Tensor::from_vec(vec![2.0f64, 0.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        assert_eq!(
            reductions::others_product(&s, 3).to_vec::<f64>(),
            vec![0.0, 6.0, 0.0, 30.0, 24.0, 20.0]
        );
    }
}
