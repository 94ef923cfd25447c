//! Raw compute kernels on tensors: no autograd, just numbers in and numbers out.
//!
//! Kernels take contiguous fast paths that the compiler vectorises and split large work
//! across kiln's threads ([`crate::tensor::parallel`]); below [`PAR_THRESHOLD`] elements the hand-off costs more than it
//! saves (candle loses to single-threaded runs on small ops for exactly this reason).

pub mod cast;
pub mod elementwise;
pub mod gemm;
pub mod index;
pub mod matmul;
pub mod reduce;

/// Element count above which elementwise kernels split work across threads.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// The chunk length parallel elementwise kernels split `len` elements into.
pub fn par_chunk(len: usize) -> usize {
    crate::tensor::parallel::chunk_len(len, PAR_THRESHOLD / 4, 64)
}

/// Runs `$body` with `$T` bound to the Rust float type of `$dtype`; panics naming `$op`
/// for non-float dtypes.
#[macro_export]
#[doc(hidden)]
macro_rules! float_dispatch {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                type $T = f64;
                $body
            }
            d => panic!("{}: not implemented for dtype {}", $op, d),
        }
    };
}

/// Like [`float_dispatch!`] but also covering `i64` (and `u8`) for ops that make sense on
/// integers (add, sub, mul, comparisons, ...).
#[macro_export]
#[doc(hidden)]
macro_rules! numeric_dispatch {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::tensor::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::tensor::DType::U8 => {
                type $T = u8;
                $body
            }
            d => panic!("{}: not implemented for dtype {}", $op, d),
        }
    };
}
