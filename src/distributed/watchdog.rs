//! Stops a process whose collective waits too long, so that a dead peer (or one stuck
//! elsewhere) ends the job with a clear message instead of a hang.
//!
//! MPI's own error handling covers a peer that dies while the launcher (`mpirun`) is
//! watching: it notices the death and terminates the job. The watchdog covers the rest:
//! a peer that hangs, a lost machine whose connection never reports an error. Every
//! blocking MPI call arms it with its name; a thread checks once a second and, past the
//! timeout, prints which collective stalled on which rank and exits the process
//! (without MPI_Finalize, which would wait for the peers too), which makes the launcher
//! stop the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Exit status of a process stopped by the watchdog (EX_SOFTWARE would be ambiguous;
/// 75 is EX_TEMPFAIL: the job may succeed when run again).
pub(crate) const EXIT_CODE: i32 = 75;

/// The timeout in milliseconds.
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// The collective being waited for, and since when.
static ARMED: Mutex<Option<(&'static str, Instant)>> = Mutex::new(None);

/// Sets how long a collective may wait for the other ranks before this process stops
/// (the `timeout` of `torch.distributed.init_process_group`; default 30 s, or
/// `KILN_DIST_TIMEOUT` seconds).
pub fn set_timeout(timeout: Duration) {
    TIMEOUT_MS.store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// The current collective timeout.
pub fn get_timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Disarms on drop.
pub(crate) struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        *ARMED.lock() = None;
    }
}

pub(crate) fn arm(op: &'static str) -> Armed {
    *ARMED.lock() = Some((op, Instant::now()));
    Armed
}

pub(crate) fn start(rank: usize) {
    if let Some(secs) = std::env::var("KILN_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
    {
        set_timeout(Duration::from_secs_f64(secs));
    }
    let spawned = std::thread::Builder::new()
        .name("kiln-dist-watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                let armed = *ARMED.lock();
                if let Some((op, since)) = armed {
                    let waited = since.elapsed();
                    if waited > get_timeout() {
                        eprintln!(
                            "kiln.distributed: rank {rank}: {op} has waited {:.1} s for the other \
                             ranks (timeout {:.1} s): a rank has died or is stuck; stopping this \
                             process (set KILN_DIST_TIMEOUT, in seconds, to wait longer)",
                            waited.as_secs_f64(),
                            get_timeout().as_secs_f64()
                        );
                        // SAFETY: ends the process at once; MPI_Finalize would wait for
                        // the peers this process is giving up on.
                        unsafe { libc::_exit(EXIT_CODE) };
                    }
                }
            }
        });
    spawned.expect("init_process_group: could not start the watchdog thread");
}
