//! The seam to communication libraries (MPI, used by `kiln::distributed`): the raw host
//! bytes of a contiguous CPU tensor, lent to a closure that hands them to the library,
//! which reads or writes them in place. No element is touched here; the library does
//! the arithmetic of its reductions.
//!
//! A device backend would lend device memory instead (what NCCL takes); these entries
//! are CPU-only and panic, naming the op, for other devices.

use crate::tensor::storage::Access;
use crate::tensor::{Buffer, DType, Device, Storage, Tensor};

/// Checks that `t` can lend its bytes: a contiguous CPU tensor of a numeric dtype.
fn check(op: &str, t: &Tensor) {
    assert!(
        t.device() == Device::Cpu,
        "{op}: only CPU tensors can be communicated, got a tensor on {}",
        t.device()
    );
    assert!(
        t.is_contiguous(),
        "{op}: the tensor must be contiguous (call .contiguous() first), got shape {:?} strides {:?}",
        t.shape(),
        t.stride()
    );
    assert!(
        t.dtype() != DType::Bool,
        "{op}: bool tensors are not supported (use u8)"
    );
}

/// The bytes of `buffer[start..start + len]` for a numeric buffer.
fn bytes(buffer: &Buffer, start: usize, len: usize) -> &[u8] {
    fn raw<T>(v: &[T]) -> &[u8] {
        // SAFETY: f32, f64, i64 and u8 have no padding, so they may be viewed as bytes.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
    }
    match buffer {
        Buffer::F32(v) => raw(&v[start..start + len]),
        Buffer::F64(v) => raw(&v[start..start + len]),
        Buffer::I64(v) => raw(&v[start..start + len]),
        Buffer::U8(v) => raw(&v[start..start + len]),
        Buffer::Bool(_) => unreachable!("checked by check()"),
    }
}

/// The bytes of `buffer[start..start + len]` for a numeric buffer, writable.
fn bytes_mut(buffer: &mut Buffer, start: usize, len: usize) -> &mut [u8] {
    fn raw<T>(v: &mut [T]) -> &mut [u8] {
        // SAFETY: f32, f64, i64 and u8 have no padding and every bit pattern is valid,
        // so their storage may be viewed, and written, as bytes.
        unsafe {
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v))
        }
    }
    match buffer {
        Buffer::F32(v) => raw(&mut v[start..start + len]),
        Buffer::F64(v) => raw(&mut v[start..start + len]),
        Buffer::I64(v) => raw(&mut v[start..start + len]),
        Buffer::U8(v) => raw(&mut v[start..start + len]),
        Buffer::Bool(_) => unreachable!("checked by check()"),
    }
}

/// Lends the bytes of contiguous CPU tensor `t` (its own elements only, in logical
/// order) to `f` under the storage's exclusive lock, which bumps its version as any
/// in-place write does. Panics, naming `op`, for non-CPU, non-contiguous or bool tensors.
pub fn with_bytes_mut<R>(op: &str, t: &Tensor, f: impl FnOnce(&mut [u8]) -> R) -> R {
    check(op, t);
    let start = t.layout().offset();
    let mut guard = t.storage().write();
    f(bytes_mut(&mut guard, start, t.numel()))
}

/// The address and byte length of contiguous CPU tensor `t`'s elements, for a
/// non-blocking operation that reads and writes them after this call returns (an
/// `MPI_Iallreduce`). Bumps the storage's version as an in-place write does.
///
/// # Safety
/// The caller must keep `t`'s storage alive, and let nothing else read or write it,
/// until the operation has completed.
pub unsafe fn lend_bytes_mut(op: &str, t: &Tensor) -> (*mut u8, usize) {
    with_bytes_mut(op, t, |b| (b.as_mut_ptr(), b.len()))
}

/// Lends the bytes of `src` (read-only) and of `dst` (writable) to `f`, both contiguous
/// CPU tensors of numeric dtypes in different storages, locked together in kiln's lock
/// order. Only `dst`'s version is bumped.
pub fn with_src_dst_bytes<R>(
    op: &str,
    src: &Tensor,
    dst: &Tensor,
    f: impl FnOnce(&[u8], &mut [u8]) -> R,
) -> R {
    check(op, src);
    check(op, dst);
    assert!(
        !src.storage().same(dst.storage()),
        "{op}: the input and output tensors must not share storage"
    );
    let mut guards = Storage::lock_all(&[
        (src.storage(), Access::Read),
        (dst.storage(), Access::Write),
    ]);
    let (first, second) = guards.split_at_mut(1);
    let s = bytes(first[0].buffer(), src.layout().offset(), src.numel());
    let d = bytes_mut(second[0].buffer_mut(), dst.layout().offset(), dst.numel());
    f(s, d)
}
