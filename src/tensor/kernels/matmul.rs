//! Batched strided matrix products on top of the `gemm` crate.
//!
//! `gemm` (with its `x86-v4` feature) runs AVX-512 micro-kernels and accepts arbitrary
//! row/column strides, so transposed and broadcast operands need no copies.

use super::gemm::{Threads, gemm_f32, gemm_f64};
use crate::tensor::{DType, Tensor};

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
        ($t:ty, $gemm:ident) => {{
            let mut out: Vec<$t> = match row_init {
                Some(bias) => {
                    let row = bias.gather_vec::<$t>();
                    let mut out = crate::tensor::alloc::vec_with_capacity(batch * m * n);
                    for _ in 0..batch * m {
                        out.extend_from_slice(&row);
                    }
                    out
                }
                None => crate::tensor::alloc::filled_vec(batch * m * n, <$t>::default()),
            };
            let ga = a.storage().read();
            let gb = b.storage().read();
            let da = <$t as crate::tensor::BufferElement>::slice(&ga).expect("dtype");
            let db = <$t as crate::tensor::BufferElement>::slice(&gb).expect("dtype");
            if m * n > 0 {
                for (i, c) in out.chunks_mut(m * n).enumerate() {
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
                        row_init.is_some(),
                        Threads::Auto,
                    );
                }
            }
            Tensor::from_vec(out, &out_shape)
        }};
    }
    match a.dtype() {
        DType::F32 => run!(f32, gemm_f32),
        DType::F64 => run!(f64, gemm_f64),
        d => panic!("matmul: not implemented for dtype {d}"),
    }
}
