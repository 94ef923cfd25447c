//! Collective operations on tensors over the default process group, each the
//! counterpart of its `torch.distributed` function. Tensors are CPU, contiguous and of
//! a numeric dtype (f32, f64, i64, u8); the calls block until done (PyTorch's
//! `async_op=False`) and record no autograd history.

use std::ffi::c_void;

use super::ReduceOp;
use super::group::info;
use super::raw;
use crate::autograd::no_grad;
use crate::tensor::kernels::comm::{with_bytes_mut, with_src_dst_bytes};
use crate::tensor::{DType, Tensor};

/// Reduces `tensor` across all ranks in place: afterwards every rank holds the
/// elementwise sum (or mean, product, minimum, maximum) of all ranks' tensors
/// (`torch.distributed.all_reduce(tensor, op)`).
///
/// Panics if the group is not initialised, if `tensor` is not a contiguous CPU tensor,
/// or for `ReduceOp::Avg` on an integer tensor.
pub fn all_reduce(tensor: &Tensor, op: ReduceOp) {
    let world = info("all_reduce").world_size;
    let dtype = tensor.dtype();
    if op == ReduceOp::Avg {
        assert!(
            dtype.is_float(),
            "all_reduce: ReduceOp.AVG is only supported for floating-point tensors, got {dtype}"
        );
    }
    let n = tensor.numel();
    match raw::in_place() {
        Some(in_place) => with_bytes_mut("all_reduce", tensor, |b| {
            // SAFETY: `b` holds the tensor's n elements of `dtype`.
            unsafe { raw::allreduce("all_reduce", in_place, b.as_mut_ptr().cast(), n, dtype, op) }
        }),
        None => {
            let send = no_grad(|| tensor.clone());
            with_src_dst_bytes("all_reduce", &send, tensor, |s, d| {
                // SAFETY: both hold the tensor's n elements of `dtype`.
                unsafe {
                    raw::allreduce(
                        "all_reduce",
                        s.as_ptr().cast(),
                        d.as_mut_ptr().cast(),
                        n,
                        dtype,
                        op,
                    )
                }
            })
        }
    }
    if op == ReduceOp::Avg && world > 1 {
        no_grad(|| tensor.div_scalar_(world as f64));
    }
}

/// Copies rank `src`'s `tensor` into every other rank's `tensor`
/// (`torch.distributed.broadcast(tensor, src)`). Shapes and dtypes must agree across
/// ranks. Panics if `src` is not a rank.
pub fn broadcast(tensor: &Tensor, src: usize) {
    let world = info("broadcast").world_size;
    assert!(
        src < world,
        "broadcast: invalid src rank {src} for a world of {world} processes"
    );
    let (n, dtype) = (tensor.numel(), tensor.dtype());
    with_bytes_mut("broadcast", tensor, |b| {
        // SAFETY: `b` holds the tensor's n elements of `dtype`.
        unsafe { raw::bcast("broadcast", b.as_mut_ptr().cast::<c_void>(), n, dtype, src) }
    });
}

/// Gathers every rank's `input` into `output`, rank by rank along the first dimension
/// (`torch.distributed.all_gather_into_tensor(output, input)`): `output` has
/// `world_size` times `input`'s elements and its dtype.
pub fn all_gather_into_tensor(output: &Tensor, input: &Tensor) {
    let world = info("all_gather_into_tensor").world_size;
    assert!(
        output.numel() == world * input.numel() && output.dtype() == input.dtype(),
        "all_gather_into_tensor: output tensor must be world_size ({world}) times the input \
         size with its dtype, got output {:?} {} and input {:?} {}",
        output.shape(),
        output.dtype(),
        input.shape(),
        input.dtype()
    );
    let (n, dtype) = (input.numel(), input.dtype());
    with_src_dst_bytes("all_gather_into_tensor", input, output, |s, d| {
        // SAFETY: `s` holds n elements, `d` world * n, of `dtype`.
        unsafe {
            raw::allgather(
                "all_gather_into_tensor",
                s.as_ptr().cast(),
                d.as_mut_ptr().cast(),
                n,
                dtype,
            )
        }
    });
}

/// Fills `tensor_list[r]` with rank `r`'s `tensor`
/// (`torch.distributed.all_gather(tensor_list, tensor)`). The list has `world_size`
/// tensors of `tensor`'s shape and dtype (any layout).
pub fn all_gather(tensor_list: &[Tensor], tensor: &Tensor) {
    let world = info("all_gather").world_size;
    assert!(
        tensor_list.len() == world,
        "all_gather: tensor_list must hold world_size ({world}) tensors, got {}",
        tensor_list.len()
    );
    for t in tensor_list {
        assert!(
            t.shape() == tensor.shape() && t.dtype() == tensor.dtype(),
            "all_gather: every output tensor must have the input's shape {:?} and dtype {}, got {:?} {}",
            tensor.shape(),
            tensor.dtype(),
            t.shape(),
            t.dtype()
        );
    }
    no_grad(|| {
        let n = tensor.numel();
        let input = tensor.contiguous();
        let out = Tensor::zeros_dtype(&[world * n], tensor.dtype());
        all_gather_into_tensor(&out, &input);
        for (r, t) in tensor_list.iter().enumerate() {
            t.copy_(&out.narrow(0, (r * n) as isize, n).reshape(tensor.shape()));
        }
    });
}

/// Waits until every rank has reached this call (`torch.distributed.barrier()`).
pub fn barrier() {
    info("barrier");
    raw::barrier();
}

/// MPI's own `MPI_Allreduce` (sum, in place) on a host buffer, with nothing of kiln's
/// around it: the baseline kiln's collectives are measured against (`kiln bench-dist`).
pub fn raw_all_reduce_f32(buffer: &mut [f32]) {
    info("raw_all_reduce_f32");
    let n = buffer.len();
    let ptr = buffer.as_mut_ptr().cast::<c_void>();
    match raw::in_place() {
        // SAFETY: the buffer holds n f32.
        Some(p) => unsafe { raw::allreduce("MPI_Allreduce", p, ptr, n, DType::F32, ReduceOp::Sum) },
        None => {
            let send = buffer.to_vec();
            // SAFETY: both hold n f32.
            unsafe {
                raw::allreduce(
                    "MPI_Allreduce",
                    send.as_ptr().cast(),
                    ptr,
                    n,
                    DType::F32,
                    ReduceOp::Sum,
                )
            }
        }
    }
}
