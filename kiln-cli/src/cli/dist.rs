//! `kiln train` under `mpirun`: which process this is, and the few collective steps the
//! command needs. Built with the `mpi` feature it joins the MPI job; without it, or
//! when not started by a launcher, it is a world of one and every call is a no-op.

use super::error::CliError;

/// Environment variables MPI launchers set in the processes they start (Open MPI,
/// MPICH/Hydra and Intel MPI, Slurm's PMI).
const LAUNCHER_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"];

/// This process's place in a data-parallel run.
#[derive(Clone, Copy, Debug)]
pub struct Dist {
    /// The process's rank, 0 for a single process.
    pub rank: usize,
    /// The number of processes.
    pub world: usize,
}

/// Whether an MPI launcher started this process as one of several.
fn launched_by_mpi() -> bool {
    LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
        && std::env::var("OMPI_COMM_WORLD_SIZE")
            .or_else(|_| std::env::var("PMI_SIZE"))
            .map_or(true, |n| n.trim() != "1")
}

static CURRENT: std::sync::OnceLock<Dist> = std::sync::OnceLock::new();

impl Dist {
    /// Joins the MPI job when started by a launcher (and built with `mpi`). Call it
    /// before setting the thread count: MPI's setup picks cores / local ranks.
    pub fn init() -> Result<Dist, CliError> {
        let d = if launched_by_mpi() {
            Self::init_mpi()?
        } else {
            Dist { rank: 0, world: 1 }
        };
        let _ = CURRENT.set(d);
        Ok(d)
    }

    /// The process's place set by [`Dist::init`], or a single process.
    pub fn current() -> Dist {
        CURRENT.get().copied().unwrap_or(Dist { rank: 0, world: 1 })
    }

    #[cfg(feature = "mpi")]
    fn init_mpi() -> Result<Dist, CliError> {
        use kiln::distributed as dist;
        dist::init_process_group().map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Dist {
            rank: dist::get_rank(),
            world: dist::get_world_size(),
        })
    }

    #[cfg(not(feature = "mpi"))]
    fn init_mpi() -> Result<Dist, CliError> {
        Err(CliError::Usage(
            "this kiln was started by mpirun but built without MPI support; rebuild it with \
             `cargo build --release -p kiln-cli --features mpi`"
                .into(),
        ))
    }

    /// Whether this process writes files and prints (rank 0).
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// Whether several processes train together.
    pub fn is_distributed(&self) -> bool {
        self.world > 1
    }

    /// Sums `values` over the ranks (in place).
    pub fn sum(&self, values: &mut [f64]) {
        if !self.is_distributed() {
            return;
        }
        #[cfg(feature = "mpi")]
        {
            use kiln::distributed::{ReduceOp, all_reduce};
            let t = kiln::Tensor::from_vec(values.to_vec(), &[values.len()]);
            all_reduce(&t, ReduceOp::Sum);
            values.copy_from_slice(&t.to_vec::<f64>());
        }
        #[cfg(not(feature = "mpi"))]
        let _ = values;
    }

    /// Whether any rank says `flag`.
    pub fn any(&self, flag: bool) -> bool {
        let mut v = [f64::from(u8::from(flag))];
        self.sum(&mut v);
        v[0] > 0.0
    }

    /// Fails on every rank if any rank failed: a setup error on one rank must not leave
    /// the others waiting in the next collective.
    pub fn agree<T>(&self, result: Result<T, CliError>) -> Result<T, CliError> {
        let failed = self.any(result.is_err());
        match result {
            Err(e) => Err(e),
            Ok(_) if failed => Err(CliError::Usage(
                "another process of this run failed (rank 0 says why)".into(),
            )),
            Ok(v) => Ok(v),
        }
    }

    /// Waits for every rank, for up to `secs` seconds (rank 0 downloading the data).
    pub fn barrier_within(&self, secs: u64) {
        if !self.is_distributed() {
            return;
        }
        #[cfg(feature = "mpi")]
        {
            use kiln::distributed as dist;
            let old = dist::get_timeout();
            dist::set_timeout(old.max(std::time::Duration::from_secs(secs)));
            dist::barrier();
            dist::set_timeout(old);
        }
        #[cfg(not(feature = "mpi"))]
        let _ = secs;
    }
}

/// The gradient averaging of a data-parallel run: nothing for one process.
pub struct GradSync {
    #[cfg(feature = "mpi")]
    inner: Option<kiln::distributed::GradientSync>,
}

impl GradSync {
    /// Broadcasts rank 0's model to every rank and hooks gradient averaging onto it.
    pub fn attach(dist: &Dist, model: &dyn kiln::nn::Module) -> Result<GradSync, CliError> {
        #[cfg(feature = "mpi")]
        {
            let inner = if dist.is_distributed() {
                Some(
                    kiln::distributed::GradientSync::new(model)
                        .map_err(|e| CliError::Usage(e.to_string()))?,
                )
            } else {
                None
            };
            Ok(GradSync { inner })
        }
        #[cfg(not(feature = "mpi"))]
        {
            let _ = (dist, model);
            Ok(GradSync {})
        }
    }

    /// Copies rank 0's buffers (BatchNorm's running statistics) to every rank.
    pub fn broadcast_buffers(&self) {
        #[cfg(feature = "mpi")]
        if let Some(s) = &self.inner {
            s.broadcast_buffers();
        }
    }

    /// Before each training forward.
    pub fn prepare_forward(&self) {
        #[cfg(feature = "mpi")]
        if let Some(s) = &self.inner {
            s.prepare_forward();
        }
    }
}
