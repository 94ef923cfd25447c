//! The f32 input transform on AVX2: [`super::avx512::input_tiles`] with 8-lane vectors,
//! 7 tiles a step (their 16 columns fill two vectors). The portable transform gathers
//! each tile's points with stride-2 scalar copies from a padded copy of the image.

use std::arch::x86_64::*;

/// The lanes `lo <= l < hi` (of 8) as an integer mask (all ones where set).
#[inline]
#[target_feature(enable = "avx2")]
fn range_mask(lo: i32, hi: i32) -> __m256i {
    let l = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_and_si256(
        _mm256_cmpgt_epi32(l, _mm256_set1_epi32(lo - 1)),
        _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), l),
    )
}

/// The lanes `l < count` (of 8) whose column `first + l` lies in `0..w`.
#[inline]
#[target_feature(enable = "avx2")]
fn window_mask(first: isize, count: usize, w: usize) -> __m256i {
    let lo = (-first).clamp(0, 8) as i32;
    let hi = (w as isize - first).clamp(0, count.min(8) as isize) as i32;
    range_mask(lo, hi)
}

/// `V = Bᵀ d B` of `n` tiles of four rows `src[r]` (whole image rows, `None` for rows of
/// zeros above or below the image) whose first tile starts at column `first` (< 0 or past
/// the row's end where the plane's zeros are): point `q` of tile `j` goes to `dst[q] + j`.
/// Columns outside the row are masked off, never read.
///
/// # Safety
/// AVX2 must be available and every `dst[q]` writable for `n`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn input_tiles(
    src: [Option<&[f32]>; 4],
    first: isize,
    n: usize,
    dst: [*mut f32; 16],
) {
    // Lanes 1..8 of the even or odd columns: the columns two further on.
    let next = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
    // `shuffle_ps` leaves [0 2 8 10 | 4 6 12 14]; swapping the middle pairs sorts them.
    let sorted = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(v)));
    let bt = |[a, b, c, e]: [__m256; 4]| {
        [
            _mm256_sub_ps(a, c),
            _mm256_add_ps(b, c),
            _mm256_sub_ps(c, b),
            _mm256_sub_ps(b, e),
        ]
    };
    let mut j = 0;
    while j < n {
        let nn = (n - j).min(7);
        let cnt = 2 * nn + 2;
        let start = first + 2 * j as isize;
        let mut d = [[_mm256_setzero_ps(); 4]; 4];
        for (row, src) in d.iter_mut().zip(src) {
            let Some(src) = src else { continue };
            let w = src.len();
            let p = src.as_ptr().wrapping_offset(start);
            // Whole vectors inside the row load plainly.
            let (lo, hi) = if start >= 0 && start as usize + 16 <= w && cnt == 16 {
                // SAFETY: columns `start..start + 16` are inside `src`.
                unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
            } else {
                let m0 = window_mask(start, cnt, w);
                let m1 = window_mask(start + 8, cnt.saturating_sub(8), w);
                // SAFETY: a lane is loaded only when its column is inside `src`.
                unsafe {
                    (
                        _mm256_maskload_ps(p, m0),
                        _mm256_maskload_ps(p.wrapping_add(8), m1),
                    )
                }
            };
            let even = sorted(_mm256_shuffle_ps::<0x88>(lo, hi));
            let odd = sorted(_mm256_shuffle_ps::<0xDD>(lo, hi));
            *row = [
                even,
                odd,
                _mm256_permutevar8x32_ps(even, next),
                _mm256_permutevar8x32_ps(odd, next),
            ];
        }
        let down: [[__m256; 4]; 4] = {
            let cols: [[__m256; 4]; 4] =
                std::array::from_fn(|c| bt([d[0][c], d[1][c], d[2][c], d[3][c]]));
            std::array::from_fn(|r| std::array::from_fn(|c| cols[c][r]))
        };
        // Before the last step the eighth lane lands on the next step's first tile, which
        // that step rewrites: plain stores (masked ones are microcoded on AMD).
        let whole = j + 8 <= n;
        let sm = range_mask(0, nn as i32);
        for (r, row) in down.into_iter().enumerate() {
            for (c, x) in bt(row).into_iter().enumerate() {
                let p = dst[4 * r + c].wrapping_add(j);
                // SAFETY: the caller's bounds: `j + 8 <= n` for the whole vector, else
                // masked-off lanes are not written.
                unsafe {
                    if whole {
                        _mm256_storeu_ps(p, x)
                    } else {
                        _mm256_maskstore_ps(p, sm, x)
                    }
                }
            }
        }
        j += nn;
    }
}
