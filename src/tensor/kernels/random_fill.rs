//! Random fills in place and dropout masks: PyTorch's CPU draws for the same seed.

use crate::tensor::Tensor;
use crate::tensor::backend::select;
use crate::tensor::random::{Generator, bernoulli_scalar_kernel};

/// `t.uniform_(low, high, generator=g)` in place: the same draws as PyTorch's CPU kernel.
pub fn uniform_(t: &Tensor, low: f64, high: f64, g: &mut Generator) {
    select("uniform_", &[t]).uniform_(t, low, high, g)
}

/// `t.normal_(mean, std, generator=g)` in place: the same draws as PyTorch's CPU kernel,
/// which uses its vectorised 16-wide Box-Muller only on contiguous tensors of 16 or more
/// elements and the scalar one (in memory order) otherwise.
pub fn normal_(t: &Tensor, mean: f64, std: f64, g: &mut Generator) {
    assert!(std >= 0.0, "normal expects std >= 0.0, but found std {std}");
    select("normal_", &[t]).normal_(t, mean, std, g)
}

/// Inverted dropout of a float `x` keeping each element with probability `keep`:
/// `(mask, x * mask)` with the mask `1/keep` or 0, drawn from the default generator
/// with the Bernoulli kernel PyTorch uses on this machine.
pub fn dropout(x: &Tensor, keep: f64) -> (Tensor, Tensor) {
    select("dropout", &[x]).dropout(x, keep, bernoulli_scalar_kernel())
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::float_dispatch;
    use crate::tensor::kernels::elementwise::zip;
    use crate::tensor::kernels::par_chunk;
    use crate::tensor::kernels::simd::dispatch;
    use crate::tensor::parallel::fill_vec;
    use crate::tensor::random::{
        BernoulliScalarKernel, Generator, bernoulli_bound, pair_bits53, with_global,
    };
    use crate::tensor::{BufferElement, DType, Float, Tensor};

    /// The storage indices of `t`'s elements in the order PyTorch's `TensorIterator`
    /// visits them for a nullary op: dims ordered by decreasing stride (memory order
    /// for any non-overlapping view), then row-major.
    fn memory_order(t: &Tensor) -> Vec<usize> {
        let l = t.layout();
        let mut dims: Vec<usize> = (0..l.ndim()).collect();
        dims.sort_by(|&a, &b| l.strides()[b].cmp(&l.strides()[a]));
        let permuted = l.permuted(&dims);
        let mut order = Vec::with_capacity(t.numel());
        permuted.for_each_index(|i| order.push(i));
        order
    }

    /// Runs `fill` over `t`'s elements in place: directly on the storage slice when `t`
    /// is contiguous, else over a buffer in [`memory_order`] that is scattered back.
    fn fill_slice<T: BufferElement + Default + Copy>(t: &Tensor, fill: impl FnOnce(&mut [T])) {
        let mut guard = t.storage().write();
        let data = T::slice_mut(&mut guard).expect("dtype matches storage");
        if let Some(r) = t.layout().contiguous_range() {
            fill(&mut data[r]);
        } else {
            let order = memory_order(t);
            let mut buf = vec![T::default(); order.len()];
            fill(&mut buf);
            for (&i, v) in order.iter().zip(buf) {
                data[i] = v;
            }
        }
    }

    /// See [`super::uniform_`].
    pub fn uniform_(t: &Tensor, low: f64, high: f64, g: &mut Generator) {
        match t.dtype() {
            DType::F32 => fill_slice::<f32>(t, |s| g.fill_uniform_f32(s, low, high)),
            DType::F64 => fill_slice::<f64>(t, |s| g.fill_uniform_f64(s, low, high)),
            d => panic!(
                "\"uniform_kernel_cpu\" not implemented for '{}'",
                d.torch_name()
            ),
        }
    }

    /// See [`super::normal_`].
    pub fn normal_(t: &Tensor, mean: f64, std: f64, g: &mut Generator) {
        let contiguous = t.is_contiguous();
        match t.dtype() {
            DType::F32 => fill_slice::<f32>(t, |s| {
                if contiguous {
                    g.fill_normal_f32(s, mean, std)
                } else {
                    for v in s {
                        *v = g.normal_with(mean, std) as f32;
                    }
                }
            }),
            DType::F64 => fill_slice::<f64>(t, |s| {
                if contiguous {
                    g.fill_normal_f64(s, mean, std)
                } else {
                    for v in s {
                        *v = g.normal_with(mean, std);
                    }
                }
            }),
            d => panic!(
                "\"normal_kernel_cpu\" not implemented for '{}'",
                d.torch_name()
            ),
        }
    }

    /// See [`super::dropout`].
    pub fn dropout(x: &Tensor, keep: f64, kernel: BernoulliScalarKernel) -> (Tensor, Tensor) {
        float_dispatch!("dropout", x.dtype(), T => {
            if kernel == BernoulliScalarKernel::Generator && x.is_contiguous() {
                generator_masked::<T>(x, keep)
            } else {
                drawn_masked::<T>(x, keep, kernel)
            }
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
        // A cached block, given back below: fresh pages for the draws were ~1% of the
        // MNIST CNN's step in page faults.
        let mut bits = crate::tensor::alloc::filled_vec(2 * n, 0u32);
        with_global(|g| g.fill_u32(&mut bits));
        let (scale, bound) = (T::one() / T::c(keep), bernoulli_bound(keep));
        let chunk = par_chunk(n);
        let mask: Vec<T> = fill_vec(n, chunk, |lo, out| {
            dispatch(
                #[inline(always)]
                || mask_from_pairs(&bits[2 * lo..], bound, scale, out),
            )
        });
        crate::tensor::alloc::recycle(bits);
        let out: Vec<T> = x.with_contiguous(|xs: &[T]| {
            fill_vec(n, chunk, |lo, out| {
                dispatch(
                    #[inline(always)]
                    || product_into(&xs[lo..], &mask[lo..], out),
                )
            })
        });
        (
            Tensor::from_vec(mask, x.shape()),
            Tensor::from_vec(out, x.shape()),
        )
    }

    /// The mask values of consecutive draw pairs: `scale` where the pair's 53-bit
    /// uniform is below `keep` (as the integer test against `bound`), else 0.
    #[inline(always)]
    fn mask_from_pairs<T: Float>(
        bits: &[u32],
        bound: u64,
        scale: T,
        out: &mut [std::mem::MaybeUninit<T>],
    ) {
        for (o, pair) in out.iter_mut().zip(bits.chunks_exact(2)) {
            let kept = pair_bits53(pair[0], pair[1]) < bound;
            o.write(if kept { scale } else { T::zero() });
        }
    }

    /// `out[i] = a[i] * b[i]`.
    #[inline(always)]
    fn product_into<T: Float>(a: &[T], b: &[T], out: &mut [std::mem::MaybeUninit<T>]) {
        for ((o, &p), &q) in out.iter_mut().zip(a).zip(b) {
            o.write(p * q);
        }
    }

    /// For each element of `x` in logical order, the index of its draw, when that is not
    /// the identity. PyTorch's noise tensor is `empty_like(x)`, which keeps the strides
    /// of a dense (gap-free, non-overlapping) `x`, and is filled in memory order; for any
    /// other `x` it is contiguous.
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
}
