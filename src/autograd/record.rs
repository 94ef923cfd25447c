//! Recording an op into the graph, and saving tensors for its backward.

use super::mode::is_grad_enabled;
use crate::tensor::Tensor;
use crate::tensor::graph::{Backward, Node};
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    /// How many [`Saved`] handles this thread has made: `record` compares it before and
    /// after `make` to learn whether the derivative keeps saved tensors.
    static SAVED_MADE: Cell<u64> = const { Cell::new(0) };
}

/// A backward built from a closure: the op's derivative written next to its forward.
pub struct FnBackward<F> {
    name: &'static str,
    f: F,
}

impl<F> Backward for FnBackward<F>
where
    F: Fn(&Tensor, &[bool]) -> Vec<Option<Tensor>> + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
        (self.f)(grad, needs)
    }
}

/// Whether an op on these inputs must be recorded.
pub fn needs_record(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// Attaches `backward` to `out` if grad mode is on and any input requires grad.
///
/// `make` is only called when recording, so saved tensors cost nothing under `no_grad`:
/// everything the derivative keeps (inputs as [`Saved`], shapes) belongs inside it.
/// A derivative that keeps any [`Saved`] made in `make` is dropped after a backward
/// without `retain_graph`, freeing them; one that keeps none can be run again.
pub fn record<F>(
    out: Tensor,
    inputs: &[&Tensor],
    name: &'static str,
    make: impl FnOnce() -> F,
) -> Tensor
where
    F: Fn(&Tensor, &[bool]) -> Vec<Option<Tensor>> + Send + Sync + 'static,
{
    record_out(out, inputs, name, |_| make())
}

/// [`record`] for derivatives that need the op's output: `make` gets it (to keep with
/// [`Saved::data`]), and still runs only when recording.
pub fn record_out<F>(
    out: Tensor,
    inputs: &[&Tensor],
    name: &'static str,
    make: impl FnOnce(&Tensor) -> F,
) -> Tensor
where
    F: Fn(&Tensor, &[bool]) -> Vec<Option<Tensor>> + Send + Sync + 'static,
{
    if !needs_record(inputs) {
        return out;
    }
    let next = inputs.iter().map(|t| t.grad_edge()).collect();
    let before = SAVED_MADE.with(|c| c.get());
    let f = make(&out);
    let saves = SAVED_MADE.with(|c| c.get()) != before;
    let op: Box<dyn Backward> = Box::new(FnBackward { name, f });
    let node = if saves {
        Node::releasing(op, next)
    } else {
        Node::new(op, next)
    };
    let node = Arc::new(node);
    super::explain::on_record(&node, &out, inputs);
    out.set_grad_fn(node);
    out
}

/// A tensor kept for backward, with the storage version it had when saved.
///
/// Reading it after an in-place change panics, as PyTorch does, instead of giving a
/// silently wrong gradient.
///
/// Make it inside `record`'s `make` closure: that is what marks the node as keeping saved
/// tensors, so a backward without `retain_graph` frees them (by dropping the derivative
/// that owns this handle), and under `no_grad` nothing is saved at all.
#[derive(Clone)]
pub struct Saved {
    tensor: Tensor,
    version: u64,
}

impl Saved {
    /// Saves `t` (keeping its graph, so higher-order gradients flow through it).
    pub fn new(t: &Tensor) -> Self {
        SAVED_MADE.with(|c| c.set(c.get() + 1));
        Saved {
            tensor: t.shallow_clone(),
            version: t.storage().version(),
        }
    }

    /// Saves the data of `t` only (for op outputs: keeping their graph would be a cycle).
    pub fn data(t: &Tensor) -> Self {
        SAVED_MADE.with(|c| c.set(c.get() + 1));
        Saved {
            tensor: t.detach(),
            version: t.storage().version(),
        }
    }

    /// The saved tensor; panics if it was modified in place since.
    pub fn get(&self) -> &Tensor {
        let now = self.tensor.storage().version();
        assert!(
            now == self.version,
            "one of the variables needed for gradient computation has been modified by an \
             inplace operation: [{}, shape {:?}] is at version {now}; expected version {} instead",
            self.tensor.dtype(),
            self.tensor.shape(),
            self.version
        );
        &self.tensor
    }
}
