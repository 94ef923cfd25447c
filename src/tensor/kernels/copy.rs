//! Copies between tensors and from host values: raw writes for initialisers and
//! loading, row gathers and stacks for the data pipeline, byte-table conversions for
//! images. No autograd history: these make inputs and parameters, not results.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// Overwrites `t`'s elements, in logical order, with `values` converted to its dtype.
pub fn write_f64(t: &Tensor, values: &[f64]) {
    assert_eq!(values.len(), t.numel(), "write: element count mismatch");
    select("write", &[t]).write_f64(t, values)
}

/// Copies `src` (same shape, any dtype) into `dst` in place (`dst.copy_(src)`).
pub fn copy_into(dst: &Tensor, src: &Tensor) {
    assert_eq!(dst.shape(), src.shape(), "copy_: shape mismatch");
    if dst.storage().same(src.storage()) && dst.layout() == src.layout() {
        return;
    }
    select("copy_", &[dst, src]).copy_into(dst, src)
}

/// The rows of `t` at `rows` (already bounds-checked), in that order, copied into one new
/// contiguous tensor of shape `[rows.len(), t.shape()[1..]]`.
pub fn select_rows(t: &Tensor, rows: &[usize]) -> Tensor {
    select("select_rows", &[t]).select_rows(t, rows)
}

/// Equally shaped tensors of one dtype joined along a new first dimension.
pub fn stack(tensors: &[Tensor]) -> Tensor {
    let refs: Vec<&Tensor> = tensors.iter().collect();
    select("stack", &refs).stack(tensors)
}

/// `buf = (1 - f) * buf + f * scale * stat` in place, computed in f64 and stored in
/// `buf`'s dtype (batch norm's running statistics; `stat` has `buf`'s element count).
pub fn running_update(buf: &Tensor, stat: &Tensor, f: f64, scale: f64) {
    assert_eq!(
        buf.numel(),
        stat.numel(),
        "running_update: element count mismatch"
    );
    select("running_update", &[buf, stat]).running_update(buf, stat, f, scale)
}

/// `table[b]` for every `u8` element `b` of `x`, as an `f32` tensor of shape `shape`
/// (the same element count): image conversion in one pass.
pub fn byte_table(x: &Tensor, table: &[f32; 256], shape: &[usize]) -> Tensor {
    select("byte_table", &[x]).byte_table(x, table, shape)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::tensor::parallel::for_each_chunk_mut;
    use crate::tensor::{BufferElement, DType, Tensor};

    /// Pixels per parallel work item of [`byte_table`].
    const TABLE_CHUNK: usize = 1 << 16;

    /// Runs `$body` with `$T` bound to the Rust type of `$dtype`, for every dtype.
    macro_rules! any_dtype {
        ($dtype:expr, $T:ident => $body:expr) => {
            $crate::dtype_dispatch!(
                "copy", $dtype, $T => $body;
                F32 => f32, F64 => f64, I64 => i64, U8 => u8, Bool => bool
            )
        };
    }

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

    /// See [`super::write_f64`].
    pub fn write_f64(t: &Tensor, values: &[f64]) {
        any_dtype!(t.dtype(), T => write_values::<T>(t, values))
    }

    /// See [`super::copy_into`].
    pub fn copy_into(dst: &Tensor, src: &Tensor) {
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
        match (dst.dtype(), src.dtype()) {
            (DType::F32, DType::F32) => same::<f32>(dst, src),
            (DType::F64, DType::F64) => same::<f64>(dst, src),
            (DType::I64, DType::I64) => same::<i64>(dst, src),
            _ => write_f64(dst, &src.to_vec::<f64>()),
        }
    }

    /// See [`super::running_update`].
    pub fn running_update(buf: &Tensor, stat: &Tensor, f: f64, scale: f64) {
        let v: Vec<f64> = buf
            .to_vec::<f64>()
            .iter()
            .zip(stat.to_vec::<f64>())
            .map(|(&r, s)| (1.0 - f) * r + f * s * scale)
            .collect();
        write_f64(buf, &v);
    }

    /// See [`super::select_rows`]. A strided `t` is read through one contiguous copy.
    pub fn select_rows(t: &Tensor, rows: &[usize]) -> Tensor {
        let row: usize = t.shape()[1..].iter().product();
        let mut shape = t.shape().to_vec();
        shape[0] = rows.len();
        any_dtype!(t.dtype(), T => {
            let out = t.with_contiguous(|data: &[T]| {
                let mut out: Vec<T> = Vec::with_capacity(rows.len() * row);
                for &i in rows {
                    out.extend_from_slice(&data[i * row..(i + 1) * row]);
                }
                out
            });
            Tensor::from_vec(out, &shape)
        })
    }

    fn stack_typed<T: BufferElement>(tensors: &[Tensor], shape: &[usize]) -> Tensor {
        let row: usize = shape.iter().product();
        let mut out: Vec<T> = Vec::with_capacity(tensors.len() * row);
        for t in tensors {
            t.with_contiguous(|data: &[T]| out.extend_from_slice(data));
        }
        let mut full = vec![tensors.len()];
        full.extend_from_slice(shape);
        Tensor::from_vec(out, &full)
    }

    /// See [`super::stack`].
    pub fn stack(tensors: &[Tensor]) -> Tensor {
        let first = &tensors[0];
        any_dtype!(first.dtype(), T => stack_typed::<T>(tensors, first.shape()))
    }

    /// See [`super::byte_table`].
    pub fn byte_table(x: &Tensor, table: &[f32; 256], shape: &[usize]) -> Tensor {
        let values = x.with_contiguous(|px: &[u8]| {
            let mut out = vec![0f32; px.len()];
            for_each_chunk_mut(&mut out, TABLE_CHUNK, |i, out| {
                for (o, &b) in out.iter_mut().zip(&px[i * TABLE_CHUNK..]) {
                    *o = table[usize::from(b)];
                }
            });
            out
        });
        Tensor::from_vec(values, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    #[test]
    fn write_f64_follows_the_view() {
        let t = Tensor::zeros_dtype(&[2, 2], DType::I64);
        write_f64(&t.t(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t.to_vec::<i64>(), vec![1, 3, 2, 4]);
    }

    #[test]
    fn copy_into_converts_dtype() {
        let dst = Tensor::zeros(&[3]);
        copy_into(&dst, &Tensor::from_vec(vec![1i64, 2, 3], &[3]));
        assert_eq!(dst.to_vec::<f32>(), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn byte_table_maps_every_byte() {
        let mut table = [0f32; 256];
        table[7] = 0.5;
        let x = Tensor::from_vec(vec![7u8, 0, 7], &[3]);
        let y = byte_table(&x, &table, &[1, 3]);
        assert_eq!(y.shape(), &[1, 3]);
        assert_eq!(y.to_vec::<f32>(), vec![0.5, 0.0, 0.5]);
    }
}
