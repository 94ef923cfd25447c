//! Background threads that fetch and collate batches ahead of the training loop.
//!
//! Batch `k` always goes to worker `k % n` and results are handed out strictly in
//! batch order, so what a loader yields never depends on the number of workers or
//! on thread timing. At most `capacity` batches are in flight (queued, being built or
//! finished but not yet taken), which bounds memory and makes the result channel
//! never block a worker.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::{self, JoinHandle};

use super::collate::Collate;
use super::dataset::Dataset;

type Outcome<B> = (usize, thread::Result<B>);

/// A pool of worker threads for one epoch; dropping it stops and joins them.
pub(crate) struct Workers<B> {
    tasks: Vec<Sender<(usize, Vec<usize>)>>,
    results: Option<Receiver<Outcome<B>>>,
    handles: Vec<JoinHandle<()>>,
    done: HashMap<usize, thread::Result<B>>,
}

fn work<D, C>(
    dataset: &D,
    collate: &C,
    tasks: Receiver<(usize, Vec<usize>)>,
    results: SyncSender<Outcome<C::Batch>>,
) where
    D: Dataset + ?Sized,
    C: Collate<D::Item>,
{
    while let Ok((k, indices)) = tasks.recv() {
        let batch = catch_unwind(AssertUnwindSafe(|| collate.fetch(dataset, &indices)));
        if results.send((k, batch)).is_err() {
            break;
        }
    }
}

impl<B: Send + 'static> Workers<B> {
    /// Starts `n` workers that can hold up to `capacity` batches in flight.
    pub(crate) fn spawn<D, C>(dataset: &Arc<D>, collate: &Arc<C>, n: usize, capacity: usize) -> Self
    where
        D: Dataset + ?Sized + 'static,
        C: Collate<D::Item, Batch = B> + 'static,
    {
        let (result_tx, result_rx) = sync_channel(capacity);
        let mut tasks = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for id in 0..n {
            let (task_tx, task_rx) = channel();
            let (dataset, collate, result_tx) =
                (Arc::clone(dataset), Arc::clone(collate), result_tx.clone());
            let handle = thread::Builder::new()
                .name(format!("kiln-loader-{id}"))
                .spawn(move || work(&*dataset, &*collate, task_rx, result_tx))
                .unwrap_or_else(|e| panic!("DataLoader: cannot start worker thread {id}: {e}"));
            tasks.push(task_tx);
            handles.push(handle);
        }
        Workers {
            tasks,
            results: Some(result_rx),
            handles,
            done: HashMap::new(),
        }
    }

    /// Queues batch `k` (the samples at `indices`) on its worker.
    pub(crate) fn submit(&self, k: usize, indices: Vec<usize>) {
        let worker = &self.tasks[k % self.tasks.len()];
        // A send only fails if the worker is gone, which `take` reports.
        let _ = worker.send((k, indices));
    }

    /// Waits for batch `k`; re-raises a panic from the worker that built it.
    pub(crate) fn take(&mut self, k: usize) -> B {
        loop {
            if let Some(outcome) = self.done.remove(&k) {
                return outcome.unwrap_or_else(|payload| resume_unwind(payload));
            }
            let results = self.results.as_ref().expect("results are open until drop");
            match results.recv() {
                Ok((i, outcome)) => {
                    self.done.insert(i, outcome);
                }
                Err(_) => panic!("DataLoader: worker threads exited unexpectedly"),
            }
        }
    }
}

impl<B> Drop for Workers<B> {
    fn drop(&mut self) {
        // Closing the task queues ends the workers' loops; closing the result channel
        // makes a worker that is mid-send give up instead of waiting.
        self.tasks.clear();
        self.results = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
