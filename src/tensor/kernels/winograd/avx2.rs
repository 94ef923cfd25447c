//! The f32 transforms on AVX2: [`super::avx512`]'s with 8-lane vectors, the input's 7
//! tiles a step (their 16 columns fill two vectors), the output's 8. The portable input
//! transform gathers each tile's points with stride-2 scalar copies from a padded copy
//! of the image; its output transform scatters pairs, both too short for vector steps.

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
/// Columns outside the row read as zeros: loaded from `whole` (of which every row is a
/// slice) and zeroed where they lie inside it, else masked off and never read. One element past the `n` tiles
/// of each `dst[q]` may be overwritten: the caller writes it later or never reads it.
///
/// # Safety
/// AVX2 must be available and every `dst[q]` writable for `n + 1`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn input_tiles(
    whole: &[f32],
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
            // SAFETY: `src` is a slice of `whole`.
            let at = unsafe { src.as_ptr().offset_from(whole.as_ptr()) } + start;
            // Whole vectors inside the row load plainly.
            let (lo, hi) = if start >= 0 && start as usize + 16 <= w && cnt == 16 {
                // SAFETY: columns `start..start + 16` are inside `src`.
                unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
            } else if at >= 0 && at as usize + 16 <= whole.len() {
                // Inside `whole`, plain loads with the lanes outside the row zeroed: a
                // masked load is several times slower here.
                let m0 = window_mask(start, cnt, w);
                let m1 = window_mask(start + 8, cnt.saturating_sub(8), w);
                // SAFETY: the 16 columns from `p` are inside `whole`.
                unsafe {
                    (
                        _mm256_and_ps(_mm256_loadu_ps(p), _mm256_castsi256_ps(m0)),
                        _mm256_and_ps(_mm256_loadu_ps(p.add(8)), _mm256_castsi256_ps(m1)),
                    )
                }
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
        // Every store is a whole vector (masked stores are microcoded on AMD, and were
        // half of these stores): the eighth lane lands on the next step's first tile,
        // which that step rewrites, or past the segment (see the safety contract).
        for (r, row) in down.into_iter().enumerate() {
            for (c, x) in bt(row).into_iter().enumerate() {
                // SAFETY: the caller's bounds: `j + 8 <= n + 1`.
                unsafe { _mm256_storeu_ps(dst[4 * r + c].wrapping_add(j), x) };
            }
        }
        j += nn;
    }
}

/// `Y = Aᵀ M A + bias` of `n` tiles whose point `q` is at `src[q] + j` (tile `j`), written
/// to the first `cols` columns of `rows[0]` and, when `two`, `rows[1]`:
/// [`super::avx512::output_tiles`] with 8 tiles a step.
///
/// # Safety
/// AVX2 must be available, every `src[q]` readable for `n` elements, the rows writable for
/// `cols <= 2 n` (the second only when `two`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn output_tiles(
    src: [*const f32; 16],
    n: usize,
    bias: f32,
    rows: [*mut f32; 2],
    cols: usize,
    two: bool,
) {
    let b = _mm256_set1_ps(bias);
    let at = |[a, c, d, e]: [__m256; 4]| {
        [
            _mm256_add_ps(_mm256_add_ps(a, c), d),
            _mm256_sub_ps(_mm256_sub_ps(c, d), e),
        ]
    };
    let mut j = 0;
    while j < n {
        let nn = (n - j).min(8);
        let lm = range_mask(0, nn as i32);
        // SAFETY: the caller's bounds; a partial step's missing lanes are not read.
        let m: [__m256; 16] = std::array::from_fn(|q| unsafe {
            let p = src[q].wrapping_add(j);
            if nn == 8 {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, lm)
            }
        });
        let cols4: [[__m256; 2]; 4] =
            std::array::from_fn(|c| at([m[c], m[4 + c], m[8 + c], m[12 + c]]));
        let left = (cols - 2 * j).min(16);
        for (r, &row) in rows.iter().enumerate().take(if two { 2 } else { 1 }) {
            let [e, o] = at([cols4[0][r], cols4[1][r], cols4[2][r], cols4[3][r]]);
            let (e, o) = (_mm256_add_ps(e, b), _mm256_add_ps(o, b));
            // [e0 o0 e1 o1 | e4 o4 e5 o5] and [e2 o2 e3 o3 | e6 o6 e7 o7], then their
            // low and high halves paired: columns 0..8 and 8..16.
            let (lo, hi) = (_mm256_unpacklo_ps(e, o), _mm256_unpackhi_ps(e, o));
            let first = _mm256_permute2f128_ps::<0x20>(lo, hi);
            let second = _mm256_permute2f128_ps::<0x31>(lo, hi);
            let p = row.wrapping_add(2 * j);
            // SAFETY: the caller's bounds: `left` columns from `p` are the row's.
            unsafe {
                if left == 16 {
                    _mm256_storeu_ps(p, first);
                    _mm256_storeu_ps(p.add(8), second);
                } else {
                    // Masked stores are microcoded on AMD: the tail goes through the stack.
                    let mut tail = [0f32; 16];
                    _mm256_storeu_ps(tail.as_mut_ptr(), first);
                    _mm256_storeu_ps(tail.as_mut_ptr().add(8), second);
                    std::ptr::copy_nonoverlapping(tail.as_ptr(), p, left);
                }
            }
        }
        j += nn;
    }
}
