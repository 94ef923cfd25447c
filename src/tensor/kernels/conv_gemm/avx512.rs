//! The AVX-512 kernels: 32 zmm registers hold an 8 x 3 block of accumulators (6 x 4
//! where `n` is a multiple of 64 `f32` columns but not of 48), masked tails in `k`
//! registers.

use std::arch::x86_64::*;

/// The register block for an `m x n` product: 8 x 3 vectors, or 6 x 4 where four
/// vectors divide `n` and three do not (64 `f32` columns: 4 x 16, no tail).
fn block(_m: usize, n: usize, lanes: usize) -> (usize, usize) {
    if n.is_multiple_of(4 * lanes) && !n.is_multiple_of(3 * lanes) {
        (6, 4)
    } else {
        (8, 3)
    }
}

/// The mask of the first `tail` (1..=16) lanes.
#[inline(always)]
fn mask16(tail: usize) -> __mmask16 {
    if tail >= 16 { !0 } else { (1u16 << tail) - 1 }
}

/// The mask of the first `tail` (1..=8) lanes.
#[inline(always)]
fn mask8(tail: usize) -> __mmask8 {
    if tail >= 8 { !0 } else { (1u8 << tail) - 1 }
}

/// The lanes of `m` from `p`, zeros elsewhere.
///
/// # Safety
/// AVX-512F must be available and the masked lanes readable.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_ps(p: *const f32, m: __mmask16) -> __m512 {
    // SAFETY: the caller's.
    unsafe { _mm512_maskz_loadu_ps(m, p) }
}

/// [`load_ps`] of `f64`s.
///
/// # Safety
/// As [`load_ps`].
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_pd(p: *const f64, m: __mmask8) -> __m512d {
    // SAFETY: the caller's.
    unsafe { _mm512_maskz_loadu_pd(m, p) }
}

row_gemm_kernel!(
    ps, "avx512f", f32, 16, __m512, __mmask16,
    _mm512_setzero_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_storeu_ps,
    load_ps, _mm512_mask_storeu_ps, mask16,
    block,
    tiles: [1: 1 2 3 4, 2: 1 2 3 4, 3: 1 2 3 4, 4: 1 2 3 4, 5: 1 2 3 4, 6: 1 2 3 4,
            7: 1 2 3, 8: 1 2 3]
);
row_gemm_kernel!(
    pd, "avx512f", f64, 8, __m512d, __mmask8,
    _mm512_setzero_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_loadu_pd, _mm512_storeu_pd,
    load_pd, _mm512_mask_storeu_pd, mask8,
    block,
    tiles: [1: 1 2 3 4, 2: 1 2 3 4, 3: 1 2 3 4, 4: 1 2 3 4, 5: 1 2 3 4, 6: 1 2 3 4,
            7: 1 2 3, 8: 1 2 3]
);
