//! Elementwise selection between two tensors by a mask (`torch.where`).

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// `x` where `cond` else `y`, all three broadcast to `shape`; `x` and `y` share one
/// dtype (any, `bool` included) and `cond` is `bool`.
pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor {
    select("where", &[cond, x, y]).where_(cond, x, y, shape)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::dtype_dispatch;
    use crate::tensor::Tensor;

    /// See [`super::where_`].
    pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor {
        let cv = cond.broadcast_copy(shape).gather_vec::<bool>();
        dtype_dispatch!("where", x.dtype(), T => {
            let xv = x.broadcast_copy(shape).gather_vec::<T>();
            let yv = y.broadcast_copy(shape).gather_vec::<T>();
            let v: Vec<T> = cv.iter().zip(xv).zip(yv).map(|((&c, p), q)| if c { p } else { q }).collect();
            Tensor::from_vec(v, shape)
        }; F32 => f32, F64 => f64, I64 => i64, U8 => u8, Bool => bool)
    }
}
