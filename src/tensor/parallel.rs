//! kiln's fork-join thread pool: the caller works too, helpers spin briefly between jobs.
//!
//! Why not rayon for kernels: a training step is hundreds of small parallel ops a few
//! microseconds apart. rayon parks idle workers and, when called from outside its pool,
//! parks the caller as well, so every op paid a futex wake-up and two context switches
//! (~15% of a batch-64 epoch on the 2-core development VM, and the reason two threads
//! barely beat one). Here the calling thread runs tasks itself, helpers pick up the rest,
//! and a helper keeps spinning for 200 µs after a job before it sleeps, like OpenMP's
//! threads under PyTorch.
//!
//! Several user threads may run parallel kernels at once (a training thread and a
//! data-loader worker): each publishes its job in one of [`SLOTS`] slots, and a helper
//! that wakes up joins the open job with the fewest workers, so concurrent callers
//! share the helpers instead of queueing behind one another. A job started from inside
//! a task (a nested call) runs on its caller alone, which is always correct, as does a
//! job that finds every slot taken.

use parking_lot::{Condvar, Mutex};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle helper spins for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// A task body with its lifetime erased; see [`run_tasks`] for why that is sound.
type TaskFn = *const (dyn Fn(usize) + Sync);

/// One parallel call: tasks `0..tasks` of `f`, claimed by counter.
struct Job {
    f: TaskFn,
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Threads working on it now, the caller included (helpers join the emptiest job).
    workers: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `f` points at a `Sync` closure that outlives every call made through it
// (`run_tasks` returns only after the last task has finished).
unsafe impl Send for Job {}
// SAFETY: as above; the other fields are thread-safe.
unsafe impl Sync for Job {}

impl Job {
    /// Whether some task is still unclaimed.
    fn open(&self) -> bool {
        self.next.load(SeqCst) < self.tasks
    }

    /// Claims and runs tasks until none are left; a panicking task is recorded, not
    /// propagated, so the job still completes.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, SeqCst);
            if i >= self.tasks {
                return;
            }
            // SAFETY: task `i < tasks` was claimed and is not yet done, so the caller of
            // `run_tasks` is still waiting and `f` is alive.
            let f = unsafe { &*self.f };
            let nested = IN_TASK.with(|t| t.replace(true));
            let r = catch_unwind(AssertUnwindSafe(|| f(i)));
            IN_TASK.with(|t| t.set(nested));
            if let Err(p) = r {
                self.panic.lock().get_or_insert(p);
            }
            self.done.fetch_add(1, SeqCst);
        }
    }
}

/// How many jobs may run at once; a job that finds every slot taken runs serially.
const SLOTS: usize = 8;

struct Pool {
    /// Bumped for every published job; helpers spin on it.
    generation: AtomicU64,
    /// The running jobs.
    slots: [Mutex<Option<Arc<Job>>>; SLOTS],
    /// How many slots hold a job (helpers skip the scan when none does).
    active: AtomicUsize,
    /// Threads per job, the caller included.
    threads: AtomicUsize,
    /// Helpers spawned so far (never shrinks; extra ones ignore jobs).
    spawned: Mutex<usize>,
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

thread_local! {
    /// Whether this thread is running a task (then a nested job runs serially).
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        generation: AtomicU64::new(0),
        slots: std::array::from_fn(|_| Mutex::new(None)),
        active: AtomicUsize::new(0),
        threads: AtomicUsize::new(default_threads()),
        spawned: Mutex::new(0),
        sleepers: AtomicUsize::new(0),
        sleep_lock: Mutex::new(()),
        wake: Condvar::new(),
    })
}

/// Most threads the pool takes from the environment (each is a real OS thread).
pub const MAX_ENV_THREADS: usize = 1024;

/// `KILN_NUM_THREADS`, else `RAYON_NUM_THREADS`, else the number of cores. A value that
/// is not a whole number from 1 to [`MAX_ENV_THREADS`] is not silently ignored: a
/// warning on stderr says what is used instead.
fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for key in ["KILN_NUM_THREADS", "RAYON_NUM_THREADS"] {
        let Ok(v) = std::env::var(key) else { continue };
        let (n, why) = parse_threads(&v, cores);
        if let Some(why) = why {
            eprintln!("warning: {key}={v:?} {why}; using {n} thread(s)");
        }
        return n;
    }
    cores
}

/// A thread count from an environment variable, and why it was changed if it was.
fn parse_threads(v: &str, cores: usize) -> (usize, Option<&'static str>) {
    match v.trim().parse::<usize>() {
        Ok(0) => (cores, Some("is not a positive whole number")),
        Ok(n) if n > MAX_ENV_THREADS => (MAX_ENV_THREADS, Some("is above the limit of 1024")),
        Ok(n) => (n, None),
        Err(_) => (cores, Some("is not a positive whole number")),
    }
}

/// The number of threads kiln's kernels use, the calling thread included
/// (`torch.get_num_threads()`).
pub fn num_threads() -> usize {
    pool().threads.load(SeqCst)
}

/// Sets the number of threads kiln's kernels use (`torch.set_num_threads`); at least 1.
pub fn set_num_threads(n: usize) {
    let p = pool();
    p.threads.store(n.max(1), SeqCst);
    // Helpers beyond the new count go back to sleep on their next wake-up.
    let _g = p.sleep_lock.lock();
    p.wake.notify_all();
}

fn ensure_helpers(p: &'static Pool, helpers: usize) {
    let mut spawned = p.spawned.lock();
    while *spawned < helpers {
        let id = *spawned;
        let ok = std::thread::Builder::new()
            .name(format!("kiln-worker-{id}"))
            .spawn(move || helper_loop(p, id))
            .is_ok();
        if !ok {
            return; // Fewer helpers: the caller does more of the work.
        }
        *spawned += 1;
    }
}

/// The open job with the fewest workers, if any.
fn emptiest_job(p: &Pool) -> Option<Arc<Job>> {
    if p.active.load(SeqCst) == 0 {
        return None;
    }
    let mut best: Option<Arc<Job>> = None;
    for slot in &p.slots {
        let Some(job) = slot.lock().as_ref().filter(|j| j.open()).cloned() else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|b| job.workers.load(SeqCst) < b.workers.load(SeqCst))
        {
            best = Some(job);
        }
    }
    best
}

fn helper_loop(p: &'static Pool, id: usize) {
    IN_TASK.with(|t| t.set(true));
    let mut seen = p.generation.load(SeqCst);
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        // Spin while the job counter is unchanged, then sleep until it moves.
        while p.generation.load(SeqCst) == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && start.elapsed() > SPIN {
                p.sleepers.fetch_add(1, SeqCst);
                let mut g = p.sleep_lock.lock();
                while p.generation.load(SeqCst) == seen {
                    p.wake.wait(&mut g);
                }
                drop(g);
                p.sleepers.fetch_sub(1, SeqCst);
            }
        }
        seen = p.generation.load(SeqCst);
        if id + 1 >= p.threads.load(SeqCst) {
            continue; // Not wanted at the current thread count.
        }
        // Help open jobs until none is left; a job published meanwhile moves
        // `generation`, so the spin above cannot miss it.
        while let Some(job) = emptiest_job(p) {
            job.workers.fetch_add(1, SeqCst);
            job.work();
            job.workers.fetch_sub(1, SeqCst);
        }
    }
}

/// Calls `f(i)` for every `i` in `0..tasks`, on the calling thread and the pool's
/// helpers, and returns when all calls have finished. A panic in any task is re-raised
/// here after the others finish. Tasks run in no particular order and may all run on
/// the caller. Any number of threads may call this at once; they share the helpers.
pub fn run_tasks(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let p = pool();
    let threads = p.threads.load(SeqCst);
    if tasks <= 1 || threads <= 1 || IN_TASK.with(|t| t.get()) {
        run_serially(tasks, f);
        return;
    }
    ensure_helpers(p, threads - 1);
    // SAFETY: the lifetime is erased only for the duration of this call; every use of
    // the pointer is a claimed task, and we return only after all tasks are done.
    let erased: TaskFn = unsafe {
        std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f)
    };
    let job = Arc::new(Job {
        f: erased,
        tasks,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        workers: AtomicUsize::new(1),
        panic: Mutex::new(None),
    });
    let Some(slot) = p.slots.iter().find(|s| {
        let mut s = s.lock();
        let free = s.is_none();
        if free {
            *s = Some(Arc::clone(&job));
        }
        free
    }) else {
        run_serially(tasks, f); // Every slot taken: run alone.
        return;
    };
    p.active.fetch_add(1, SeqCst);
    p.generation.fetch_add(1, SeqCst);
    if p.sleepers.load(SeqCst) > 0 {
        let _g = p.sleep_lock.lock();
        p.wake.notify_all();
    }
    job.work();
    let mut spins = 0u32;
    while job.done.load(SeqCst) < tasks {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1024) {
            std::thread::yield_now();
        }
    }
    *slot.lock() = None;
    p.active.fetch_sub(1, SeqCst);
    if let Some(panic) = job.panic.lock().take() {
        resume_unwind(panic);
    }
}

/// Every task on this thread, in order; a panicking task does not stop the rest, and the
/// first panic is raised after them, as on the pool (so the serial fallbacks behave the
/// same as a parallel run).
fn run_serially(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let mut first_panic = None;
    for i in 0..tasks {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i))) {
            first_panic.get_or_insert(p);
        }
    }
    if let Some(p) = first_panic {
        resume_unwind(p);
    }
}

/// A raw pointer that may cross threads; users guarantee disjoint access.
struct SendPtr<T>(*mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(self) -> *mut T {
        self.0
    }
}
// SAFETY: only used for disjoint sub-slices, see `for_each_chunk_mut`.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// Calls `f(index, chunk)` for each `chunk`-sized piece of `data` (the last may be
/// shorter), in parallel.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunk = chunk.max(1);
    let (len, base) = (data.len(), SendPtr(data.as_mut_ptr()));
    run_tasks(len.div_ceil(chunk), &|i| {
        let lo = i * chunk;
        let hi = (lo + chunk).min(len);
        // SAFETY: chunks `lo..hi` of distinct tasks are disjoint and inside `data`,
        // which stays mutably borrowed until `run_tasks` returns.
        let part = unsafe { std::slice::from_raw_parts_mut(base.get().add(lo), hi - lo) };
        f(i, part);
    });
}

/// Builds a `len`-element vector whose `chunk`-sized pieces are written in parallel by
/// `fill(start, piece)`; every element of `piece` must be written.
pub fn fill_vec<U: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<U>]) + Sync,
) -> Vec<U> {
    let mut out = crate::tensor::alloc::vec_with_capacity(len);
    let chunk = chunk.max(1);
    for_each_chunk_mut(&mut out.spare_capacity_mut()[..len], chunk, |i, c| {
        fill(i * chunk, c)
    });
    // SAFETY: the chunks cover `0..len` and `fill` writes every element of its chunk
    // (if it panicked, we never get here and the vector is dropped empty).
    unsafe { out.set_len(len) };
    out
}

/// `f` of each `chunk`-sized piece of `src` (the last may be shorter), in order.
pub fn map_chunks<T: Sync, U: Send>(
    src: &[T],
    chunk: usize,
    f: impl Fn(&[T]) -> U + Sync,
) -> Vec<U> {
    let chunk = chunk.max(1);
    fill_vec(src.len().div_ceil(chunk), 1, |i, out| {
        let lo = i * chunk;
        out[0].write(f(&src[lo..(lo + chunk).min(src.len())]));
    })
}

/// A chunk length that splits `len` elements into a few pieces per thread, each a
/// multiple of `align` elements and at least `min` long.
pub fn chunk_len(len: usize, min: usize, align: usize) -> usize {
    chunk_len_for(len, min, align, num_threads())
}

/// [`chunk_len`] for a given thread count: a pure function, so the split can be tested
/// for any machine. The chunks number at least `min(threads, len / min)` (every thread
/// gets work unless chunks would fall below `min`), and about four per thread when
/// `len` allows, so uneven threads still finish together.
pub fn chunk_len_for(len: usize, min: usize, align: usize, threads: usize) -> usize {
    let pieces = 4 * threads.max(1);
    len.div_ceil(pieces).max(min).next_multiple_of(align.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        let hits: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..50 {
            run_tasks(hits.len(), &|i| {
                hits[i].fetch_add(1, SeqCst);
            });
        }
        assert!(hits.iter().all(|h| h.load(SeqCst) == 50));
    }

    #[test]
    fn chunks_cover_the_slice() {
        let mut v = vec![0usize; 10_007];
        for_each_chunk_mut(&mut v, 1000, |i, c| {
            for (j, x) in c.iter_mut().enumerate() {
                *x = i * 1000 + j;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| i == x));
    }

    #[test]
    fn nested_calls_run_serially() {
        let total = AtomicUsize::new(0);
        run_tasks(4, &|_| {
            run_tasks(4, &|_| {
                total.fetch_add(1, SeqCst);
            });
        });
        assert_eq!(total.load(SeqCst), 16);
    }

    #[test]
    fn a_panicking_task_panics_the_caller_after_the_rest() {
        let ran = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run_tasks(8, &|i| {
                ran.fetch_add(1, SeqCst);
                assert!(i != 3, "task 3 fails");
            })
        }));
        assert!(r.is_err());
        assert_eq!(ran.load(SeqCst), 8);
        // The pool is usable afterwards.
        let n = AtomicUsize::new(0);
        run_tasks(8, &|_| {
            n.fetch_add(1, SeqCst);
        });
        assert_eq!(n.load(SeqCst), 8);
    }

    #[test]
    fn fill_vec_and_map_chunks_keep_order() {
        let v: Vec<usize> = fill_vec(5000, 700, |start, c| {
            for (j, x) in c.iter_mut().enumerate() {
                x.write(start + j);
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| i == x));
        let sums = map_chunks(&v, 1000, |c| c.iter().sum::<usize>());
        assert_eq!(sums.len(), 5);
        assert_eq!(sums.iter().sum::<usize>(), 4999 * 5000 / 2);
        assert_eq!(sums[0], 999 * 1000 / 2);
    }

    #[test]
    fn chunk_plans_use_every_thread_the_work_allows() {
        use crate::tensor::kernels::PAR_THRESHOLD;
        // Elementwise and reduction kernels split above PAR_THRESHOLD elements with
        // chunks of at least PAR_THRESHOLD / 4, 64-aligned (`kernels::par_chunk`); the
        // lengths are MNIST parameters and activations (batch 64 and 256), a conv
        // activation, and large buffers.
        let (min, align) = (PAR_THRESHOLD / 4, 64);
        for len in [
            PAR_THRESHOLD,
            784 * 256,
            256 * 784,
            64 * 32 * 26 * 26,
            256 * 256,
            1 << 20,
            1 << 24,
            (1 << 24) + 7,
        ] {
            for t in 1..=64 {
                let c = chunk_len_for(len, min, align, t);
                let tasks = len.div_ceil(c);
                assert!(
                    c >= min && c.is_multiple_of(align),
                    "len {len} t {t}: chunk {c}"
                );
                assert!(
                    tasks >= t.min(len / min.next_multiple_of(align)),
                    "len {len} on {t} threads: only {tasks} chunks of {c}"
                );
                assert!(
                    tasks <= 4 * t || c == min,
                    "len {len} t {t}: {tasks} chunks"
                );
            }
        }
    }

    #[test]
    fn chunk_len_is_aligned_and_bounded() {
        let c = chunk_len(100_000, 4096, 16);
        assert!(c >= 4096 && c.is_multiple_of(16));
        assert!(100_000usize.div_ceil(c) >= 1);
    }
}
