//! Data-parallel training across processes (`torch.distributed`,
//! `torch.nn.parallel.DistributedDataParallel`), on MPI.
//!
//! The top layer of kiln: it may use everything below, nothing below uses it. Everything
//! that talks to MPI needs the cargo feature `mpi` (and an MPI library, Open MPI's
//! `libopenmpi-dev` on Debian, plus libclang for the bindings' build); without it this
//! module only re-exports [`DistributedSampler`], which needs no MPI.
//!
//! Under `mpirun -np N program`, each of the N processes calls [`init_process_group`]
//! once, which reads its [`get_rank`], [`get_world_size`] and [`get_local_rank`] from the
//! MPI environment. Then, as in PyTorch:
//!
//! ```no_run
//! # #[cfg(feature = "mpi")] {
//! use kiln::distributed::{self as dist, DistributedDataParallel, ReduceOp};
//! use kiln::nn::{Linear, Module};
//! use kiln::Tensor;
//!
//! dist::init_process_group().unwrap();
//! let t = Tensor::full(&[3], dist::get_rank() as f64);
//! dist::all_reduce(&t, ReduceOp::Sum); // every rank now holds 0 + 1 + ... + (N - 1)
//! let ddp = DistributedDataParallel::new(Linear::new(4, 2)).unwrap();
//! let loss = ddp.forward(&Tensor::rand(&[8, 4])).sum();
//! loss.backward(); // gradients are averaged over the ranks during backward
//! # }
//! ```
//!
//! A rank that waits more than [`get_timeout`] (default 30 s, `KILN_DIST_TIMEOUT`
//! seconds) in a collective prints which collective stalled and exits, so a dead or
//! stuck peer stops the job with a clear error instead of a hang.

pub use crate::data::distributed::{DistributedSampler, Sampler};

#[cfg(feature = "mpi")]
mod collectives;
#[cfg(feature = "mpi")]
mod ddp;
#[cfg(feature = "mpi")]
mod group;
#[cfg(feature = "mpi")]
mod raw;
#[cfg(feature = "mpi")]
mod reducer;
#[cfg(feature = "mpi")]
mod watchdog;

#[cfg(feature = "mpi")]
pub use collectives::{
    all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast, raw_all_reduce_f32,
};
#[cfg(feature = "mpi")]
pub use ddp::{DdpOptions, DistributedDataParallel, GradientSync, NoSyncGuard};
#[cfg(feature = "mpi")]
pub use group::{
    destroy_process_group, get_local_rank, get_local_world_size, get_rank, get_world_size,
    init_process_group, is_initialized,
};
#[cfg(feature = "mpi")]
pub use reducer::DdpStats;
#[cfg(feature = "mpi")]
pub use watchdog::{get_timeout, set_timeout};

/// How [`all_reduce`] combines the ranks' tensors (`torch.distributed.ReduceOp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Elementwise sum (`ReduceOp.SUM`).
    Sum,
    /// Elementwise mean over the ranks (`ReduceOp.AVG`): the sum divided by the world
    /// size; floating-point tensors only.
    Avg,
    /// Elementwise product (`ReduceOp.PRODUCT`).
    Product,
    /// Elementwise minimum (`ReduceOp.MIN`).
    Min,
    /// Elementwise maximum (`ReduceOp.MAX`).
    Max,
}

/// Errors of process-group setup and of [`DistributedDataParallel::new`].
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// `init_process_group` was called twice, or MPI was initialised elsewhere.
    #[error("init_process_group: the default process group is already initialised")]
    AlreadyInitialized,
    /// MPI refused to initialise.
    #[error("init_process_group: MPI failed to initialise ({0})")]
    InitFailed(String),
    /// A collective was called before `init_process_group`.
    #[error(
        "Default process group has not been initialized, please make sure to call init_process_group."
    )]
    NotInitialized,
    /// The ranks' models differ in their parameters or buffers.
    #[error(
        "DistributedDataParallel: the model differs across ranks at parameter or buffer #{index}: \
         rank 0 has {rank0}, rank {rank} has {this_rank}"
    )]
    ModelMismatch {
        /// Position of the first differing entry in `named_parameters` then `named_buffers`.
        index: usize,
        /// Rank 0's entry there (`name shape dtype`, or `nothing`).
        rank0: String,
        /// The reporting rank.
        rank: usize,
        /// The reporting rank's entry there.
        this_rank: String,
    },
}
