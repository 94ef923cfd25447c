//! Elementwise maps and broadcasting zips.

use super::simd::dispatch;
use super::strided::RowCursor;
use super::{PAR_THRESHOLD, par_chunk};
use crate::tensor::alloc::vec_with_capacity;
use crate::tensor::layout::{Layout, broadcast_shapes};
use crate::tensor::parallel::{fill_vec, for_each_chunk_mut};
use crate::tensor::{BufferElement, Storage, Tensor};
use std::mem::MaybeUninit;

/// A `len`-element vector whose pieces `fill(start, piece)` writes (every element),
/// in parallel for large lengths; each piece runs at the CPU's best SIMD level.
pub fn build_vec<U: Send>(
    len: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<U>]) + Sync,
) -> Vec<U> {
    if len < PAR_THRESHOLD {
        let mut out = vec_with_capacity(len);
        dispatch(
            #[inline(always)]
            || fill(0, &mut out.spare_capacity_mut()[..len]),
        );
        // SAFETY: `fill` wrote all `len` elements (a panic leaves the vector empty).
        unsafe { out.set_len(len) };
        out
    } else {
        fill_vec(len, par_chunk(len), |lo, out| {
            dispatch(
                #[inline(always)]
                || fill(lo, out),
            )
        })
    }
}

/// Calls `f(start, piece)` on pieces of `d`, in parallel for large slices; each piece
/// runs at the CPU's best SIMD level.
pub fn update_slice<T: Send>(d: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    if d.len() < PAR_THRESHOLD {
        dispatch(
            #[inline(always)]
            || f(0, d),
        );
    } else {
        let chunk = par_chunk(d.len());
        for_each_chunk_mut(d, chunk, |i, d| {
            dispatch(
                #[inline(always)]
                || f(i * chunk, d),
            )
        });
    }
}

/// Applies `f` to a slice, in parallel for large inputs.
pub fn map_slice<T: Copy + Sync, U: Send>(s: &[T], f: impl Fn(T) -> U + Sync + Send) -> Vec<U> {
    build_vec(
        s.len(),
        #[inline(always)]
        |lo, out| {
            for (o, &v) in out.iter_mut().zip(&s[lo..]) {
                o.write(f(v));
            }
        },
    )
}

/// `f(*d, s)` written into every element of `d`, in parallel for large inputs.
fn update_zip<T: Copy + Send + Sync>(d: &mut [T], s: &[T], f: impl Fn(T, T) -> T + Sync) {
    update_slice(
        d,
        #[inline(always)]
        |lo, d| d.iter_mut().zip(&s[lo..]).for_each(|(v, &q)| *v = f(*v, q)),
    );
}

/// `f(x)` for every element, returning a contiguous tensor of the same shape.
pub fn map<T: BufferElement, U: BufferElement>(
    x: &Tensor,
    f: impl Fn(T) -> U + Sync + Send,
) -> Tensor {
    let out = x.with_contiguous(|s: &[T]| map_slice(s, f));
    Tensor::from_vec(out, x.shape())
}

/// The broadcast shape of two tensors, panicking with PyTorch's message for `op`.
pub fn broadcast_or_panic(op: &str, a: &[usize], b: &[usize]) -> Vec<usize> {
    broadcast_shapes(a, b).unwrap_or_else(|| {
        let n = a.len().max(b.len());
        let dim = (0..n)
            .find(|&i| {
                let da = if i + a.len() >= n {
                    a[i + a.len() - n]
                } else {
                    1
                };
                let db = if i + b.len() >= n {
                    b[i + b.len() - n]
                } else {
                    1
                };
                da != db && da != 1 && db != 1
            })
            .unwrap_or(0);
        let da = a[dim + a.len() - n];
        let db = b[dim + b.len() - n];
        panic!(
            "{op}: the size of tensor a ({da}) must match the size of tensor b ({db}) at \
             non-singleton dimension {dim} (shapes {a:?} and {b:?})"
        )
    })
}

/// `f(a, b)` with NumPy broadcasting; both inputs must have dtype `T`.
pub fn zip<T: BufferElement, U: BufferElement>(
    op: &str,
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(T, T) -> U + Sync + Send,
) -> Tensor {
    let shape = broadcast_or_panic(op, a.shape(), b.shape());
    let numel: usize = shape.iter().product();
    // Fast paths: same-shape contiguous, or one side a single value.
    if a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous() {
        // Both read locks in the global order first; the reads below are then recursive.
        let held = Storage::read2(a.storage(), b.storage());
        let out = a.with_contiguous(|x: &[T]| {
            b.with_contiguous(|y: &[T]| {
                build_vec(
                    numel,
                    #[inline(always)]
                    |lo, out| {
                        for ((o, &p), &q) in out.iter_mut().zip(&x[lo..]).zip(&y[lo..]) {
                            o.write(f(p, q));
                        }
                    },
                )
            })
        });
        drop(held);
        return Tensor::from_vec(out, &shape);
    }
    if b.numel() == 1 && a.shape() == shape.as_slice() {
        let q = b.gather_vec::<T>()[0];
        return Tensor::from_vec(
            a.with_contiguous(|x: &[T]| map_slice(x, |p| f(p, q))),
            &shape,
        );
    }
    if a.numel() == 1 && b.shape() == shape.as_slice() {
        let p = a.gather_vec::<T>()[0];
        return Tensor::from_vec(
            b.with_contiguous(|y: &[T]| map_slice(y, |q| f(p, q))),
            &shape,
        );
    }
    let la = a.layout().expanded(&shape).expect("broadcast layout");
    let lb = b.layout().expanded(&shape).expect("broadcast layout");
    // Merged dimensions make longer rows: `[N, C, H, W] + [1, C, 1, 1]` walks rows of
    // `H·W` elements, not of `W`.
    let (cshape, [csa, csb]) = super::strided::coalesce(&shape, [la.strides(), lb.strides()]);
    let la = Layout::new(cshape.clone(), csa, la.offset());
    let lb = Layout::new(cshape, csb, lb.offset());
    let inner = la.shape().last().copied().unwrap_or(1).max(1);
    let (sa, sb) = (
        la.strides().last().copied().unwrap_or(0),
        lb.strides().last().copied().unwrap_or(0),
    );
    let (ga, gb) = Storage::read2(a.storage(), b.storage());
    let (da, db) = (T::slice(&ga).expect("dtype"), T::slice(&gb).expect("dtype"));
    if numel == 0 {
        return Tensor::from_vec(Vec::<U>::new(), &shape);
    }
    if let Some(out) = short_row_broadcast(&la, &lb, da, db, &f) {
        drop((ga, gb));
        return Tensor::from_vec(out, &shape);
    }
    let rows = Rows {
        la: &la,
        lb: &lb,
        da,
        db,
        sa,
        sb,
        inner,
    };
    // Pieces are element ranges, not whole rows: a broadcast scalar coalesces to one
    // row of every element, which must still split over the threads.
    let out = build_vec(
        numel,
        #[inline(always)]
        |lo, out| rows.fill(lo, out, &f),
    );
    drop((ga, gb));
    Tensor::from_vec(out, &shape)
}

/// Rows shorter than this, broadcast along a contiguous operand, take
/// [`short_row_broadcast`].
const SHORT_ROW: usize = 128;

/// `f(a, b)` where the coalesced layouts are `[R, L]` with one operand contiguous and the
/// other one row of `L < SHORT_ROW` broadcast over the `R` rows (`[N, C, H, W] + [W]`),
/// else `None`. The row is repeated into a period of at least `SHORT_ROW` elements, and
/// the output walked in periods: `[64, 64, 24, 24] + [24]` took 0.35 ms row by row
/// (98,304 rows, each paying the cursor and a vector tail), 0.21 ms so, PyTorch 0.22.
fn short_row_broadcast<T: Copy + Sync, U: Send>(
    la: &Layout,
    lb: &Layout,
    da: &[T],
    db: &[T],
    f: &(impl Fn(T, T) -> U + Sync),
) -> Option<Vec<U>> {
    let [r, l] = *la.shape() else { return None };
    if l >= SHORT_ROW || r < 2 {
        return None;
    }
    let dense = |x: &Layout| x.strides() == [l, 1];
    let row = |x: &Layout| x.strides() == [0, 1];
    let (full, part, flipped) = if dense(la) && row(lb) {
        ((da, la.offset()), (db, lb.offset()), false)
    } else if row(la) && dense(lb) {
        ((db, lb.offset()), (da, la.offset()), true)
    } else {
        return None;
    };
    let x = &full.0[full.1..full.1 + r * l];
    let period: Vec<T> = part.0[part.1..part.1 + l]
        .iter()
        .copied()
        .cycle()
        .take(SHORT_ROW.div_ceil(l) * l)
        .collect();
    let p = period.len();
    Some(build_vec(
        r * l,
        #[inline(always)]
        |lo, out| {
            let mut done = 0;
            while done < out.len() {
                let at = (lo + done) % p;
                let len = (p - at).min(out.len() - done);
                let o = &mut out[done..done + len];
                let xs = &x[lo + done..lo + done + len];
                let ys = &period[at..at + len];
                if flipped {
                    for ((o, &q), &pv) in o.iter_mut().zip(xs).zip(ys) {
                        o.write(f(pv, q));
                    }
                } else {
                    for ((o, &pv), &q) in o.iter_mut().zip(xs).zip(ys) {
                        o.write(f(pv, q));
                    }
                }
                done += len;
            }
        },
    ))
}

/// The innermost rows of a broadcast zip: both inputs' coalesced layouts (rows along the
/// last dimension), and their strides within a row.
struct Rows<'a, T> {
    la: &'a Layout,
    lb: &'a Layout,
    da: &'a [T],
    db: &'a [T],
    sa: usize,
    sb: usize,
    inner: usize,
}

impl<T: Copy> Rows<'_, T> {
    /// Writes `f(a, b)` for the output elements `lo..lo + out.len()` (in logical order)
    /// into `out`. Always inlined, so the loops compile for the SIMD level of the
    /// [`dispatch`] around it.
    #[inline(always)]
    fn fill<U>(&self, lo: usize, out: &mut [MaybeUninit<U>], f: &impl Fn(T, T) -> U) {
        let (da, db, inner, sa, sb) = (self.da, self.db, self.inner, self.sa, self.sb);
        // Row starts are carried from row to row (a table of them, built serially, was
        // a third of the time of `[64, 64, 24, 24] + [24]`).
        let mut rows = RowCursor::new([self.la, self.lb], lo / inner);
        let (mut col, mut done) = (lo % inner, 0);
        while done < out.len() {
            let len = (inner - col).min(out.len() - done);
            let o = &mut out[done..done + len];
            let [ra, rb] = rows.at;
            let (pa, pb) = (ra + col * sa, rb + col * sb);
            match (sa, sb) {
                (1, 1) => {
                    for ((o, &p), &q) in o.iter_mut().zip(&da[pa..pa + len]).zip(&db[pb..pb + len])
                    {
                        o.write(f(p, q));
                    }
                }
                (1, 0) => {
                    let q = db[pb];
                    for (o, &p) in o.iter_mut().zip(&da[pa..pa + len]) {
                        o.write(f(p, q));
                    }
                }
                (0, 1) => {
                    let p = da[pa];
                    for (o, &q) in o.iter_mut().zip(&db[pb..pb + len]) {
                        o.write(f(p, q));
                    }
                }
                (sa, sb) => {
                    for (i, o) in o.iter_mut().enumerate() {
                        o.write(f(da[pa + i * sa], db[pb + i * sb]));
                    }
                }
            }
            done += len;
            col = 0;
            rows.advance();
        }
    }
}

/// Copies `src` into `dst` when both are contiguous, same-shaped and in different
/// buffers: a parallel `memcpy` (no read of the old contents). Returns whether it did.
pub fn copy_contiguous<T: BufferElement>(dst: &Tensor, src: &Tensor) -> bool {
    let (Some(rd), Some(rs)) = (
        dst.layout().contiguous_range(),
        src.layout().contiguous_range(),
    ) else {
        return false;
    };
    if src.shape() != dst.shape() || src.storage().same(dst.storage()) {
        return false;
    }
    let (src_guard, mut guard) = Storage::read_write(src.storage(), dst.storage());
    let (Some(sv), Some(d)) = (T::slice(&src_guard), T::slice_mut(&mut guard)) else {
        return false;
    };
    let (sv, d) = (&sv[rs], &mut d[rd]);
    if d.len() < PAR_THRESHOLD {
        d.copy_from_slice(sv);
    } else {
        update_slice(d, |lo, d| stream_copy(d, &sv[lo..lo + d.len()]));
    }
    true
}

/// Copies through SIMD registers with ordinary stores. For large blocks glibc's
/// `memcpy` switches to non-temporal stores, which on the development VM moved 20–40%
/// fewer GB/s than this loop (measured on 64 MB buffers, two threads).
#[inline(always)]
fn stream_copy<T: Copy + Default>(d: &mut [T], s: &[T]) {
    const BLOCK: usize = 16;
    let mut dc = d.chunks_exact_mut(BLOCK);
    let mut sc = s.chunks_exact(BLOCK);
    for (a, b) in (&mut dc).zip(&mut sc) {
        let mut t = [T::default(); BLOCK];
        t.copy_from_slice(b);
        a.copy_from_slice(&t);
    }
    dc.into_remainder().copy_from_slice(sc.remainder());
}

/// Writes `f(old, src)` into `dst` in place, broadcasting `src` to `dst`'s shape.
pub fn zip_assign<T: BufferElement>(
    op: &str,
    dst: &Tensor,
    src: &Tensor,
    f: impl Fn(T, T) -> T + Sync + Send,
) {
    let shape = broadcast_or_panic(op, dst.shape(), src.shape());
    assert!(
        shape == dst.shape(),
        "{op}: output with shape {:?} doesn't match the broadcast shape {shape:?}",
        dst.shape()
    );
    // Same-shape contiguous operands in different buffers: stream straight from the
    // source, without a temporary copy (a fresh large buffer costs a page fault per 4 KB).
    if let (Some(rd), Some(rs)) = (
        dst.layout().contiguous_range(),
        src.layout().contiguous_range(),
    ) && src.shape() == dst.shape()
        && !src.storage().same(dst.storage())
    {
        let (src_guard, mut guard) = Storage::read_write(src.storage(), dst.storage());
        let sv = &T::slice(&src_guard).unwrap_or_else(|| panic!("{op}: dtype mismatch"))[rs];
        let d = &mut T::slice_mut(&mut guard).unwrap_or_else(|| panic!("{op}: dtype mismatch"))[rd];
        update_zip(d, sv, f);
        return;
    }
    // A contiguous destination and a broadcast source in another buffer (`x.add_(b)`
    // with `b` of shape `[1, C, 1, 1]`, or an expanded gradient): walk the source's rows
    // in place of a materialised copy of it.
    if let Some(rd) = dst.layout().contiguous_range()
        && src.numel() > 1
        && !src.storage().same(dst.storage())
    {
        let ls = src.layout().expanded(&shape).expect("broadcast layout");
        let contiguous = Layout::contiguous(&shape);
        let (cshape, [_, cs]) =
            super::strided::coalesce(&shape, [contiguous.strides(), ls.strides()]);
        let ls = Layout::new(cshape, cs, ls.offset());
        let inner = ls.shape().last().copied().unwrap_or(1).max(1);
        let step = ls.strides().last().copied().unwrap_or(0);
        let (src_guard, mut guard) = Storage::read_write(src.storage(), dst.storage());
        let sv = T::slice(&src_guard).unwrap_or_else(|| panic!("{op}: dtype mismatch"));
        let d = &mut T::slice_mut(&mut guard).unwrap_or_else(|| panic!("{op}: dtype mismatch"))[rd];
        update_slice(
            d,
            #[inline(always)]
            |lo, piece| {
                let mut rows = RowCursor::new([&ls], lo / inner);
                let (mut col, mut done) = (lo % inner, 0);
                while done < piece.len() {
                    let len = (inner - col).min(piece.len() - done);
                    let o = &mut piece[done..done + len];
                    let p = rows.at[0] + col * step;
                    if step == 0 {
                        let q = sv[p];
                        o.iter_mut().for_each(|v| *v = f(*v, q));
                    } else if step == 1 {
                        for (v, &q) in o.iter_mut().zip(&sv[p..p + len]) {
                            *v = f(*v, q);
                        }
                    } else {
                        for (i, v) in o.iter_mut().enumerate() {
                            *v = f(*v, sv[p + i * step]);
                        }
                    }
                    done += len;
                    col = 0;
                    rows.advance();
                }
            },
        );
        return;
    }
    // Read the source first (it may alias the destination).
    let src_vals: Vec<T> = if src.numel() == 1 {
        src.gather_vec::<T>()
    } else {
        src.broadcast_copy(&shape).gather_vec::<T>()
    };
    let mut guard = dst.storage().write();
    let data = T::slice_mut(&mut guard).unwrap_or_else(|| panic!("{op}: dtype mismatch"));
    if let Some(r) = dst.layout().contiguous_range() {
        let d = &mut data[r];
        if src_vals.len() == 1 {
            let q = src_vals[0];
            update_slice(
                d,
                #[inline(always)]
                |_, d| d.iter_mut().for_each(|v| *v = f(*v, q)),
            );
        } else {
            update_zip(d, &src_vals, f);
        }
    } else {
        let mut k = 0;
        let single = src_vals.len() == 1;
        dispatch(
            #[inline(always)]
            || {
                dst.layout().for_each_index(|i| {
                    data[i] = f(data[i], src_vals[if single { 0 } else { k }]);
                    k += 1;
                })
            },
        );
    }
}

impl Tensor {
    /// A view broadcast to `shape` without history (used by kernels).
    pub(crate) fn broadcast_copy(&self, shape: &[usize]) -> Tensor {
        let l = self.layout().expanded(shape).unwrap_or_else(|| {
            panic!(
                "expand: the expanded size {shape:?} must match the existing size {:?}",
                self.shape()
            )
        });
        self.with_layout(l)
    }
}
