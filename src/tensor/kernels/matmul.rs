//! Batched strided matrix products on top of the `gemm` crate.
//!
//! `gemm` (with its `x86-v4` feature) runs AVX-512 micro-kernels and accepts arbitrary
//! row/column strides, so transposed and broadcast operands need no copies.

use super::gemm::{
    MIN_TASK_WORK, PARALLEL_THRESHOLD, Threads, gemm_f32, gemm_f32_uninit, gemm_f64,
    gemm_f64_uninit, split_plan,
};
use crate::tensor::parallel::{for_each_chunk_mut, num_threads};
use crate::tensor::{DType, Tensor};

/// Whether a batch of products is one product of `[batch·m, k]` and `[k, n]`: every
/// batch reads the same B and each batch's rows of A start where the last one's end.
fn folds(oa: &[usize], ob: &[usize], m: usize, a_rs: isize) -> bool {
    let step = m as isize * a_rs;
    ob.iter().all(|&o| o == ob[0]) && oa.windows(2).all(|w| w[1] as isize - w[0] as isize == step)
}

/// How many tasks a batch of `batch` products (`m×k` times `k×n`) is split into on
/// `threads` threads, each task computing a run of whole products on one thread; `1`
/// means the products run one after the other, each split by the GEMM plan
/// ([`split_plan`]), which is chosen when that already uses as many threads. A pure
/// function, so the choice can be tested for any machine.
pub fn batch_tasks(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a_transposed: bool,
    threads: usize,
) -> usize {
    let work = batch.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    if work < PARALLEL_THRESHOLD {
        return 1;
    }
    let across = batch.min(threads).min(work / MIN_TASK_WORK);
    if across > split_plan(m, n, k, a_transposed, threads).tasks {
        across
    } else {
        1
    }
}

/// Product of `[batch..., m, k]` and `[batch..., k, n]` views with equal batch shapes
/// (possibly with zero strides from broadcasting); returns a contiguous result.
pub fn matmul_strided(a: &Tensor, b: &Tensor) -> Tensor {
    product(a, b, None)
}

/// `bias + a·b` for 2-D `a` `[m, k]`, `b` `[k, n]` and `bias` `[n]` (`torch.addmm` with a
/// row bias, as `F.linear` does): the output starts as `m` copies of `bias` and the
/// product accumulates onto it, so there is neither a zero fill nor a separate bias pass.
pub fn addmm_rows(bias: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
    assert!(
        a.dim() == 2 && b.dim() == 2 && bias.shape() == [b.shape()[1]],
        "addmm: expected [m, k], [k, n] and [n], got {:?}, {:?} and {:?}",
        a.shape(),
        b.shape(),
        bias.shape()
    );
    assert!(
        bias.dtype() == a.dtype() && b.dtype() == a.dtype(),
        "addmm: expected one dtype, got input {}, weight {} and bias {}",
        a.dtype(),
        b.dtype(),
        bias.dtype()
    );
    product(a, b, Some(bias))
}

fn product(a: &Tensor, b: &Tensor, row_init: Option<&Tensor>) -> Tensor {
    let r = a.dim();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch_shape = &a.shape()[..r - 2];
    let batch: usize = batch_shape.iter().product();
    let mut out_shape = batch_shape.to_vec();
    out_shape.extend([m, n]);
    let batch_offsets = |t: &Tensor| -> Vec<usize> {
        let l = t.layout();
        let mut offs = Vec::with_capacity(batch);
        let bl = crate::tensor::Layout::new(
            l.shape()[..r - 2].to_vec(),
            l.strides()[..r - 2].to_vec(),
            l.offset(),
        );
        let mut idx = vec![0usize; r - 2];
        for _ in 0..batch {
            let off: usize = bl.offset()
                + idx
                    .iter()
                    .zip(bl.strides())
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            offs.push(off);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < bl.shape()[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        offs
    };
    let (oa, ob) = (batch_offsets(a), batch_offsets(b));
    let sa = (a.stride()[r - 2] as isize, a.stride()[r - 1] as isize);
    let sb = (b.stride()[r - 2] as isize, b.stride()[r - 1] as isize);
    macro_rules! run {
        ($t:ty, $gemm:ident, $uninit:ident) => {{
            let (ga, gb) = crate::tensor::Storage::read2(a.storage(), b.storage());
            let da = <$t as crate::tensor::BufferElement>::slice(&ga).expect("dtype");
            let db = <$t as crate::tensor::BufferElement>::slice(&gb).expect("dtype");
            let single = m * n > 0 && folds(&oa, &ob, m, sa.0);
            let mut out: Vec<$t> = match row_init {
                Some(bias) => {
                    let row = bias.gather_vec::<$t>();
                    let mut out = crate::tensor::alloc::vec_with_capacity(batch * m * n);
                    for _ in 0..batch * m {
                        out.extend_from_slice(&row);
                    }
                    out
                }
                // One product that writes every element: no zeroing first (a linear
                // layer's weight gradient is megabytes, memset on one thread).
                None if single => {
                    let len = batch * m * n;
                    let mut out = crate::tensor::alloc::vec_with_capacity(len);
                    $uninit(
                        batch * m,
                        n,
                        k,
                        &da[oa[0]..],
                        [sa.0, sa.1],
                        &db[ob[0]..],
                        [sb.0, sb.1],
                        &mut out.spare_capacity_mut()[..len],
                        [n as isize, 1],
                        Threads::Auto,
                    );
                    // SAFETY: the product wrote all `len` elements of its output.
                    unsafe { out.set_len(len) };
                    return Tensor::from_vec(out, &out_shape);
                }
                None => crate::tensor::alloc::filled_vec(batch * m * n, <$t>::default()),
            };
            let acc = row_init.is_some();
            let one = |i: usize, c: &mut [$t], threads: Threads| {
                $gemm(
                    m,
                    n,
                    k,
                    &da[oa[i]..],
                    sa.0,
                    sa.1,
                    &db[ob[i]..],
                    sb.0,
                    sb.1,
                    c,
                    n as isize,
                    1,
                    acc,
                    threads,
                )
            };
            if m * n == 0 {
            } else if folds(&oa, &ob, m, sa.0) {
                // One `[batch·m, k]·[k, n]` product: the batch shares B and A's rows
                // follow on from batch to batch.
                $gemm(
                    batch * m,
                    n,
                    k,
                    &da[oa[0]..],
                    sa.0,
                    sa.1,
                    &db[ob[0]..],
                    sb.0,
                    sb.1,
                    &mut out,
                    n as isize,
                    1,
                    acc,
                    Threads::Auto,
                );
            } else {
                let tasks = batch_tasks(batch, m, n, k, sa.0 == 1 && k > 1, num_threads());
                if tasks > 1 {
                    let per = batch.div_ceil(tasks);
                    for_each_chunk_mut(&mut out, per * m * n, |g, block| {
                        for (j, c) in block.chunks_mut(m * n).enumerate() {
                            one(g * per + j, c, Threads::Single);
                        }
                    });
                } else {
                    for (i, c) in out.chunks_mut(m * n).enumerate() {
                        one(i, c, Threads::Auto);
                    }
                }
            }
            Tensor::from_vec(out, &out_shape)
        }};
    }
    match a.dtype() {
        DType::F32 => run!(f32, gemm_f32, gemm_f32_uninit),
        DType::F64 => run!(f64, gemm_f64, gemm_f64_uninit),
        d => panic!("matmul: not implemented for dtype {d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_across_the_threads_the_work_allows() {
        for t in 1..=64 {
            // Many small products: one task per thread, as far as MIN_TASK_WORK allows
            // (256·32³ multiply-adds make 16 tasks, 12·64³ make 6).
            assert_eq!(batch_tasks(256, 32, 32, 32, false, t), t.min(16), "t={t}");
            assert_eq!(batch_tasks(12, 64, 64, 64, false, t), t.min(6), "t={t}");
            // Four 128x64x128 products: each splits in two by itself, so at two
            // threads they run in turn; from three threads on, one product per task.
            let want = if t == 2 { 1 } else { t.min(4) };
            assert_eq!(batch_tasks(4, 128, 128, 64, false, t), want, "t={t}");
            // Tiny work stays serial; big products split themselves instead.
            assert_eq!(batch_tasks(4, 4, 4, 4, false, t), 1);
            let own = split_plan(1024, 1024, 1024, false, t).tasks;
            let want = if t.min(2) > own { t.min(2) } else { 1 };
            assert_eq!(batch_tasks(2, 1024, 1024, 1024, false, t), want, "t={t}");
        }
    }

    #[test]
    fn a_shared_b_folds_into_one_product() {
        // [3, 2, k] contiguous A and a broadcast [k, n] B (zero batch stride).
        assert!(folds(&[0, 8, 16], &[5, 5, 5], 2, 4));
        // A transposed per batch, or B varying: no fold.
        assert!(!folds(&[0, 8, 16], &[5, 5, 5], 2, 1));
        assert!(!folds(&[0, 8, 16], &[0, 12, 24], 2, 4));
    }

    #[test]
    fn batched_products_match_one_at_a_time() {
        let r = |shape: &[usize], seed: u64| {
            let n: usize = shape.iter().product();
            let v: Vec<f64> = (0..n)
                .map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 500.0 - 1.0)
                .collect();
            Tensor::from_vec(v, shape)
        };
        // Folded (shared B), batch-parallel (own B; transposed A) and serial cases.
        let cases = [
            (
                r(&[6, 40, 30], 1),
                r(&[30, 50], 2).unsqueeze(0).expand(&[6, 30, 50]),
            ),
            (r(&[16, 64, 48], 3), r(&[16, 48, 64], 4)),
            (r(&[16, 48, 64], 5).transpose(1, 2), r(&[16, 48, 64], 6)),
            (r(&[2, 3, 4], 7), r(&[2, 4, 5], 8)),
        ];
        for (a, b) in &cases {
            let got = matmul_strided(a, b);
            for i in 0..a.shape()[0] {
                let one = matmul_strided(&a.select(0, i as isize), &b.select(0, i as isize));
                let got = got.select(0, i as isize).to_vec::<f64>();
                for (g, w) in got.iter().zip(one.to_vec::<f64>()) {
                    assert!((g - w).abs() < 1e-12, "batch {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn fresh_outputs_are_written_whole() {
        // The single-product path writes into an uninitialised cached block: an empty
        // inner dimension must still give zeros, and a recycled block (filled with
        // NaN here) must not leak into the result.
        for dt in [DType::F32, DType::F64] {
            let junk = Tensor::from_vec(vec![f64::NAN; 64 * 64], &[64, 64]).to_dtype(dt);
            drop(junk);
            let a = Tensor::from_vec(Vec::<f64>::new(), &[64, 0]).to_dtype(dt);
            let b = Tensor::from_vec(Vec::<f64>::new(), &[0, 64]).to_dtype(dt);
            let c = matmul_strided(&a, &b).to_vec::<f64>();
            assert_eq!(c.len(), 64 * 64);
            assert!(c.iter().all(|&v| v == 0.0), "{dt:?}: k = 0 gives zeros");
            let a = Tensor::from_vec(vec![1.0f64; 64 * 3], &[64, 3]).to_dtype(dt);
            let b = Tensor::from_vec(vec![2.0f64; 3 * 64], &[3, 64]).to_dtype(dt);
            let c = matmul_strided(&a, &b).to_vec::<f64>();
            assert!(c.iter().all(|&v| v == 6.0), "{dt:?}: every element written");
        }
    }
}
