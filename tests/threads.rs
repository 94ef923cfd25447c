//! Tensors shared between threads: reads, `a op a` and in-place writes mixed on the
//! same buffers must never deadlock. Every test runs its threads under a watchdog that
//! fails the test (instead of hanging CI) if they have not finished in time; the bound
//! is generous (seconds of work, a minute of patience) and is not a timing assertion.

use kiln::Tensor;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long the threads of one test may take before the test is failed as hung.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs each closure on its own thread; fails the test if any panics or if they have
/// not all finished within [`WATCHDOG`] (a deadlock). Hung threads are left behind:
/// the test process exits when the harness has reported.
fn race(name: &str, workers: Vec<Box<dyn FnOnce() + Send>>) {
    let (tx, rx) = mpsc::channel();
    let n = workers.len();
    for (i, w) in workers.into_iter().enumerate() {
        let tx = tx.clone();
        thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(w));
                let _ = tx.send((i, r.is_ok()));
            })
            .expect("spawn");
    }
    for _ in 0..n {
        match rx.recv_timeout(WATCHDOG) {
            Ok((i, ok)) => assert!(ok, "{name}: worker {i} panicked"),
            Err(_) => panic!("{name}: threads still running after {WATCHDOG:?}: deadlock"),
        }
    }
}

/// A tensor big enough that kernels split it across the pool (and hold locks a while).
fn big(v: f32) -> Tensor {
    Tensor::full(&[1 << 16], v as f64)
}

const ROUNDS: usize = 3000;

#[test]
fn square_while_another_thread_writes_in_place() {
    // `&x * &x` reads `x` twice; with a task-fair lock a writer queued between the two
    // reads blocked the second one forever.
    // Small tensors: many rounds, so a writer often lands between the two reads.
    let x = Tensor::full(&[64], 1.0);
    let (x1, x2) = (x.shallow_clone(), x.shallow_clone());
    race(
        "square_vs_write",
        vec![
            Box::new(move || {
                for _ in 0..100 * ROUNDS {
                    let y = &x1 * &x1;
                    assert_eq!(y.numel(), 64);
                }
            }),
            Box::new(move || {
                for _ in 0..100 * ROUNDS {
                    x2.mul_scalar_(1.0);
                }
            }),
        ],
    );
}

#[test]
fn crossed_in_place_adds_do_not_deadlock() {
    // `a.add_(&b)` writes a and reads b while `b.add_(&a)` writes b and reads a: taken
    // in argument order, each thread holds one lock and waits for the other's.
    let (a, b) = (Tensor::zeros(&[64]), Tensor::zeros(&[64]));
    let (a1, b1, a2, b2) = (
        a.shallow_clone(),
        b.shallow_clone(),
        a.shallow_clone(),
        b.shallow_clone(),
    );
    race(
        "crossed_adds",
        vec![
            Box::new(move || {
                for _ in 0..100 * ROUNDS {
                    a1.add_(&b1);
                }
            }),
            Box::new(move || {
                for _ in 0..100 * ROUNDS {
                    b2.add_(&a2);
                }
            }),
        ],
    );
    // Every add read zeros, so both stay zero.
    assert!(a.to_vec::<f32>().iter().all(|&v| v == 0.0));
}

#[test]
fn crossed_copies_do_not_deadlock() {
    let (a, b) = (Tensor::ones(&[64]), Tensor::ones(&[64]));
    let (a1, b1, a2, b2) = (
        a.shallow_clone(),
        b.shallow_clone(),
        a.shallow_clone(),
        b.shallow_clone(),
    );
    race(
        "crossed_copies",
        vec![
            Box::new(move || {
                for _ in 0..100 * ROUNDS {
                    a1.copy_(&b1);
                }
            }),
            Box::new(move || {
                for _ in 0..100 * ROUNDS {
                    b2.copy_(&a2);
                }
            }),
        ],
    );
    assert!(b.to_vec::<f32>().iter().all(|&v| v == 1.0));
}

#[test]
fn self_add_in_place_is_twice() {
    let a = big(1.5);
    a.add_(&a);
    assert!(a.to_vec::<f32>().iter().all(|&v| v == 3.0));
    let v = a.reshape(&[256, 256]);
    v.mul_(&v.transpose(0, 1));
    assert!(a.to_vec::<f32>().iter().all(|&v| v == 9.0));
}

#[test]
fn many_threads_mixing_reads_self_ops_and_writes() {
    // Several shared tensors, each thread mixing out-of-place reads (`a op a`, `a op b`,
    // reductions, products) with in-place writes on the same tensors, in both orders.
    let ts: Vec<Tensor> = (0..3).map(|i| big(i as f32)).collect();
    let mats: Vec<Tensor> = (0..2)
        .map(|i| Tensor::full(&[128, 128], i as f64 + 1.0))
        .collect();
    let workers: Vec<Box<dyn FnOnce() + Send>> = (0..6)
        .map(|w| {
            let ts = ts.clone();
            let mats = mats.clone();
            Box::new(move || {
                for r in 0..ROUNDS / 2 {
                    let (a, b) = (&ts[(w + r) % 3], &ts[(w + 2 * r + 1) % 3]);
                    let (m, n) = (&mats[w % 2], &mats[(w + 1) % 2]);
                    match (w + r) % 8 {
                        0 => drop(a * a),
                        1 => drop(a + b),
                        2 => drop(a.sum()),
                        3 => {
                            a.mul_scalar_(1.0);
                        }
                        4 => {
                            a.add_(b).sub_(b);
                        }
                        5 => {
                            a.copy_(&a.shallow_clone());
                        }
                        6 => {
                            drop(m.matmul(n));
                            drop(m.matmul(m));
                        }
                        _ => {
                            m.mul_scalar_(1.0);
                            n.copy_(&n.shallow_clone());
                        }
                    }
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    race("mixed", workers);
}

/// Waits (bounded, not timed: the test asserts on what happened) until `done()`.
fn wait_until(done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() && start.elapsed() < Duration::from_secs(30) {
        thread::yield_now();
    }
}

#[test]
fn a_second_callers_job_does_not_make_the_first_serial() {
    use kiln::tensor::parallel::{run_tasks, set_num_threads};
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    set_num_threads(4);
    // A data-loader-like thread holds a parallel job open (its tasks wait)...
    let (held, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        s.spawn(|| {
            run_tasks(2, &|_| {
                held.store(true, SeqCst);
                wait_until(|| release.load(SeqCst));
            })
        });
        wait_until(|| held.load(SeqCst));
        // ...while the training thread runs its own: its tasks wait for a second thread
        // to join, which never happened when the pool served one job at a time.
        let ran_on = Mutex::new(HashSet::new());
        run_tasks(8, &|_| {
            ran_on.lock().unwrap().insert(thread::current().id());
            wait_until(|| ran_on.lock().unwrap().len() >= 2);
        });
        release.store(true, SeqCst);
        let threads = ran_on.lock().unwrap().len();
        assert!(
            threads >= 2,
            "the training thread's job ran on {threads} thread while another job was open"
        );
    });
}
