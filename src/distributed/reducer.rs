//! The gradient reducer behind [`super::DistributedDataParallel`]: PyTorch's `Reducer`.
//!
//! Parameters are cut into buckets (reverse order, the first 1 MiB, then `bucket_cap_mb`,
//! 25 MiB by default: PyTorch's assignment after its first-iteration rebuild). Each
//! bucket owns one flat buffer: a parameter's post-accumulate-grad hook copies its
//! gradient into its slot there, so the packing is spread over backward instead of done
//! at the end. A complete bucket is summed across ranks in place (`MPI_IN_PLACE`): on the
//! communication thread while backward goes on, or, for the last bucket, on the training
//! thread itself, since when the last bucket is complete backward has nothing left to
//! overlap with and a hand-off to another thread would only add two wake-ups. As in
//! PyTorch's reducer, the copy into the bucket multiplies by `1 / world size` (one pass
//! for the copy and the scaling), so the sum is the average, which is then copied into
//! `.grad`.
//!
//! With `find_unused_parameters`, the parameters the forward's output does not reach are
//! marked ready at the end of the forward (their slot holds their current `.grad`, or
//! zeros), and after the reductions one more all-reduce of a used-map tells which
//! parameters no rank used: their `.grad` is left as it was, as PyTorch leaves it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::raw::{self, Request};
use super::{ReduceOp, all_reduce, broadcast};
use crate::autograd::no_grad;
use crate::tensor::graph::Edge;
use crate::tensor::kernels::arith::assign_scaled;
use crate::tensor::kernels::comm::lend_bytes_mut;
use crate::tensor::{DType, Tensor, TensorImpl};

/// PyTorch's `_DEFAULT_FIRST_BUCKET_BYTES`: with the default cap, the first bucket (the
/// last layers, whose gradients are ready first) is small so communication starts early.
pub(crate) const FIRST_BUCKET_BYTES: usize = 1 << 20;
/// PyTorch's default `bucket_cap_mb`, 25 MiB.
pub(crate) const BUCKET_BYTES: usize = 25 << 20;

/// PyTorch's `compute_bucket_assignment_by_size` (reducer.cpp) as its bucket rebuild
/// calls it, with the parameters (`members`: dtype and elements) in gradient-ready
/// `order`: one open bucket per dtype; a parameter joins its dtype's bucket, which
/// closes once it holds at least the limit (so a bucket may exceed it by its last
/// member); each dtype's first bucket has `limits[0]`, the next ones `limits[1]`. The
/// buckets come in the order they closed, then the open ones (by dtype, in order of
/// first appearance; PyTorch takes them from a hash map), each listing its members in
/// `order`.
fn bucket_assignment(
    members: &[(DType, usize)],
    order: &[usize],
    limits: [usize; 2],
) -> Vec<Vec<usize>> {
    let mut closed: Vec<Vec<usize>> = Vec::new();
    // Per dtype: the open bucket's members, its bytes and whether one has closed.
    let mut open: Vec<(DType, Vec<usize>, usize, bool)> = Vec::new();
    for &i in order {
        let (dtype, numel) = members[i];
        let k = match open.iter().position(|o| o.0 == dtype) {
            Some(k) => k,
            None => {
                open.push((dtype, Vec::new(), 0, false));
                open.len() - 1
            }
        };
        let acc = &mut open[k];
        acc.1.push(i);
        acc.2 += numel * dtype.size_in_bytes();
        let limit = if acc.3 { limits[1] } else { limits[0] };
        if acc.2 >= limit {
            closed.push(std::mem::take(&mut acc.1));
            acc.2 = 0;
            acc.3 = true;
        }
    }
    closed.extend(open.into_iter().map(|o| o.1).filter(|m| !m.is_empty()));
    closed
}

/// `KILN_DDP_BLOCKING=1`: reduce every bucket on the training thread when it is complete
/// (no overlap with the rest of backward).
fn blocking_buckets() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_DDP_BLOCKING").is_ok_and(|v| v == "1"))
}

/// `KILN_DDP_TRACE=1`: one line per synchronised backward on stderr with where its
/// communication time went.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("KILN_DDP_TRACE").is_some())
}

/// One bucket: a run of parameters of one dtype reduced together.
struct Bucket {
    dtype: DType,
    numel: usize,
    /// The packed gradients; the all-reduce sums them in place.
    flat: Tensor,
    /// A copy of `flat` to send from, for MPI libraries whose `MPI_IN_PLACE` is unknown.
    scratch: Option<Tensor>,
    /// Members whose slot is filled this backward.
    ready: usize,
    members: usize,
    request: Option<Request>,
    /// When the bucket was launched (for the trace).
    launched: Option<Instant>,
}

/// Where the communication time of the synchronised backwards went, summed since the
/// wrapper was made (what PyTorch's DDP logging data reports as comm times).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DdpStats {
    /// Synchronised backwards completed.
    pub backwards: usize,
    /// Copying gradients into the buckets, in the gradient hooks.
    pub copy_in: Duration,
    /// In `MPI_Allreduce` itself, on either thread (the find-unused map included).
    pub allreduce: Duration,
    /// The training thread blocked on buckets reduced by the communication thread.
    pub waited: Duration,
    /// Writing the averages into `.grad`.
    pub copy_out: Duration,
}

/// One synchronised backward's buckets, for `KILN_DDP_TRACE`: (elements, launch to
/// reduced, whether reduced on the training thread).
type StepTrace = Vec<(usize, Duration, bool)>;

pub(crate) struct Reducer {
    params: Vec<Tensor>,
    names: Vec<String>,
    /// Parameter index -> (bucket, offset in the bucket's buffer).
    slot: Vec<(usize, usize)>,
    buckets: Vec<Bucket>,
    /// The next bucket to start: buckets start in index order on every rank.
    next_launch: usize,
    /// Whether this backward synchronises (decided at the forward).
    pub(crate) armed: bool,
    /// Whether forwards outside `no_sync` synchronise.
    pub(crate) sync: bool,
    world: usize,
    find_unused: bool,
    /// Parameters whose slot is filled this backward.
    ready: Vec<bool>,
    /// Parameters that received a gradient since the last synchronised backward
    /// (`no_sync` steps included), for `find_unused_parameters`.
    used: Vec<bool>,
    /// Buffers broadcast from rank 0 before forwards (`broadcast_buffers`).
    buffers: Vec<Tensor>,
    /// PyTorch's `require_forward_param_sync`: whether the last forward synchronised,
    /// so the next one broadcasts the buffers.
    buffers_stale: bool,
    pub(crate) stats: DdpStats,
    /// This backward's copy-in time and buckets (`KILN_DDP_TRACE`).
    step_copy_in: Duration,
    step: StepTrace,
}

impl Reducer {
    pub(crate) fn new(
        params: Vec<Tensor>,
        names: Vec<String>,
        world: usize,
        find_unused: bool,
        buffers: Vec<Tensor>,
        limits: [usize; 2],
    ) -> Self {
        let n = params.len();
        let mut slot = vec![(0, 0); n];
        let order: Vec<usize> = (0..n).rev().collect();
        let members: Vec<(DType, usize)> = params.iter().map(|p| (p.dtype(), p.numel())).collect();
        let assignment = bucket_assignment(&members, &order, limits);
        let mut buckets: Vec<Bucket> = Vec::with_capacity(assignment.len());
        for (b, indices) in assignment.iter().enumerate() {
            let mut numel = 0;
            for &i in indices {
                slot[i] = (b, numel);
                numel += params[i].numel();
            }
            let dtype = params[indices[0]].dtype();
            buckets.push(Bucket {
                dtype,
                numel,
                flat: Tensor::zeros_dtype(&[0], dtype),
                scratch: None,
                ready: 0,
                members: indices.len(),
                request: None,
                launched: None,
            });
        }
        let copy_to_send = raw::in_place().is_none();
        for b in &mut buckets {
            b.flat = Tensor::zeros_dtype(&[b.numel], b.dtype);
            b.scratch = copy_to_send.then(|| Tensor::zeros_dtype(&[b.numel], b.dtype));
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
            find_unused,
            ready: vec![false; n],
            used: vec![false; n],
            buffers,
            buffers_stale: true,
            stats: DdpStats::default(),
            step_copy_in: Duration::ZERO,
            step: Vec::new(),
        }
    }

    /// The elements of each bucket, in launch order.
    pub(crate) fn bucket_sizes(&self) -> Vec<usize> {
        self.buckets.iter().map(|b| b.numel).collect()
    }

    /// The parameters still without a gradient in a backward that has started reducing
    /// (some gradients in, not all); empty otherwise.
    pub(crate) fn pending(&self) -> Vec<&str> {
        if !self.ready.iter().any(|&r| r) {
            return Vec::new();
        }
        (0..self.params.len())
            .filter(|&i| !self.ready[i])
            .map(|i| self.names[i].as_str())
            .collect()
    }

    /// Before a forward: broadcasts rank 0's buffers if the previous forward
    /// synchronised (PyTorch's rule), then decides whether this one does.
    pub(crate) fn prepare_forward(&mut self, broadcast_buffers: bool, arm: bool) {
        if broadcast_buffers && self.buffers_stale {
            self.broadcast_buffers();
        }
        self.armed = arm;
        self.buffers_stale = arm;
    }

    /// Copies rank 0's buffers into every rank's, one broadcast per dtype.
    pub(crate) fn broadcast_buffers(&self) {
        let mut dtypes: Vec<DType> = Vec::new();
        for b in &self.buffers {
            if !dtypes.contains(&b.dtype()) {
                dtypes.push(b.dtype());
            }
        }
        for dtype in dtypes {
            let group: Vec<&Tensor> = self.buffers.iter().filter(|b| b.dtype() == dtype).collect();
            no_grad(|| {
                let parts: Vec<Tensor> = group.iter().map(|b| b.reshape(&[b.numel()])).collect();
                let flat = crate::cat(&parts, 0);
                broadcast(&flat, 0);
                let mut offset = 0;
                for b in group {
                    let n = b.numel();
                    b.copy_(&flat.narrow(0, offset as isize, n).reshape(b.shape()));
                    offset += n;
                }
            });
        }
    }

    /// The post-accumulate-grad hook of parameter `i`.
    pub(crate) fn mark_ready(&mut self, i: usize, param: &Tensor) {
        self.used[i] = true;
        if !self.armed {
            return;
        }
        assert!(
            !self.ready[i],
            "DistributedDataParallel: Expected to mark a variable ready only once. \
             Parameter `{}` received its gradient twice in one backward (reentrant backward, \
             the model run twice before backward, or find_unused_parameters=true with a \
             parameter the forward's output did not reach).",
            self.names[i]
        );
        let grad = param
            .grad()
            .expect("DistributedDataParallel: a post-accumulate-grad hook ran without a grad");
        self.fill(i, Some(&grad));
    }

    /// With `find_unused_parameters`, after a synchronised forward: marks ready every
    /// parameter that `outputs` do not reach (their slot holds their `.grad` or zeros).
    pub(crate) fn mark_unreached(&mut self, outputs: &[&Tensor]) {
        if !self.find_unused || !self.armed {
            return;
        }
        let reached = reachable_leaves(outputs);
        for i in 0..self.params.len() {
            let p = &self.params[i];
            if !self.ready[i] && !reached.contains(&std::sync::Arc::as_ptr(&p.0)) {
                let g = p.grad();
                self.fill(i, g.as_ref());
            }
        }
    }

    /// Writes parameter `i`'s gradient (or zeros) into its slot and starts, in order,
    /// every bucket that is complete.
    fn fill(&mut self, i: usize, grad: Option<&Tensor>) {
        let t0 = Instant::now();
        self.ready[i] = true;
        let (b, offset) = self.slot[i];
        let n = self.params[i].numel();
        let bucket = &mut self.buckets[b];
        no_grad(|| {
            let dst = bucket.flat.narrow(0, offset as isize, n);
            match grad {
                Some(g) if g.dtype().is_float() => {
                    assign_scaled(&dst, &g.reshape(&[n]), 1.0 / self.world as f64)
                }
                Some(g) => {
                    dst.copy_(&g.reshape(&[n]));
                }
                None => {
                    dst.zero_();
                }
            }
        });
        bucket.ready += 1;
        let took = t0.elapsed();
        self.stats.copy_in += took;
        self.step_copy_in += took;
        while self.next_launch < self.buckets.len() {
            let b = self.next_launch;
            if self.buckets[b].ready < self.buckets[b].members {
                break;
            }
            self.next_launch += 1;
            self.launch(b);
        }
        if self.next_launch == self.buckets.len() {
            self.finish();
        }
    }

    /// Starts bucket `b`'s all-reduce: the last bucket (or every one, with
    /// `KILN_DDP_BLOCKING=1`) here, after the ones in flight; the others on the
    /// communication thread.
    fn launch(&mut self, b: usize) {
        let here = b + 1 == self.buckets.len() || blocking_buckets();
        if here {
            for earlier in 0..b {
                self.wait(earlier);
            }
        }
        let bucket = &mut self.buckets[b];
        bucket.launched = Some(Instant::now());
        if let Some(s) = &bucket.scratch {
            no_grad(|| s.copy_(&bucket.flat));
        }
        // SAFETY: `flat` (and `scratch`) belong to the bucket and nothing touches them
        // until the request is waited for (in `finish`, or by a later bucket here).
        unsafe {
            let (recv, _) = lend_bytes_mut("DistributedDataParallel", &bucket.flat);
            let send = match &bucket.scratch {
                Some(s) => lend_bytes_mut("DistributedDataParallel", s)
                    .0
                    .cast_const()
                    .cast(),
                None => raw::in_place().expect("MPI_IN_PLACE"),
            };
            if here {
                let t0 = Instant::now();
                raw::allreduce(
                    "DistributedDataParallel gradient all_reduce",
                    send,
                    recv.cast(),
                    bucket.numel,
                    bucket.dtype,
                    ReduceOp::Sum,
                );
                let took = t0.elapsed();
                self.stats.allreduce += took;
                if tracing() {
                    self.step.push((bucket.numel, took, true));
                }
            } else {
                bucket.request = Some(raw::iallreduce_sum(
                    "DistributedDataParallel gradient all_reduce",
                    send,
                    recv.cast(),
                    bucket.numel,
                    bucket.dtype,
                ));
            }
        }
    }

    /// Waits for bucket `b`'s reduction on the communication thread, if in flight.
    fn wait(&mut self, b: usize) {
        let bucket = &mut self.buckets[b];
        if let Some(r) = bucket.request.take() {
            let t0 = Instant::now();
            self.stats.allreduce += r.wait("DistributedDataParallel gradient all_reduce");
            self.stats.waited += t0.elapsed();
            if tracing() {
                let since = bucket.launched.map_or(Duration::ZERO, |t| t.elapsed());
                self.step.push((bucket.numel, since, false));
            }
        }
    }

    /// Waits for every bucket and writes the averaged gradients.
    fn finish(&mut self) {
        let t_finish = Instant::now();
        for b in 0..self.buckets.len() {
            self.wait(b);
        }
        let t_wait = t_finish.elapsed();
        // Which parameters some rank used: the others keep their `.grad` untouched.
        let used_anywhere = self.find_unused.then(|| {
            let map = Tensor::from_vec(
                self.used.iter().map(|&u| u8::from(u)).collect::<Vec<u8>>(),
                &[self.used.len()],
            );
            let t0 = Instant::now();
            all_reduce(&map, ReduceOp::Max);
            self.stats.allreduce += t0.elapsed();
            map.to_vec::<u8>()
        });
        let t_out = Instant::now();
        for (i, p) in self.params.iter().enumerate() {
            if used_anywhere.as_ref().is_some_and(|u| u[i] == 0) {
                continue;
            }
            let (b, offset) = self.slot[i];
            let avg = self.buckets[b].flat.narrow(0, offset as isize, p.numel());
            // Into the local gradient's own buffer where nothing else shares it, as
            // PyTorch's DDP copies into `.grad`: a fresh tensor per parameter and step
            // would fault its pages in on first touch.
            match p.grad().filter(|g| writable_in_place(g, p)) {
                Some(g) => {
                    no_grad(|| g.reshape(&[p.numel()]).copy_(&avg));
                }
                None => p.set_grad(Some(no_grad(|| avg.reshape(p.shape()).clone()))),
            }
        }
        let copy_out = t_out.elapsed();
        self.stats.copy_out += copy_out;
        self.stats.backwards += 1;
        if tracing() {
            let buckets: Vec<String> = self
                .step
                .iter()
                .map(|(n, total, here)| {
                    let whr = if *here { "here" } else { "comm thread" };
                    format!("{n} elements, {whr}, launch to done {:.0} us", us(*total))
                })
                .collect();
            eprintln!(
                "ddp trace: copy-in {:.0} us; buckets [{}]; waited at the end {:.0} us; \
                 averages out {:.0} us",
                us(self.step_copy_in),
                buckets.join(", "),
                us(t_wait),
                us(copy_out)
            );
        }
        self.step.clear();
        self.step_copy_in = Duration::ZERO;
        for b in &mut self.buckets {
            b.ready = 0;
        }
        self.ready.fill(false);
        self.used.fill(false);
        self.next_launch = 0;
        self.armed = false;
    }
}

/// Whether the averages can be written over `g`, `param`'s local gradient: its own
/// dense buffer (not an expanded view, nor shared with another tensor the user or
/// autograd still holds) of the parameter's shape and type. Autograd hands a leaf the
/// gradient it computed without a copy, so the same tensor can also be another leaf's
/// `.grad` or a `retain_grad` intermediate's: then only the `.grad` slot and `g` itself
/// may hold the handle, as PyTorch's `AccumulateGrad` steals a gradient only when
/// nothing else refers to it.
fn writable_in_place(g: &Tensor, param: &Tensor) -> bool {
    g.shape() == param.shape()
        && g.dtype() == param.dtype()
        && g.is_contiguous()
        && g.storage().handle_count() == 1
        && std::sync::Arc::strong_count(&g.0) == 2
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The leaves (by address) whose gradient the backward of `outputs` reaches.
fn reachable_leaves(outputs: &[&Tensor]) -> HashSet<*const TensorImpl> {
    let mut leaves = HashSet::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<Edge> = outputs.iter().filter_map(|t| t.grad_edge()).collect();
    while let Some(edge) = stack.pop() {
        match edge {
            Edge::Leaf(t) => {
                leaves.insert(std::sync::Arc::as_ptr(&t.0));
            }
            Edge::Node(n) => {
                if seen.insert(std::sync::Arc::as_ptr(&n)) {
                    stack.extend(n.next.iter().flatten().cloned());
                }
            }
        }
    }
    leaves
}
