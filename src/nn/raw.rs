//! Raw in-place writes into tensor storage (no autograd), for initialisers and loading.

use crate::tensor::{BufferElement, DType, Tensor};

fn write_values<T: BufferElement>(t: &Tensor, values: &[f64]) {
    let mut guard = t.storage().write();
    let data = T::slice_mut(&mut guard).expect("dtype matches storage");
    if let Some(r) = t.layout().contiguous_range() {
        for (d, &v) in data[r].iter_mut().zip(values) {
            *d = T::from_f64(v);
        }
    } else {
        let mut k = 0;
        t.layout().for_each_index(|i| {
            data[i] = T::from_f64(values[k]);
            k += 1;
        });
    }
}

/// Overwrites `t`'s elements, in logical order, with `values` converted to its dtype.
pub(crate) fn write_f64(t: &Tensor, values: &[f64]) {
    assert_eq!(values.len(), t.numel(), "write: element count mismatch");
    match t.dtype() {
        DType::F32 => write_values::<f32>(t, values),
        DType::F64 => write_values::<f64>(t, values),
        DType::I64 => write_values::<i64>(t, values),
        DType::U8 => write_values::<u8>(t, values),
        DType::Bool => write_values::<bool>(t, values),
    }
}

/// Fills `t` in place with `f()` for each element in logical order.
pub(crate) fn fill_with(t: &Tensor, mut f: impl FnMut() -> f64) {
    let v: Vec<f64> = (0..t.numel()).map(|_| f()).collect();
    write_f64(t, &v);
}

/// Copies `src` (same shape, any dtype) into `dst` in place (`dst.copy_(src)`).
pub(crate) fn copy_into(dst: &Tensor, src: &Tensor) {
    assert_eq!(dst.shape(), src.shape(), "copy_: shape mismatch");
    fn same<T: BufferElement>(dst: &Tensor, src: &Tensor) {
        let v = src.gather_vec::<T>();
        let mut guard = dst.storage().write();
        let data = T::slice_mut(&mut guard).expect("dtype");
        if let Some(r) = dst.layout().contiguous_range() {
            data[r].copy_from_slice(&v);
        } else {
            let mut k = 0;
            dst.layout().for_each_index(|i| {
                data[i] = v[k];
                k += 1;
            });
        }
    }
    if dst.storage().same(src.storage()) && dst.layout() == src.layout() {
        return;
    }
    match (dst.dtype(), src.dtype()) {
        (DType::F32, DType::F32) => same::<f32>(dst, src),
        (DType::F64, DType::F64) => same::<f64>(dst, src),
        (DType::I64, DType::I64) => same::<i64>(dst, src),
        _ => write_f64(dst, &src.to_vec::<f64>()),
    }
}
