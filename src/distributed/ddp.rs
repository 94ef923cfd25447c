//! [`DistributedDataParallel`]: PyTorch's DDP on MPI. Gradients are averaged over the
//! ranks during backward, in buckets launched from post-accumulate-grad hooks.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::group::info;
use super::raw::{self, Request};
use super::{DistError, ReduceOp, all_reduce, broadcast};
use crate::autograd::no_grad;
use crate::nn::Module;
use crate::tensor::hooks::RemovableHandle;
use crate::tensor::kernels::comm::lend_bytes_mut;
use crate::tensor::{DType, Tensor};

/// PyTorch's `_DEFAULT_FIRST_BUCKET_BYTES`: the first bucket (the last layers, whose
/// gradients are ready first) is small so communication starts early.
const FIRST_BUCKET_BYTES: usize = 1 << 20;
/// PyTorch's default `bucket_cap_mb`, 25 MiB.
const BUCKET_BYTES: usize = 25 << 20;

/// Wraps a model for data-parallel training (`torch.nn.parallel.DistributedDataParallel`).
///
/// [`DistributedDataParallel::new`] checks that every rank has the same parameters and
/// buffers (names, shapes, dtypes), failing with [`DistError::ModelMismatch`] naming the
/// first that differs, then copies rank 0's values to every rank. Each backward then
/// averages the gradients over the ranks: the parameters (in reverse order, as their
/// gradients become ready) are cut into buckets of about 25 MiB (the first 1 MiB), and
/// when a bucket's last gradient has been accumulated its post-accumulate-grad hook
/// starts a non-blocking `MPI_Iallreduce` of the bucket, so the communication of the last
/// layers overlaps the backward of the first. Buckets start in the same order on every
/// rank; the hook of the last gradient waits for them all and writes the averages
/// into `.grad`.
///
/// As with PyTorch's default `find_unused_parameters=False`, every parameter that
/// requires grad must receive a gradient in each synchronised backward; the next
/// forward panics otherwise, naming the parameters that did not. Whether a backward
/// synchronises is decided at the forward, as in PyTorch: forwards run under
/// [`DistributedDataParallel::no_sync`] leave their gradients local (accumulated in `.grad`),
/// and the next synchronised backward averages the accumulated sums.
///
/// The wrapper is a [`Module`] whose one child is the model, named `module`
/// (so its parameter names start with `module.`, as PyTorch's); save
/// [`DistributedDataParallel::module`]`.state_dict()` to get the model's own names.
pub struct DistributedDataParallel<M: Module> {
    module: M,
    sync: GradientSync,
}

/// `KILN_DDP_BLOCKING=1`: reduce each bucket with a blocking `MPI_Allreduce` when it
/// is complete instead of a non-blocking one (no overlap with the rest of backward, but
/// no reliance on the MPI library progressing non-blocking collectives).
fn blocking_buckets() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_DDP_BLOCKING").is_ok_and(|v| v == "1"))
}

/// One bucket: a run of parameters of one dtype reduced together.
struct Bucket {
    dtype: DType,
    /// Indices into `Reducer::params`, in the order their gradients sit in the bucket.
    members: Vec<usize>,
    numel: usize,
    /// Flattened gradients received so far this backward.
    grads: Vec<Option<Tensor>>,
    ready: usize,
    /// The packed gradients being sent, kept alive while the reduction runs.
    send: Option<Tensor>,
    /// Where MPI writes the sums.
    recv: Tensor,
    request: Option<Request>,
}

struct Reducer {
    params: Vec<Tensor>,
    names: Vec<String>,
    /// Parameter index -> (bucket, position in the bucket).
    slot: Vec<(usize, usize)>,
    buckets: Vec<Bucket>,
    /// The next bucket to start: buckets start in index order on every rank.
    next_launch: usize,
    /// Whether this backward synchronises (decided at the forward).
    armed: bool,
    /// Whether forwards outside `no_sync` synchronise.
    sync: bool,
    world: usize,
}

impl Reducer {
    fn new(params: Vec<Tensor>, names: Vec<String>, world: usize) -> Self {
        let n = params.len();
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut slot = vec![(0, 0); n];
        // The bucket being filled for each dtype.
        let mut open: Vec<(DType, usize)> = Vec::new();
        for i in (0..n).rev() {
            let (dtype, numel) = (params[i].dtype(), params[i].numel());
            let bytes = numel * dtype.size_in_bytes();
            let fits = |b: usize, buckets: &[Bucket]| {
                let cap = if b == 0 {
                    FIRST_BUCKET_BYTES
                } else {
                    BUCKET_BYTES
                };
                buckets[b].numel * dtype.size_in_bytes() + bytes <= cap
            };
            let current = open.iter().position(|(d, _)| *d == dtype);
            let b = match current {
                Some(k) if fits(open[k].1, &buckets) => open[k].1,
                _ => {
                    buckets.push(Bucket {
                        dtype,
                        members: Vec::new(),
                        numel: 0,
                        grads: Vec::new(),
                        ready: 0,
                        send: None,
                        recv: Tensor::zeros_dtype(&[0], dtype),
                        request: None,
                    });
                    let b = buckets.len() - 1;
                    match current {
                        Some(k) => open[k].1 = b,
                        None => open.push((dtype, b)),
                    }
                    b
                }
            };
            let bucket = &mut buckets[b];
            slot[i] = (b, bucket.members.len());
            bucket.members.push(i);
            bucket.grads.push(None);
            bucket.numel += numel;
        }
        for b in &mut buckets {
            b.recv = Tensor::zeros_dtype(&[b.numel], b.dtype);
        }
        Reducer {
            params,
            names,
            slot,
            buckets,
            next_launch: 0,
            armed: false,
            sync: true,
            world,
        }
    }

    /// Whether a backward has been half reduced (some gradients in, not all).
    fn pending(&self) -> Vec<&str> {
        if self.buckets.iter().all(|b| b.ready == 0) {
            return Vec::new();
        }
        let mut missing = Vec::new();
        for b in &self.buckets {
            for (k, &i) in b.members.iter().enumerate() {
                if b.grads[k].is_none() {
                    missing.push(self.names[i].as_str());
                }
            }
        }
        missing
    }

    /// The post-accumulate-grad hook of parameter `i`.
    fn mark_ready(&mut self, i: usize, param: &Tensor) {
        if !self.armed {
            return;
        }
        let (b, k) = self.slot[i];
        let grad = param
            .grad()
            .expect("DistributedDataParallel: a post-accumulate-grad hook ran without a grad");
        let bucket = &mut self.buckets[b];
        assert!(
            bucket.grads[k].is_none(),
            "DistributedDataParallel: Expected to mark a variable ready only once. \
             Parameter `{}` received its gradient twice in one backward (reentrant backward, \
             or the model is run twice before backward).",
            self.names[i]
        );
        bucket.grads[k] = Some(grad.reshape(&[grad.numel()]));
        bucket.ready += 1;
        // Start, in order, every bucket that is complete.
        while self.next_launch < self.buckets.len() {
            let bucket = &mut self.buckets[self.next_launch];
            if bucket.ready < bucket.members.len() {
                break;
            }
            let parts: Vec<Tensor> = bucket
                .grads
                .iter()
                .map(|g| g.clone().expect("ready"))
                .collect();
            let send = no_grad(|| crate::cat(&parts, 0));
            // SAFETY: `send` and `recv` stay in the bucket, untouched, until the request
            // is waited for in `finish`.
            let request = unsafe {
                let (s, _) = lend_bytes_mut("DistributedDataParallel", &send);
                let (r, _) = lend_bytes_mut("DistributedDataParallel", &bucket.recv);
                if blocking_buckets() {
                    raw::allreduce(
                        "DistributedDataParallel gradient all_reduce",
                        s.cast(),
                        r.cast(),
                        bucket.numel,
                        bucket.dtype,
                        ReduceOp::Sum,
                    );
                    None
                } else {
                    Some(raw::iallreduce_sum(
                        "DistributedDataParallel gradient all_reduce",
                        s.cast(),
                        r.cast(),
                        bucket.numel,
                        bucket.dtype,
                    ))
                }
            };
            bucket.send = Some(send);
            bucket.request = request;
            self.next_launch += 1;
        }
        // Let MPI progress the reductions in flight.
        for bucket in &mut self.buckets[..self.next_launch] {
            if let Some(r) = bucket.request.as_mut() {
                r.test();
            }
        }
        if self.next_launch == self.buckets.len() {
            self.finish();
        }
    }

    /// Waits for every bucket and writes the averaged gradients.
    fn finish(&mut self) {
        let world = self.world as f64;
        let trace = std::env::var_os("KILN_DDP_TRACE").is_some();
        for bucket in &mut self.buckets {
            let t0 = std::time::Instant::now();
            if let Some(r) = bucket.request.take() {
                r.wait("DistributedDataParallel gradient all_reduce");
            }
            if trace {
                eprintln!(
                    "ddp trace: bucket of {} waited {:?}",
                    bucket.numel,
                    t0.elapsed()
                );
            }
            bucket.send = None;
            let mut offset = 0;
            for (k, &i) in bucket.members.iter().enumerate() {
                let p = &self.params[i];
                let n = p.numel();
                let avg = no_grad(|| {
                    bucket
                        .recv
                        .narrow(0, offset as isize, n)
                        .reshape(p.shape())
                        .div_scalar(world)
                });
                p.set_grad(Some(avg));
                bucket.grads[k] = None;
                offset += n;
            }
            bucket.ready = 0;
        }
        self.next_launch = 0;
        self.armed = false;
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
/// synchronised; hooks are removed when it drops.
pub struct GradientSync {
    reducer: Arc<Mutex<Reducer>>,
    hooks: Vec<RemovableHandle>,
}

impl GradientSync {
    /// Checks that all ranks hold the same model, copies rank 0's parameters and buffers
    /// to every rank and registers the gradient hooks on `module`'s parameters. Collective.
    /// Panics before `init_process_group`.
    pub fn new(module: &dyn Module) -> Result<Self, DistError> {
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
        Ok(GradientSync { reducer, hooks })
    }

    /// Decides whether the next backward synchronises (unless under
    /// [`GradientSync::no_sync`], and if grad mode is on). Panics if the previous
    /// synchronised backward left parameters without a gradient.
    pub fn prepare_forward(&self) {
        let mut r = self.reducer.lock();
        let missing = r.pending();
        assert!(
            missing.is_empty(),
            "DistributedDataParallel: Expected to have finished reduction in the prior \
             iteration before starting a new one. These parameters received no gradient \
             in the last backward: {}",
            missing.join(", ")
        );
        r.armed = r.sync && crate::autograd::is_grad_enabled();
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
        self.reducer
            .lock()
            .buckets
            .iter()
            .map(|b| b.numel)
            .collect()
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
    /// Wraps `module`: checks that all ranks hold the same model, copies rank 0's
    /// parameters and buffers to every rank and registers the gradient hooks. Every rank
    /// must call it (it is collective). Panics before `init_process_group`.
    pub fn new(module: M) -> Result<Self, DistError> {
        let sync = GradientSync::new(&module)?;
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
    /// Runs the model; the next backward synchronises unless under `no_sync`. Panics if
    /// the previous synchronised backward left parameters without a gradient.
    fn forward(&self, input: &Tensor) -> Tensor {
        self.sync.prepare_forward();
        self.module.call(input)
    }

    fn visit_children<'a>(&'a self, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        f("module", &self.module);
    }

    fn type_name(&self) -> String {
        "DistributedDataParallel".into()
    }
}
