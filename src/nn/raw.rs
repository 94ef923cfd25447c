//! Raw in-place writes into tensor storage (no autograd), for initialisers and loading:
//! thin names over the kernel layer's copies and random fills.

use crate::tensor::Tensor;
use crate::tensor::kernels::{copy, random_fill};
use crate::tensor::random::Generator;

/// Overwrites `t`'s elements, in logical order, with `values` converted to its dtype.
pub(crate) fn write_f64(t: &Tensor, values: &[f64]) {
    copy::write_f64(t, values)
}

/// Fills `t` in place with `f()` for each element in logical order.
pub(crate) fn fill_with(t: &Tensor, mut f: impl FnMut() -> f64) {
    let v: Vec<f64> = (0..t.numel()).map(|_| f()).collect();
    write_f64(t, &v);
}

/// Copies `src` (same shape, any dtype) into `dst` in place (`dst.copy_(src)`).
pub(crate) fn copy_into(dst: &Tensor, src: &Tensor) {
    copy::copy_into(dst, src)
}

/// `t.uniform_(low, high, generator=g)` in place: the same draws as PyTorch's CPU kernel.
pub(crate) fn uniform_in_place(t: &Tensor, low: f64, high: f64, g: &mut Generator) {
    random_fill::uniform_(t, low, high, g)
}

/// `t.normal_(mean, std, generator=g)` in place: the same draws as PyTorch's CPU kernel.
pub(crate) fn normal_in_place(t: &Tensor, mean: f64, std: f64, g: &mut Generator) {
    random_fill::normal_(t, mean, std, g)
}
