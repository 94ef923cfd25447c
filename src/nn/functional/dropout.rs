//! Inverted dropout.

use crate::autograd::record::{Saved, record};
use crate::float_dispatch;
use crate::tensor::kernels::elementwise::zip;
use crate::tensor::kernels::par_chunk;
use crate::tensor::parallel::fill_vec;
use crate::tensor::random::{
    BernoulliScalarKernel, bernoulli_from_pair, bernoulli_scalar_kernel, with_global,
};
use crate::tensor::{BufferElement, Float, Tensor};

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`, when
/// `training` (`F.dropout`); the identity otherwise. Draws from the default generator.
///
/// The mask is PyTorch's CPU one for the same seed: PyTorch fills an `empty_like(x)`
/// noise tensor with `bernoulli_(1 - p)`, divides it by `1 - p` in `x`'s dtype and
/// multiplies, and kiln does the same with the same draws. Which draws those are depends
/// on the machine PyTorch runs on (see
/// [`BernoulliScalarKernel`](crate::tensor::random::BernoulliScalarKernel)): on an Intel
/// CPU a PyTorch x86-64 build uses MKL's generator seeded by one 32-bit draw, elsewhere
/// its own 53-bit uniforms. kiln picks the same kernel for the CPU it runs on, so a kiln
/// program and its PyTorch twin on the same machine draw the same masks;
/// [`set_bernoulli_scalar_kernel`](crate::tensor::random::set_bernoulli_scalar_kernel)
/// picks one explicitly. `p == 0`, `p == 1`, eval mode and empty inputs draw nothing,
/// as in PyTorch.
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Tensor {
    assert!(
        (0.0..=1.0).contains(&p),
        "dropout probability has to be between 0 and 1, but got {p}"
    );
    if !training || p == 0.0 || x.numel() == 0 {
        return x.clone();
    }
    if p == 1.0 {
        return x.mul_scalar(0.0);
    }
    let keep = 1.0 - p;
    let kernel = bernoulli_scalar_kernel();
    let (mask, out) = float_dispatch!("dropout", x.dtype(), T => {
        if kernel == BernoulliScalarKernel::Generator && x.is_contiguous() {
            generator_masked::<T>(x, keep)
        } else {
            drawn_masked::<T>(x, keep, kernel)
        }
    });
    record(out, &[x], "MulBackward0", move || {
        let mask = Saved::new(&mask);
        move |g: &Tensor, _: &[bool]| vec![Some(g.mul(mask.get()))]
    })
}

/// Dropout through the kernel's Bernoulli fill, for any layout: draws in PyTorch's
/// memory order, then mask and product.
fn drawn_masked<T: Float + BufferElement>(
    x: &Tensor,
    keep: f64,
    kernel: BernoulliScalarKernel,
) -> (Tensor, Tensor) {
    let mut draws = vec![false; x.numel()];
    with_global(|g| g.fill_bernoulli_scalar(&mut draws, keep, kernel));
    let scale = T::one() / T::c(keep);
    let pick = |k: bool| if k { scale } else { T::zero() };
    let m: Vec<T> = match draw_order(x) {
        Some(o) => o.iter().map(|&j| pick(draws[j])).collect(),
        None => draws.iter().map(|&k| pick(k)).collect(),
    };
    let mask = Tensor::from_vec(m, x.shape());
    let out = zip::<T, T>("dropout", x, &mask, |a, b| a * b);
    (mask, out)
}

/// Dropout of a contiguous `x` with the generator kernel: the draws come from the
/// generator in one serial fill, then mask and output are built in parallel passes.
fn generator_masked<T: Float + BufferElement>(x: &Tensor, keep: f64) -> (Tensor, Tensor) {
    let n = x.numel();
    let mut bits = vec![0u32; 2 * n];
    with_global(|g| g.fill_u32(&mut bits));
    let scale = T::one() / T::c(keep);
    let chunk = par_chunk(n);
    let mask: Vec<T> = fill_vec(n, chunk, |lo, out| {
        for (j, o) in out.iter_mut().enumerate() {
            let i = 2 * (lo + j);
            let kept = bernoulli_from_pair(bits[i], bits[i + 1], keep);
            o.write(if kept { scale } else { T::zero() });
        }
    });
    let out: Vec<T> = x.with_contiguous(|xs: &[T]| {
        fill_vec(n, chunk, |lo, out| {
            for ((o, &a), &m) in out.iter_mut().zip(&xs[lo..]).zip(&mask[lo..]) {
                o.write(a * m);
            }
        })
    });
    (
        Tensor::from_vec(mask, x.shape()),
        Tensor::from_vec(out, x.shape()),
    )
}

/// For each element of `x` in logical order, the index of its draw, when that is not the
/// identity. PyTorch's noise tensor is `empty_like(x)`, which keeps the strides of a
/// dense (gap-free, non-overlapping) `x`, and is filled in memory order; for any other
/// `x` it is contiguous.
fn draw_order(x: &Tensor) -> Option<Vec<usize>> {
    if x.is_contiguous() {
        return None;
    }
    let mut offsets = Vec::with_capacity(x.numel());
    x.layout().for_each_index(|i| offsets.push(i));
    let base = *offsets.iter().min()?;
    let mut seen = vec![false; offsets.len()];
    for o in offsets.iter_mut() {
        *o -= base;
        if *o >= seen.len() || std::mem::replace(&mut seen[*o], true) {
            return None;
        }
    }
    Some(offsets)
}
