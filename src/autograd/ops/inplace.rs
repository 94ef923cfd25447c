//! In-place ops (`add_`, `mul_`, `copy_`, `zero_`, ...), following PyTorch's rules.
//!
//! Each returns a handle to `self` (PyTorch returns self), so calls chain. Every write goes
//! through `Storage::write()`, bumping the version counter: a graph that saved the old
//! value panics on backward instead of giving a wrong gradient.
//!
//! With grad mode on:
//! - an in-place op on a leaf that requires grad panics (under `no_grad`, as in the
//!   optimizer update `w -= lr * w.grad`, it is allowed);
//! - on a non-leaf, or when the other operand requires grad, the tensor's `grad_fn` is
//!   rebased onto the op, as PyTorch does (`h = a * 2; h.add_(&b)` differentiates
//!   through both). This needs the tensor to be the only user of its storage: an
//!   in-place change through a view (or of a tensor that has views) would leave the
//!   other views' history stale, so that case panics rather than give wrong gradients.

use super::binary::scalar_like;
use crate::autograd::mode::{is_grad_enabled, no_grad};
use crate::autograd::record::record;
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::arith::{self, BinaryOp};
use crate::tensor::kernels::elementwise::broadcast_or_panic;
use crate::tensor::{DType, Scalar, Tensor};

/// Category for PyTorch's in-place cast rule: bool < integer < float.
fn category(d: DType) -> u8 {
    match d {
        DType::Bool => 0,
        DType::U8 | DType::I64 => 1,
        DType::F32 | DType::F64 => 2,
    }
}

fn assert_castable(op: &str, result: DType, dst: DType) {
    assert!(
        category(result) <= category(dst),
        "{op}: result type {} can't be cast to the desired output type {}",
        result.torch_name(),
        dst.torch_name()
    );
}

/// Checks PyTorch's rules for an in-place op on `dst`; returns whether it must be recorded.
fn prepare(op: &str, dst: &Tensor, other: Option<&Tensor>) -> bool {
    // PyTorch's `assert_no_internal_overlap`: a stride-0 dimension makes several elements
    // one memory cell, so `expand(..).add_(x)` would add once per element. Filling is
    // idempotent, so `fill_` / `zero_` are allowed (as in PyTorch).
    assert!(
        matches!(op, "fill_" | "zero_")
            || !dst
                .shape()
                .iter()
                .zip(dst.stride())
                .any(|(&n, &s)| n > 1 && s == 0),
        "{op}: unsupported operation: more than one element of the written-to tensor \
         (shape {:?}, strides {:?}) refers to a single memory location. Please clone() the \
         tensor before performing the operation.",
        dst.shape(),
        dst.stride()
    );
    if let Some(o) = other {
        check_same_device(op, &[dst, o]);
        let shape = broadcast_or_panic(op, dst.shape(), o.shape());
        assert!(
            shape == dst.shape(),
            "{op}: output with shape {:?} doesn't match the broadcast shape {shape:?}",
            dst.shape()
        );
    }
    if !is_grad_enabled() {
        return false;
    }
    assert!(
        !(dst.is_leaf() && dst.requires_grad()),
        "{op}: a leaf Variable that requires grad is being used in an in-place operation."
    );
    let rec =
        dst.dtype().is_float() && (dst.requires_grad() || other.is_some_and(|o| o.requires_grad()));
    if rec {
        assert!(
            dst.storage().handle_count() == 1,
            "{op}: in-place operation on a tensor (shape {:?}) that requires grad and shares its \
             storage with another tensor (a view, or an output saved for backward) is not \
             supported; use the out-of-place op instead",
            dst.shape()
        );
    }
    rec
}

/// Whether the single-pass kernel may run: nothing to record and matching dtypes.
fn fast_ok(op: &str, dst: &Tensor, other: &Tensor) -> bool {
    !prepare(op, dst, Some(other)) && other.dtype() == dst.dtype() && dst.dtype() != DType::Bool
}

/// Overwrites `dst` with `value` (same dtype, broadcast to `dst`'s shape).
fn write_into(op: &str, dst: &Tensor, value: &Tensor) {
    let value = if value.dtype() == dst.dtype() {
        value.shallow_clone()
    } else {
        value.cast_raw(dst.dtype())
    };
    arith::assign(op, dst, &value);
}

/// Runs an in-place op as its out-of-place form `f`, writes the result back and, when
/// recording, rebases `dst`'s history onto it. `snapshot` is for ops whose backward
/// needs the old value of `dst`: they get a copy, since `dst` itself is overwritten.
fn inplace_via(
    op: &str,
    dst: &Tensor,
    other: Option<&Tensor>,
    snapshot: bool,
    f: impl FnOnce(&Tensor, Option<&Tensor>) -> Tensor,
) -> Tensor {
    if !prepare(op, dst, other) {
        let r = no_grad(|| f(dst, other));
        assert_castable(op, r.dtype(), dst.dtype());
        write_into(op, dst, &r);
        return dst.shallow_clone();
    }
    let snap = if snapshot {
        dst.clone()
    } else {
        dst.shallow_clone()
    };
    let other = other.map(|o| {
        if o.same_tensor(dst) {
            snap.shallow_clone()
        } else {
            o.shallow_clone()
        }
    });
    let r = f(&snap, other.as_ref());
    assert_castable(op, r.dtype(), dst.dtype());
    let r = r.to_dtype(dst.dtype());
    write_into(op, dst, &r.detach());
    if let Some(node) = r.grad_fn() {
        dst.set_grad_fn(node);
    }
    dst.shallow_clone()
}

/// `dst op= src` in one pass over `dst`, for same-dtype numeric operands.
fn fast_zip(op: BinaryOp, dst: &Tensor, src: &Tensor) -> Tensor {
    arith::binary_(op, dst, src);
    dst.shallow_clone()
}

impl Tensor {
    /// `self += other` in place, broadcasting `other` (`tensor.add_(other)`).
    pub fn add_(&self, other: &Tensor) -> Tensor {
        if fast_ok("add_", self, other) {
            return fast_zip(BinaryOp::Add, self, other);
        }
        inplace_via("add_", self, Some(other), false, |s, o| s.add(o.unwrap()))
    }

    /// `self += alpha * other` in place (`tensor.add_(other, alpha=alpha)`), the usual
    /// optimizer update.
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> Tensor {
        if self.dtype().is_float() && fast_ok("add_", self, other) {
            arith::add_scaled_(self, other, alpha);
            return self.shallow_clone();
        }
        inplace_via("add_", self, Some(other), false, |s, o| {
            s.add(&o.unwrap().mul_scalar(alpha))
        })
    }

    /// `self -= other` in place (`tensor.sub_(other)`).
    pub fn sub_(&self, other: &Tensor) -> Tensor {
        if fast_ok("sub_", self, other) {
            return fast_zip(BinaryOp::Sub, self, other);
        }
        inplace_via("sub_", self, Some(other), false, |s, o| s.sub(o.unwrap()))
    }

    /// `self *= other` in place (`tensor.mul_(other)`).
    pub fn mul_(&self, other: &Tensor) -> Tensor {
        if fast_ok("mul_", self, other) {
            return fast_zip(BinaryOp::Mul, self, other);
        }
        inplace_via("mul_", self, Some(other), true, |s, o| s.mul(o.unwrap()))
    }

    /// `self /= other` in place, true division (`tensor.div_(other)`); integer tensors
    /// cannot hold the float result and panic, as in PyTorch.
    pub fn div_(&self, other: &Tensor) -> Tensor {
        if self.dtype().is_float() && fast_ok("div_", self, other) {
            return fast_zip(BinaryOp::Div, self, other);
        }
        inplace_via("div_", self, Some(other), true, |s, o| s.div(o.unwrap()))
    }

    /// `self += v` in place (`tensor.add_(v)`).
    pub fn add_scalar_(&self, v: impl Into<Scalar>) -> Tensor {
        self.add_(&scalar_like(self, v))
    }

    /// `self -= v` in place (`tensor.sub_(v)`).
    pub fn sub_scalar_(&self, v: impl Into<Scalar>) -> Tensor {
        self.sub_(&scalar_like(self, v))
    }

    /// `self *= v` in place (`tensor.mul_(v)`).
    pub fn mul_scalar_(&self, v: impl Into<Scalar>) -> Tensor {
        self.mul_(&scalar_like(self, v))
    }

    /// `self /= v` in place (`tensor.div_(v)`).
    pub fn div_scalar_(&self, v: impl Into<Scalar>) -> Tensor {
        self.div_(&scalar_like(self, v))
    }

    /// Clamps into `[min, max]` in place (`tensor.clamp_(min, max)`).
    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> Tensor {
        inplace_via("clamp_", self, None, true, |s, _| s.clamp(min, max))
    }

    /// Sets every element to `v` (`tensor.fill_(v)`).
    pub fn fill_(&self, v: f64) -> Tensor {
        self.overwrite(
            "fill_",
            "FillBackward2",
            &Tensor::scalar_dtype(v, self.dtype()),
            None,
        )
    }

    /// Sets every element to 0 (`tensor.zero_()`).
    pub fn zero_(&self) -> Tensor {
        self.overwrite(
            "zero_",
            "ZeroBackward0",
            &Tensor::scalar_dtype(0.0, self.dtype()),
            None,
        )
    }

    /// Copies `src` into `self`, broadcasting it and converting its dtype
    /// (`tensor.copy_(src)`). The gradient flows to `src`; the old value gets none.
    pub fn copy_(&self, src: &Tensor) -> Tensor {
        self.overwrite("copy_", "CopyBackwards", src, Some(src))
    }

    /// Replaces the contents with `value` (broadcast, cast). `src` is the differentiable
    /// source, if any; the overwritten old value gets a zero gradient.
    fn overwrite(
        &self,
        op: &str,
        node: &'static str,
        value: &Tensor,
        src: Option<&Tensor>,
    ) -> Tensor {
        let rec = prepare(op, self, Some(value));
        write_into(op, self, &value.detach());
        if rec {
            let inputs: Vec<&Tensor> = std::iter::once(self).chain(src).collect();
            let (src_dtype, src_shape) = (value.dtype(), value.size());
            let tmp = record(self.detach(), &inputs, node, move || {
                move |g: &Tensor, n: &[bool]| {
                    let mut out = vec![n[0].then(|| g.zeros_like())];
                    if n.len() > 1 {
                        out.push(n[1].then(|| g.to_dtype(src_dtype).sum_to_size(&src_shape)));
                    }
                    out
                }
            });
            if let Some(n) = tmp.grad_fn() {
                self.set_grad_fn(n);
            }
        }
        self.shallow_clone()
    }
}
