//! [`DistributedDataParallel`]: PyTorch's DDP on MPI. Gradients are averaged over the
//! ranks during backward, in buckets launched from post-accumulate-grad hooks.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::group::info;
use super::reducer::{BUCKET_BYTES, DdpStats, FIRST_BUCKET_BYTES, Reducer};
use super::{DistError, ReduceOp, all_reduce, broadcast};
use crate::nn::Module;
use crate::tensor::Tensor;
use crate::tensor::hooks::RemovableHandle;

/// Wraps a model for data-parallel training (`torch.nn.parallel.DistributedDataParallel`).
///
/// [`DistributedDataParallel::new`] checks that every rank has the same parameters and
/// buffers (names, shapes, dtypes), failing with [`DistError::ModelMismatch`] naming the
/// first that differs, then copies rank 0's values to every rank. Each backward then
/// averages the gradients over the ranks: the parameters (in reverse order, as their
/// gradients become ready) are cut into buckets of about 25 MiB (the first 1 MiB; see
/// [`DdpOptions::bucket_cap_mb`]); each
/// post-accumulate-grad hook copies its gradient into its bucket, and a complete bucket
/// is summed across ranks on a communication thread while backward goes on (the last
/// one on the training thread: nothing is left to overlap it with). Buckets start in the
/// same order on every rank; the hook of the last gradient waits for them all and
/// writes the averages into `.grad`.
///
/// Options ([`DdpOptions`], PyTorch's keyword arguments): `broadcast_buffers` (default
/// true) copies rank 0's buffers (BatchNorm's running statistics) to every rank before
/// each forward that follows a synchronised one; `find_unused_parameters` (default
/// false) lets a forward leave parameters out of the loss; `bucket_cap_mb` (default 25,
/// with a 1 MiB first bucket) sets the bucket size.
///
/// Without `find_unused_parameters`, every parameter that requires grad must receive a
/// gradient in each synchronised backward; the next forward panics otherwise, with
/// PyTorch's message naming the parameters that did not. With it, the parameters the
/// output does not reach are found at the end of the forward (a walk of the autograd
/// graph, as PyTorch's) and count as ready with a zero gradient; a parameter no rank
/// used keeps its `.grad` as it was (`None` stays `None`).
///
/// Whether a backward synchronises is decided at the forward, as in PyTorch: forwards
/// run under [`DistributedDataParallel::no_sync`] leave their gradients local
/// (accumulated in `.grad`), and the next synchronised backward averages the
/// accumulated sums.
///
/// The wrapper is a [`Module`] whose one child is the model, named `module`
/// (so its parameter names start with `module.`, as PyTorch's); save
/// [`DistributedDataParallel::module`]`.state_dict()` to get the model's own names.
pub struct DistributedDataParallel<M: Module> {
    module: M,
    sync: GradientSync,
}

/// PyTorch's keyword arguments of `DistributedDataParallel` that kiln implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DdpOptions {
    broadcast_buffers: bool,
    find_unused_parameters: bool,
    /// `bucket_cap_mb` in bytes; `None` is PyTorch's `bucket_cap_mb=None` (the default).
    bucket_bytes_cap: Option<usize>,
}

impl Default for DdpOptions {
    fn default() -> Self {
        DdpOptions {
            broadcast_buffers: true,
            find_unused_parameters: false,
            bucket_bytes_cap: None,
        }
    }
}

impl DdpOptions {
    /// PyTorch's defaults: `broadcast_buffers=True`, `find_unused_parameters=False`,
    /// `bucket_cap_mb=None` (buckets of 25 MiB after a first one of 1 MiB).
    pub fn new() -> Self {
        Self::default()
    }

    /// `bucket_cap_mb`: the size at which a gradient bucket closes, in MiB
    /// (`int(bucket_cap_mb * 1024 * 1024)` bytes, as PyTorch computes it). As in PyTorch (since
    /// its `bucket_cap_mb` defaults to `None`), setting it also sets the first bucket's cap: the small 1 MiB first bucket
    /// (`_DEFAULT_FIRST_BUCKET_BYTES`) applies only to the default. Smaller buckets start
    /// communication earlier in backward at the cost of more all-reduce calls; the
    /// averaged gradients do not depend on it. Panics unless `mb` is positive and finite
    /// (and at least one byte).
    pub fn bucket_cap_mb(mut self, mb: f64) -> Self {
        assert!(
            mb.is_finite() && mb > 0.0,
            "DistributedDataParallel: bucket_cap_mb must be a positive finite number of MiB, \
             got {mb}"
        );
        let bytes = (mb * 1024.0 * 1024.0) as usize;
        assert!(
            bytes >= 1,
            "DistributedDataParallel: bucket_cap_mb={mb} is less than one byte"
        );
        self.bucket_bytes_cap = Some(bytes);
        self
    }

    /// The caps of the first bucket and of the next ones, in bytes.
    fn bucket_limits(&self) -> [usize; 2] {
        match self.bucket_bytes_cap {
            None => [FIRST_BUCKET_BYTES, BUCKET_BYTES],
            Some(b) => [b, b],
        }
    }

    /// `broadcast_buffers`: before a forward that follows a synchronised forward (and
    /// before the first), rank 0's buffers are broadcast to every rank, one coalesced
    /// broadcast per dtype. Off, each rank keeps its own running statistics.
    pub fn broadcast_buffers(mut self, on: bool) -> Self {
        self.broadcast_buffers = on;
        self
    }

    /// `find_unused_parameters`: parameters the forward's output does not reach are
    /// reduced as zeros instead of being waited for, and parameters no rank used keep
    /// their `.grad`. Costs a graph walk per forward and one small all-reduce per step.
    pub fn find_unused_parameters(mut self, on: bool) -> Self {
        self.find_unused_parameters = on;
        self
    }
}

/// The description of one parameter or buffer compared across ranks.
fn entry(name: &str, t: &Tensor) -> String {
    format!("`{name}` {:?} {}", t.shape(), t.dtype())
}

/// Broadcasts rank `root`'s string.
fn broadcast_string(s: &str, root: usize) -> String {
    let len = Tensor::from_vec(vec![s.len() as i64], &[1]);
    broadcast(&len, root);
    let n = len.to_vec::<i64>()[0] as usize;
    let bytes = if info("broadcast").rank == root {
        s.as_bytes().to_vec()
    } else {
        vec![0u8; n]
    };
    let t = Tensor::from_vec(bytes, &[n]);
    broadcast(&t, root);
    String::from_utf8_lossy(&t.to_vec::<u8>()).into_owned()
}

/// Fails on every rank, naming the first entry where some rank's model differs from
/// rank 0's.
fn verify_same_model(entries: &[String]) -> Result<(), DistError> {
    let g = info("DistributedDataParallel");
    let ours = entries.join("\n");
    let theirs = broadcast_string(&ours, 0);
    let rank0: Vec<&str> = if theirs.is_empty() {
        Vec::new()
    } else {
        theirs.split('\n').collect()
    };
    let n = rank0.len().max(entries.len());
    let first = (0..n).find(|&i| rank0.get(i).copied() != entries.get(i).map(String::as_str));
    let key = first.map_or(i64::MAX, |i| (i * g.world_size + g.rank) as i64);
    let k = Tensor::from_vec(vec![key], &[1]);
    all_reduce(&k, ReduceOp::Min);
    let key = k.to_vec::<i64>()[0];
    if key == i64::MAX {
        return Ok(());
    }
    let (index, rank) = (key as usize / g.world_size, key as usize % g.world_size);
    let mine = entries
        .get(index)
        .cloned()
        .unwrap_or_else(|| "nothing".into());
    let this_rank = broadcast_string(&mine, rank);
    let rank0 = rank0.get(index).map_or("nothing".into(), |s| s.to_string());
    Err(DistError::ModelMismatch {
        index,
        rank0,
        rank,
        this_rank,
    })
}

/// The gradient averaging of [`DistributedDataParallel`] attached to a model the caller
/// keeps: for programs that hold their model by value elsewhere (the `kiln` command).
/// Call [`GradientSync::prepare_forward`] before each forward whose backward should be
/// synchronised (and, with `find_unused_parameters`, [`GradientSync::prepare_for_backward`]
/// with its output); hooks are removed when it drops.
pub struct GradientSync {
    reducer: Arc<Mutex<Reducer>>,
    hooks: Vec<RemovableHandle>,
    options: DdpOptions,
}

impl GradientSync {
    /// [`GradientSync::with_options`] with PyTorch's defaults.
    pub fn new(module: &dyn Module) -> Result<Self, DistError> {
        Self::with_options(module, DdpOptions::new())
    }

    /// Checks that all ranks hold the same model, copies rank 0's parameters and buffers
    /// to every rank and registers the gradient hooks on `module`'s parameters. Collective.
    /// Panics before `init_process_group`.
    pub fn with_options(module: &dyn Module, options: DdpOptions) -> Result<Self, DistError> {
        let g = info("DistributedDataParallel");
        let named = module.named_parameters();
        let buffers = module.named_buffers();
        let entries: Vec<String> = named
            .iter()
            .chain(buffers.iter())
            .map(|(n, t)| entry(n, t))
            .collect();
        verify_same_model(&entries)?;
        for (_, t) in named.iter().chain(buffers.iter()) {
            broadcast(t, 0);
        }
        let (names, params): (Vec<String>, Vec<Tensor>) =
            named.into_iter().filter(|(_, p)| p.requires_grad()).unzip();
        let reducer = Arc::new(Mutex::new(Reducer::new(
            params.clone(),
            names,
            g.world_size,
            options.find_unused_parameters,
            buffers.into_iter().map(|(_, t)| t).collect(),
            options.bucket_limits(),
        )));
        let hooks = params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let weak: Weak<Mutex<Reducer>> = Arc::downgrade(&reducer);
                p.register_post_accumulate_grad_hook(move |t| {
                    if let Some(r) = weak.upgrade() {
                        r.lock().mark_ready(i, t);
                    }
                })
            })
            .collect();
        Ok(GradientSync {
            reducer,
            hooks,
            options,
        })
    }

    /// Before a forward: broadcasts rank 0's buffers (with `broadcast_buffers`, if the
    /// previous forward synchronised) and decides whether the next backward
    /// synchronises (unless under [`GradientSync::no_sync`], and if grad mode is on).
    /// Collective when it broadcasts. Panics if the previous synchronised backward left
    /// parameters without a gradient.
    pub fn prepare_forward(&self) {
        let mut r = self.reducer.lock();
        let missing = r.pending();
        assert!(
            missing.is_empty(),
            "DistributedDataParallel: Expected to have finished reduction in the prior \
             iteration before starting a new one. This error indicates that your module has \
             parameters that were not used in producing loss. You can enable unused parameter \
             detection by passing find_unused_parameters(true) in DdpOptions, and by making \
             sure all forward function outputs participate in calculating loss. Parameters \
             which did not receive grad on this rank: {}",
            missing.join(", ")
        );
        let arm = r.sync && crate::autograd::is_grad_enabled();
        r.prepare_forward(self.options.broadcast_buffers, arm);
    }

    /// After a synchronised forward with `find_unused_parameters`: marks ready the
    /// parameters `outputs` do not reach (PyTorch's `reducer.prepare_for_backward`).
    /// Does nothing otherwise.
    pub fn prepare_for_backward(&self, outputs: &[&Tensor]) {
        if self.options.find_unused_parameters {
            self.reducer.lock().mark_unreached(outputs);
        }
    }

    /// Copies rank 0's buffers to every rank now (collective); e.g. before each rank
    /// evaluates its share of a test set with the model rank 0 saves.
    pub fn broadcast_buffers(&self) {
        self.reducer.lock().broadcast_buffers();
    }

    /// See [`DistributedDataParallel::no_sync`].
    pub fn no_sync(&self) -> NoSyncGuard<'_> {
        self.reducer.lock().sync = false;
        NoSyncGuard {
            reducer: &self.reducer,
        }
    }

    /// The elements in each gradient bucket, in launch order.
    pub fn bucket_sizes(&self) -> Vec<usize> {
        self.reducer.lock().bucket_sizes()
    }

    /// Where the synchronised backwards' communication time went so far.
    pub fn stats(&self) -> DdpStats {
        self.reducer.lock().stats
    }
}

impl Drop for GradientSync {
    fn drop(&mut self) {
        for h in &self.hooks {
            h.remove();
        }
    }
}

impl<M: Module> DistributedDataParallel<M> {
    /// [`DistributedDataParallel::with_options`] with PyTorch's defaults.
    pub fn new(module: M) -> Result<Self, DistError> {
        Self::with_options(module, DdpOptions::new())
    }

    /// Wraps `module`: checks that all ranks hold the same model, copies rank 0's
    /// parameters and buffers to every rank and registers the gradient hooks. Every rank
    /// must call it (it is collective). Panics before `init_process_group`.
    pub fn with_options(module: M, options: DdpOptions) -> Result<Self, DistError> {
        let sync = GradientSync::with_options(&module, options)?;
        Ok(DistributedDataParallel { module, sync })
    }

    /// The wrapped model (`ddp.module`).
    pub fn module(&self) -> &M {
        &self.module
    }

    /// Forwards started while the guard lives do not synchronise their backward: the
    /// gradients accumulate locally, and the first synchronised backward after it
    /// averages the sums (`with ddp.no_sync():`).
    pub fn no_sync(&self) -> NoSyncGuard<'_> {
        self.sync.no_sync()
    }

    /// The number of gradient buckets and the elements in each, in launch order.
    pub fn bucket_sizes(&self) -> Vec<usize> {
        self.sync.bucket_sizes()
    }

    /// Where the synchronised backwards' communication time went so far.
    pub fn stats(&self) -> DdpStats {
        self.sync.stats()
    }

    /// The gradient synchronisation this wrapper drives.
    pub fn gradient_sync(&self) -> &GradientSync {
        &self.sync
    }
}

/// Returned by [`DistributedDataParallel::no_sync`]; synchronisation resumes when it drops.
pub struct NoSyncGuard<'a> {
    reducer: &'a Arc<Mutex<Reducer>>,
}

impl Drop for NoSyncGuard<'_> {
    fn drop(&mut self) {
        self.reducer.lock().sync = true;
    }
}

impl<M: Module> Module for DistributedDataParallel<M> {
    /// Runs the model (after broadcasting rank 0's buffers, see [`DdpOptions`]); the next
    /// backward synchronises unless under `no_sync`. Panics if the previous synchronised
    /// backward left parameters without a gradient.
    fn forward(&self, input: &Tensor) -> Tensor {
        self.sync.prepare_forward();
        let output = self.module.call(input);
        self.sync.prepare_for_backward(&[&output]);
        output
    }

    fn visit_children<'a>(&'a self, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        f("module", &self.module);
    }

    fn type_name(&self) -> String {
        "DistributedDataParallel".into()
    }
}
