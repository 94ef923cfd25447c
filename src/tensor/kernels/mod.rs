//! Raw compute kernels on tensors: no autograd, just numbers in and numbers out.
//!
//! Kernels take contiguous fast paths that the compiler vectorises and split large work
//! across kiln's threads ([`crate::tensor::parallel`]); below [`PAR_THRESHOLD`] elements the hand-off costs more than it
//! saves (candle loses to single-threaded runs on small ops for exactly this reason).

pub mod arith;
pub mod cast;
pub mod comm;
pub mod conv;
mod conv_direct;
pub mod conv_gemm;
pub mod copy;
pub mod depthwise;
pub mod elementwise;
pub mod embedding;
pub mod extremum;
pub mod fused;
pub mod gather_scatter;
pub mod gemm;
mod im2col;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod nll;
pub mod pool;
pub mod random_fill;
pub mod reduce;
pub mod reductions;
pub mod rnn;
pub mod select;
pub mod simd;
pub mod softmax;
pub(crate) mod strided;
pub mod unary;
pub mod unfold;
mod wgrad_one_channel;
mod winograd;
mod winograd_wgrad;

/// Element count above which elementwise kernels split work across threads.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// The chunk length parallel elementwise kernels split `len` elements into.
pub fn par_chunk(len: usize) -> usize {
    crate::tensor::parallel::chunk_len(len, PAR_THRESHOLD / 4, 64)
}

/// Runs `$body` with `$T` bound to the Rust type of `$dtype`, for the listed dtypes;
/// panics naming `$op` for the others. The building block of the dispatch macros below.
#[macro_export]
#[doc(hidden)]
macro_rules! dtype_dispatch {
    ($op:expr, $dtype:expr, $T:ident => $body:expr; $($variant:ident => $ty:ty),+) => {
        match $dtype {
            $(
                $crate::tensor::DType::$variant => {
                    type $T = $ty;
                    $body
                }
            )+
            #[allow(unreachable_patterns)]
            d => panic!("{}: not implemented for dtype {}", $op, d),
        }
    };
}

/// Runs `$body` with `$T` bound to the Rust float type of `$dtype`; panics naming `$op`
/// for non-float dtypes.
#[macro_export]
#[doc(hidden)]
macro_rules! float_dispatch {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        $crate::dtype_dispatch!($op, $dtype, $T => $body; F32 => f32, F64 => f64)
    };
}

/// Like [`float_dispatch!`] but also covering `i64` (and `u8`) for ops that make sense on
/// integers (add, sub, mul, comparisons, ...).
#[macro_export]
#[doc(hidden)]
macro_rules! numeric_dispatch {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        $crate::dtype_dispatch!(
            $op, $dtype, $T => $body; F32 => f32, F64 => f64, I64 => i64, U8 => u8
        )
    };
}
