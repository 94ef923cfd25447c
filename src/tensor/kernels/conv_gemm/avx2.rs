//! The AVX2+FMA kernels: 16 ymm registers hold 12 accumulators, a 6 x 2 or 4 x 3 block
//! (with two or three vectors of `B` and one broadcast of `A`). Tails use `vmaskmov`
//! with an integer lane mask (sign bit per lane).

use std::arch::x86_64::*;

/// The register block for an `m x n` product: 6 x 2 vectors, or 4 x 3 for at most four
/// rows or where three vectors divide `n` and two do not. Measured at the conv_bench
/// shapes (AVX2 on the Zen 4, 2 threads): 6 x 2 took the MNIST 32->64 Winograd forward
/// from 8.7 to 7.4 ms (169 columns) and its weight gradient from 9.2 to 5.5 ms (64
/// columns); the 1->32 input gradient (one row, 784 columns) ran 0.60 ms at 4 x 3 against
/// 0.87 ms at 6 x 2, its rows too few to fill the taller block.
fn block(m: usize, n: usize, lanes: usize) -> (usize, usize) {
    if m <= 4 || (n.is_multiple_of(3 * lanes) && !n.is_multiple_of(2 * lanes)) {
        (4, 3)
    } else {
        (6, 2)
    }
}

/// The mask of the first `tail` (1..=8) `f32` lanes (also `wgrad_one_channel`'s tails).
///
/// # Safety
/// AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2")]
pub(in crate::tensor::kernels) unsafe fn mask_ps(tail: usize) -> __m256i {
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
    block,
    tiles: [1: 1 2 3, 2: 1 2 3, 3: 1 2 3, 4: 1 2 3, 5: 1 2, 6: 1 2]
);
row_gemm_kernel!(
    pd, "avx2,fma", f64, 4, __m256d, __m256i,
    _mm256_setzero_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_storeu_pd,
    _mm256_maskload_pd, _mm256_maskstore_pd, mask_pd,
    block,
    tiles: [1: 1 2 3, 2: 1 2 3, 3: 1 2 3, 4: 1 2 3, 5: 1 2, 6: 1 2]
);
