//! Raw in-place writes into tensor storage (no autograd), for initialisers and loading.

use crate::tensor::random::Generator;
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

/// The storage indices of `t`'s elements in the order PyTorch's `TensorIterator` visits
/// them for a nullary op: dims ordered by decreasing stride (memory order for any
/// non-overlapping view), then row-major.
fn memory_order(t: &Tensor) -> Vec<usize> {
    let l = t.layout();
    let mut dims: Vec<usize> = (0..l.ndim()).collect();
    dims.sort_by(|&a, &b| l.strides()[b].cmp(&l.strides()[a]));
    let permuted = l.permuted(&dims);
    let mut order = Vec::with_capacity(t.numel());
    permuted.for_each_index(|i| order.push(i));
    order
}

/// Runs `fill` over `t`'s elements in place: directly on the storage slice when `t` is
/// contiguous, else over a buffer in [`memory_order`] that is scattered back.
fn fill_slice<T: BufferElement + Default + Copy>(t: &Tensor, fill: impl FnOnce(&mut [T])) {
    let mut guard = t.storage().write();
    let data = T::slice_mut(&mut guard).expect("dtype matches storage");
    if let Some(r) = t.layout().contiguous_range() {
        fill(&mut data[r]);
    } else {
        let order = memory_order(t);
        let mut buf = vec![T::default(); order.len()];
        fill(&mut buf);
        for (&i, v) in order.iter().zip(buf) {
            data[i] = v;
        }
    }
}

/// `t.uniform_(low, high, generator=g)` in place: the same draws as PyTorch's CPU kernel.
pub(crate) fn uniform_in_place(t: &Tensor, low: f64, high: f64, g: &mut Generator) {
    match t.dtype() {
        DType::F32 => fill_slice::<f32>(t, |s| g.fill_uniform_f32(s, low, high)),
        DType::F64 => fill_slice::<f64>(t, |s| g.fill_uniform_f64(s, low, high)),
        d => panic!(
            "\"uniform_kernel_cpu\" not implemented for '{}'",
            d.torch_name()
        ),
    }
}

/// `t.normal_(mean, std, generator=g)` in place: the same draws as PyTorch's CPU kernel,
/// which uses its vectorised 16-wide Box-Muller only on contiguous tensors of 16 or more
/// elements and the scalar one (in memory order) otherwise.
pub(crate) fn normal_in_place(t: &Tensor, mean: f64, std: f64, g: &mut Generator) {
    assert!(std >= 0.0, "normal expects std >= 0.0, but found std {std}");
    let contiguous = t.is_contiguous();
    match t.dtype() {
        DType::F32 => fill_slice::<f32>(t, |s| {
            if contiguous {
                g.fill_normal_f32(s, mean, std)
            } else {
                for v in s {
                    *v = g.normal_with(mean, std) as f32;
                }
            }
        }),
        DType::F64 => fill_slice::<f64>(t, |s| {
            if contiguous {
                g.fill_normal_f64(s, mean, std)
            } else {
                for v in s {
                    *v = g.normal_with(mean, std);
                }
            }
        }),
        d => panic!(
            "\"normal_kernel_cpu\" not implemented for '{}'",
            d.torch_name()
        ),
    }
}
