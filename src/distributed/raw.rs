//! Thin, serialised calls into MPI's C interface on the world communicator, with the
//! watchdog armed around every wait. Buffers come from the kernel layer's
//! communication seam ([`crate::tensor::kernels::comm`]).

use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::OnceLock;
use std::time::Duration;

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

/// Reductions handed to the communication thread and not yet finished, with the
/// condition the other threads wait on until there are none.
static IN_FLIGHT: Mutex<usize> = Mutex::new(0);
static IDLE: parking_lot::Condvar = parking_lot::Condvar::new();

thread_local! {
    /// Whether this is the communication thread.
    static COMM_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs one blocking MPI call under the call lock, with the watchdog armed. From any
/// thread but the communication thread it first waits until the reductions handed to
/// that thread are done: every rank then issues its collectives in its program order,
/// as MPI requires, whichever thread issues them.
fn blocking(op: &'static str, f: impl FnOnce() -> c_int) {
    if !COMM_THREAD.with(|c| c.get()) {
        let mut n = IN_FLIGHT.lock();
        while *n > 0 {
            IDLE.wait(&mut n);
        }
    }
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

/// A gradient reduction handed to the communication thread; its buffers belong to the
/// caller until it completes.
pub(crate) struct Request {
    /// Sends how long the all-reduce took.
    done: std::sync::mpsc::Receiver<Duration>,
}

/// One blocking all-reduce for the communication thread (addresses as integers: the
/// caller keeps the buffers alive and untouched until it completes).
struct Job {
    op: &'static str,
    send: usize,
    recv: usize,
    n: usize,
    dtype: DType,
    done: std::sync::mpsc::SyncSender<Duration>,
}

/// The communication thread, as PyTorch's MPI process group has: it runs the buckets'
/// blocking `MPI_Allreduce`s one after another, in the order they were started, while
/// the training thread goes on with backward. (MPI's own non-blocking `MPI_Iallreduce`
/// only progresses inside MPI calls, which backward does not make; measured 30-100x
/// slower here.) A collective from another thread waits for the buckets in flight
/// (see `blocking`), so the order of collectives is each rank's program order.
fn worker() -> &'static parking_lot::Mutex<std::sync::mpsc::Sender<Job>> {
    static WORKER: OnceLock<parking_lot::Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("kiln-dist-comm".into())
            .spawn(move || {
                COMM_THREAD.with(|c| c.set(true));
                for job in rx {
                    let t0 = std::time::Instant::now();
                    // SAFETY: the submitter keeps both buffers alive and untouched until
                    // `done` is signalled.
                    unsafe {
                        allreduce(
                            job.op,
                            job.send as *const c_void,
                            job.recv as *mut c_void,
                            job.n,
                            job.dtype,
                            ReduceOp::Sum,
                        )
                    };
                    {
                        let mut n = IN_FLIGHT.lock();
                        *n -= 1;
                        if *n == 0 {
                            IDLE.notify_all();
                        }
                    }
                    let _ = job.done.send(t0.elapsed());
                }
            })
            .expect("DistributedDataParallel: could not start the communication thread");
        parking_lot::Mutex::new(tx)
    })
}

/// Starts a sum all-reduce of `n` elements from `send` into `recv` on the
/// communication thread.
///
/// # Safety
/// The buffers must hold `n` elements of `dtype` and stay alive and untouched until the
/// request is waited for.
pub(crate) unsafe fn iallreduce_sum(
    op: &'static str,
    send: *const c_void,
    recv: *mut c_void,
    n: usize,
    dtype: DType,
) -> Request {
    count(op, n);
    datatype(op, dtype);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let job = Job {
        op,
        send: send as usize,
        recv: recv as usize,
        n,
        dtype,
        done: tx,
    };
    *IN_FLIGHT.lock() += 1;
    worker()
        .lock()
        .send(job)
        .expect("DistributedDataParallel: the communication thread has stopped");
    Request { done: rx }
}

impl Request {
    /// Blocks until complete; returns how long the all-reduce itself took on the
    /// communication thread. That thread's call is under the watchdog.
    pub(crate) fn wait(self, op: &'static str) -> Duration {
        self.done
            .recv()
            .unwrap_or_else(|_| panic!("{op}: the communication thread has stopped"))
    }
}
