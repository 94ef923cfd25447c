//! The AVX2+FMA kernels: 16 ymm registers hold a 4 x 3 block of accumulators (12, with
//! three vectors of `B` and one broadcast of `A`), or 6 x 2 where `n` is a multiple of
//! two vectors but not of three (64 columns: no tail). Tails use `vmaskmov` with an
//! integer lane mask (sign bit per lane).

use std::arch::x86_64::*;

/// The mask of the first `tail` (1..=8) `f32` lanes.
///
/// # Safety
/// AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn mask_ps(tail: usize) -> __m256i {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32), lanes)
}

/// The mask of the first `tail` (1..=4) `f64` lanes.
///
/// # Safety
/// AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn mask_pd(tail: usize) -> __m256i {
    let lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    _mm256_cmpgt_epi64(_mm256_set1_epi64x(tail as i64), lanes)
}

row_gemm_kernel!(
    ps, "avx2,fma", f32, 8, __m256, __m256i,
    _mm256_setzero_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps,
    _mm256_maskload_ps, _mm256_maskstore_ps, mask_ps,
    blocks: (4, 3), (6, 2),
    tiles: [1: 1 2 3, 2: 1 2 3, 3: 1 2 3, 4: 1 2 3, 5: 1 2, 6: 1 2]
);
row_gemm_kernel!(
    pd, "avx2,fma", f64, 4, __m256d, __m256i,
    _mm256_setzero_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_storeu_pd,
    _mm256_maskload_pd, _mm256_maskstore_pd, mask_pd,
    blocks: (4, 3), (6, 2),
    tiles: [1: 1 2 3, 2: 1 2 3, 3: 1 2 3, 4: 1 2 3, 5: 1 2, 6: 1 2]
);
