//! Thin, serialised calls into MPI's C interface on the world communicator, with the
//! watchdog armed around every wait. Buffers come from the kernel layer's
//! communication seam ([`crate::tensor::kernels::comm`]).

use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::OnceLock;

use mpi::ffi;
use parking_lot::Mutex;

use super::ReduceOp;
use super::watchdog;
use crate::tensor::DType;

/// MPI is initialised at `MPI_THREAD_SERIALIZED`: one call at a time, from any thread.
static CALL: Mutex<()> = Mutex::new(());

/// `MPI_IN_PLACE`, which mpi.h defines as a macro (so the bindings lack it): `(void *) 1`
/// in Open MPI, `(void *) -1` in MPICH and its derivatives. `None` for another library:
/// in-place reductions then go through a scratch buffer.
static IN_PLACE: OnceLock<Option<usize>> = OnceLock::new();

pub(crate) fn init() {
    let version = mpi::environment::library_version().unwrap_or_default();
    let v = if version.contains("Open MPI") {
        Some(1usize)
    } else if version.contains("MPICH") || version.contains("Intel") {
        Some(usize::MAX)
    } else {
        None
    };
    let _ = IN_PLACE.set(v);
}

pub(crate) fn in_place() -> Option<*const c_void> {
    IN_PLACE
        .get()
        .copied()
        .flatten()
        .map(|p| p as *const c_void)
}

pub(crate) fn datatype(op: &str, dtype: DType) -> ffi::MPI_Datatype {
    // SAFETY: reading the shim's constant handles after MPI_Init.
    unsafe {
        match dtype {
            DType::F32 => ffi::RSMPI_FLOAT,
            DType::F64 => ffi::RSMPI_DOUBLE,
            DType::I64 => ffi::RSMPI_INT64_T,
            DType::U8 => ffi::RSMPI_UINT8_T,
            d => panic!("{op}: not implemented for dtype {d}"),
        }
    }
}

/// MPI's operation for `op` (Avg is a Sum, divided afterwards).
pub(crate) fn reduce_op(op: ReduceOp) -> ffi::MPI_Op {
    // SAFETY: as in `datatype`.
    unsafe {
        match op {
            ReduceOp::Sum | ReduceOp::Avg => ffi::RSMPI_SUM,
            ReduceOp::Product => ffi::RSMPI_PROD,
            ReduceOp::Min => ffi::RSMPI_MIN,
            ReduceOp::Max => ffi::RSMPI_MAX,
        }
    }
}

fn world() -> ffi::MPI_Comm {
    // SAFETY: as in `datatype`.
    unsafe { ffi::RSMPI_COMM_WORLD }
}

pub(crate) fn count(op: &str, n: usize) -> c_int {
    c_int::try_from(n).unwrap_or_else(|_| {
        panic!(
            "{op}: {n} elements exceed MPI's count limit of {}",
            c_int::MAX
        )
    })
}

fn check(op: &str, code: c_int) {
    assert!(code == 0, "{op}: MPI call failed with error code {code}");
}

/// Runs one blocking MPI call under the call lock, with the watchdog armed.
fn blocking(op: &'static str, f: impl FnOnce() -> c_int) {
    let _call = CALL.lock();
    let _armed = watchdog::arm(op);
    check(op, f());
}

/// `MPI_Allreduce(send, recv, n, dtype, op, WORLD)`; `send` may be `in_place()`.
///
/// # Safety
/// The buffers must hold `n` elements of `dtype`.
pub(crate) unsafe fn allreduce(
    op: &'static str,
    send: *const c_void,
    recv: *mut c_void,
    n: usize,
    dtype: DType,
    reduce: ReduceOp,
) {
    let (n, t, o) = (count(op, n), datatype(op, dtype), reduce_op(reduce));
    // SAFETY: the caller's buffers, as promised.
    blocking(op, || unsafe {
        ffi::MPI_Allreduce(send, recv, n, t, o, world())
    });
}

/// `MPI_Bcast(buf, n, dtype, root, WORLD)`.
///
/// # Safety
/// `buf` must hold `n` elements of `dtype`.
pub(crate) unsafe fn bcast(
    op: &'static str,
    buf: *mut c_void,
    n: usize,
    dtype: DType,
    root: usize,
) {
    let (n, t) = (count(op, n), datatype(op, dtype));
    // SAFETY: the caller's buffer, as promised.
    blocking(op, || unsafe {
        ffi::MPI_Bcast(buf, n, t, root as c_int, world())
    });
}

/// `MPI_Allgather(send, n, recv, n, WORLD)` (`recv` holds world_size * n elements).
///
/// # Safety
/// The buffers must hold `n` and world_size * `n` elements of `dtype`.
pub(crate) unsafe fn allgather(
    op: &'static str,
    send: *const c_void,
    recv: *mut c_void,
    n: usize,
    dtype: DType,
) {
    let (n, t) = (count(op, n), datatype(op, dtype));
    // SAFETY: the caller's buffers, as promised.
    blocking(op, || unsafe {
        ffi::MPI_Allgather(send, n, t, recv, n, t, world())
    });
}

/// `MPI_Barrier(WORLD)`.
pub(crate) fn barrier() {
    // SAFETY: no buffer.
    blocking("barrier", || unsafe { ffi::MPI_Barrier(world()) });
}

/// An `MPI_Iallreduce` in flight; its buffers belong to the caller until it completes.
pub(crate) struct Request(ffi::MPI_Request);

// SAFETY: a request handle is an opaque integer or pointer MPI lets any thread use
// (calls are serialised by `CALL`).
unsafe impl Send for Request {}

/// Starts `MPI_Iallreduce(send, recv, n, dtype, SUM, WORLD)`.
///
/// # Safety
/// The buffers must hold `n` elements of `dtype` and stay untouched until the request
/// is waited for.
pub(crate) unsafe fn iallreduce_sum(
    op: &'static str,
    send: *const c_void,
    recv: *mut c_void,
    n: usize,
    dtype: DType,
) -> Request {
    let (n, t) = (count(op, n), datatype(op, dtype));
    let _call = CALL.lock();
    // SAFETY: a null handle for MPI to fill.
    let mut req: ffi::MPI_Request = unsafe { ffi::RSMPI_REQUEST_NULL };
    // SAFETY: the caller's buffers, as promised.
    let code = unsafe { ffi::MPI_Iallreduce(send, recv, n, t, ffi::RSMPI_SUM, world(), &mut req) };
    check(op, code);
    Request(req)
}

impl Request {
    /// Lets MPI progress the request without blocking (`MPI_Test`); true once complete.
    pub(crate) fn test(&mut self) -> bool {
        let _call = CALL.lock();
        let mut flag: c_int = 0;
        // SAFETY: a live request; status ignored.
        let code = unsafe { ffi::MPI_Test(&mut self.0, &mut flag, ffi::RSMPI_STATUS_IGNORE) };
        check("MPI_Test", code);
        flag != 0
    }

    /// Blocks until complete (`MPI_Wait`), with the watchdog armed.
    pub(crate) fn wait(mut self, op: &'static str) {
        blocking(op, || unsafe {
            // SAFETY: a live request; status ignored.
            ffi::MPI_Wait(&mut self.0, ffi::RSMPI_STATUS_IGNORE)
        });
    }
}
