//! The default process group: MPI's world communicator, set up from the environment
//! `mpirun` gives each process.

use std::sync::OnceLock;

use mpi::topology::Communicator;
use parking_lot::Mutex;

use super::DistError;
use super::raw;
use super::watchdog;

/// What [`init_process_group`] learnt about this process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupInfo {
    pub rank: usize,
    pub world_size: usize,
    pub local_rank: usize,
    pub local_world_size: usize,
}

static INFO: OnceLock<GroupInfo> = OnceLock::new();
/// MPI's handle; finalised at exit (or by [`destroy_process_group`]).
static UNIVERSE: Mutex<Option<mpi::environment::Universe>> = Mutex::new(None);

extern "C" fn finalize_at_exit() {
    // Dropping the universe calls MPI_Finalize, which Open MPI requires before a
    // successful exit.
    drop(UNIVERSE.lock().take());
}

/// Initialises MPI and the default process group from the environment `mpirun` sets
/// (`torch.distributed.init_process_group(backend="mpi")`). A program started without
/// `mpirun` is a world of one process.
///
/// It also sets kiln's thread count to the cores divided by the ranks on this machine
/// (at least 1), unless `KILN_NUM_THREADS` is set, so that N processes on one machine
/// do not each start a thread per core; and it starts the watchdog that stops this
/// process if a collective waits longer than [`super::get_timeout`].
///
/// MPI is finalised when the process exits (or at [`destroy_process_group`]).
pub fn init_process_group() -> Result<(), DistError> {
    let mut slot = UNIVERSE.lock();
    if INFO.get().is_some() || mpi::environment::is_initialized() {
        return Err(DistError::AlreadyInitialized);
    }
    let (universe, _level) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| DistError::InitFailed("MPI_Init_thread returned nothing".into()))?;
    let world = universe.world();
    let node = world.split_shared(world.rank());
    let info = GroupInfo {
        rank: world.rank() as usize,
        world_size: world.size() as usize,
        local_rank: node.rank() as usize,
        local_world_size: node.size() as usize,
    };
    drop(node);
    *slot = Some(universe);
    let _ = INFO.set(info);
    raw::init();
    // SAFETY: registering a plain extern "C" function with the C runtime.
    unsafe {
        libc::atexit(finalize_at_exit);
    }
    if std::env::var_os("KILN_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        crate::set_num_threads((cores / info.local_world_size).max(1));
    }
    watchdog::start(info.rank);
    Ok(())
}

/// Whether [`init_process_group`] has run (`torch.distributed.is_initialized()`).
pub fn is_initialized() -> bool {
    INFO.get().is_some() && UNIVERSE.lock().is_some()
}

pub(crate) fn info(op: &str) -> GroupInfo {
    match INFO.get() {
        Some(i) => *i,
        None => panic!("{op}: {}", DistError::NotInitialized),
    }
}

/// This process's rank in the world, `0..world_size` (`torch.distributed.get_rank()`).
/// Panics before [`init_process_group`].
pub fn get_rank() -> usize {
    info("get_rank").rank
}

/// The number of processes (`torch.distributed.get_world_size()`).
/// Panics before [`init_process_group`].
pub fn get_world_size() -> usize {
    info("get_world_size").world_size
}

/// This process's rank among the processes on its machine (`LOCAL_RANK` under
/// `torchrun`). Panics before [`init_process_group`].
pub fn get_local_rank() -> usize {
    info("get_local_rank").local_rank
}

/// The number of processes on this machine (`LOCAL_WORLD_SIZE` under `torchrun`).
/// Panics before [`init_process_group`].
pub fn get_local_world_size() -> usize {
    info("get_local_world_size").local_world_size
}

/// Finalises MPI (`torch.distributed.destroy_process_group()`). No collective may run
/// afterwards, and MPI cannot be initialised again in this process.
pub fn destroy_process_group() {
    drop(UNIVERSE.lock().take());
}
