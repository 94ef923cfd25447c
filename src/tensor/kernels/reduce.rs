//! Reductions over trailing contiguous chunks.
//!
//! Reduced dims are permuted to the end and made contiguous, so every output element
//! folds one contiguous run of inputs.

use super::PAR_THRESHOLD;
use super::simd::dispatch;
use crate::tensor::kernels::cast::contiguous_copy;
use crate::tensor::parallel::fill_vec;
use crate::tensor::{BufferElement, Float, Tensor};

/// `x` with `dims` moved last and made contiguous; returns it with the kept shape and the
/// length of each reduced run.
pub fn move_reduced_last(x: &Tensor, dims: &[usize]) -> (Tensor, Vec<usize>, usize) {
    let nd = x.dim();
    let mut perm: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    let kept: Vec<usize> = perm.iter().map(|&d| x.shape()[d]).collect();
    perm.extend(dims.iter().copied());
    let run: usize = dims.iter().map(|&d| x.shape()[d]).product();
    let permuted = x.with_layout(x.layout().permuted(&perm));
    let c = if permuted.is_contiguous() {
        permuted
    } else {
        contiguous_copy(&permuted)
    };
    (c, kept, run)
}

/// Sum of a slice with 32 independent accumulators (vectorisable, and more accurate
/// than one running sum), at the CPU's best SIMD level.
pub fn sum_slice<T: Float>(s: &[T]) -> T {
    // Not a `dispatch` closure around `sum_lanes`: LLVM left that closure out of line (its
    // unrolled body is over the inliner's budget), so the dispatched copy was baseline
    // SSE code at every level. Named `#[target_feature]` functions with the
    // `#[inline(always)]` body inside are compiled for their level for certain.
    #[cfg(target_arch = "x86_64")]
    {
        use super::simd::{Capability, capability};
        match capability() {
            // SAFETY: `capability()` never exceeds what the CPU has.
            Capability::Avx512 => unsafe { sum_v4(s) },
            // SAFETY: as above.
            Capability::Avx2 => unsafe { sum_v3(s) },
            Capability::Default => sum_lanes(s),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    sum_lanes(s)
}

/// [`sum_lanes`] compiled for x86-64-v4 (AVX-512).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn sum_v4<T: Float>(s: &[T]) -> T {
    sum_lanes(s)
}

/// [`sum_lanes`] compiled for x86-64-v3 (AVX2 + FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma")]
unsafe fn sum_v3<T: Float>(s: &[T]) -> T {
    sum_lanes(s)
}

/// The body of [`sum_slice`]; the same additions in the same order at every level.
#[inline(always)]
fn sum_lanes<T: Float>(s: &[T]) -> T {
    // 32 independent lanes: two or four SIMD accumulators, so the adds of one
    // iteration do not wait on each other and the loop runs at memory speed.
    const LANES: usize = 32;
    let mut acc = [T::zero(); LANES];
    let chunks = s.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    let mut total = acc[0];
    for &v in rest {
        total += v;
    }
    total
}

/// Folds every run of `run` contiguous elements of `c` with `f`, in parallel when large.
pub fn fold_runs<T: BufferElement, U: BufferElement>(
    c: &Tensor,
    run: usize,
    out_count: usize,
    f: impl Fn(&[T]) -> U + Sync + Send,
) -> Vec<U> {
    c.with_contiguous(|s: &[T]| {
        if run == 0 {
            return (0..out_count).map(|_| f(&[])).collect();
        }
        if s.len() < PAR_THRESHOLD {
            let mut out = crate::tensor::alloc::vec_with_capacity(out_count);
            dispatch(
                #[inline(always)]
                || fold_into(s, run, &f, 0, &mut out.spare_capacity_mut()[..out_count]),
            );
            // SAFETY: `fold_into` wrote all `out_count` elements.
            unsafe { out.set_len(out_count) };
            out
        } else {
            let group = (super::par_chunk(s.len()) / run).max(1);
            fill_vec(out_count, group, |first, out| {
                dispatch(
                    #[inline(always)]
                    || fold_into(s, run, &f, first, out),
                )
            })
        }
    })
}

/// Writes `f` of runs `first..first + out.len()` of `s` into `out`. A named
/// `#[inline(always)]` function, not a closure, so the loop is compiled inside the
/// [`dispatch`] level around its caller (closures there may stay out of line).
#[inline(always)]
fn fold_into<T, U>(
    s: &[T],
    run: usize,
    f: &impl Fn(&[T]) -> U,
    first: usize,
    out: &mut [std::mem::MaybeUninit<U>],
) {
    for (j, o) in out.iter_mut().enumerate() {
        let lo = (first + j) * run;
        o.write(f(&s[lo..lo + run]));
    }
}

/// Reduces `dims` of `x` with `f` applied to each run; output shape is the kept dims.
pub fn reduce<T: BufferElement, U: BufferElement>(
    x: &Tensor,
    dims: &[usize],
    f: impl Fn(&[T]) -> U + Sync + Send,
) -> Tensor {
    let (c, kept, run) = move_reduced_last(x, dims);
    let count = kept.iter().product();
    Tensor::from_vec(fold_runs(&c, run, count, f), &kept)
}
