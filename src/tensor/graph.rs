//! The record a tensor keeps of the operation that produced it.
//!
//! This is only the data structure; `crate::autograd` walks it and the ops fill it in.
//!
//! Two properties PyTorch's graph has and this one keeps:
//! - **It frees itself without recursion.** Dropping the last handle on a deep graph (a
//!   million-op chain) would otherwise drop node, saved tensor, node, ... recursively and
//!   overflow the stack. [`Node`]'s `Drop` moves the node's contents onto a thread-local
//!   list instead, drained by a loop in the outermost drop (see [`defer_drop`]).
//! - **Saved tensors are released by backward.** A node whose derivative keeps saved
//!   tensors drops that derivative once it has run (unless `retain_graph`); running it
//!   again panics with PyTorch's message. Nodes that save nothing (e.g. `AddBackward0`)
//!   can run any number of times, as in PyTorch.

use super::Tensor;
use super::hooks::{GradHook, HookVec};
use parking_lot::Mutex;
use std::any::Any;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock, Weak};

/// An operation's derivative: maps the gradient of its output to gradients of its inputs.
pub trait Backward: Send + Sync {
    /// PyTorch's name for the node, e.g. `AddBackward0`.
    fn name(&self) -> &'static str;
    /// Gradients for each input (in the order the inputs were recorded).
    /// `needs[i]` tells whether input `i` wants a gradient; others may be `None`.
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>>;
}

/// Where a gradient flows next: another node, or a leaf tensor that accumulates it.
#[derive(Clone)]
pub enum Edge {
    /// A non-leaf input: its producing node.
    Node(Arc<Node>),
    /// A leaf that requires grad: gradients accumulate into its `.grad`.
    Leaf(Tensor),
}

/// PyTorch's error for running a node whose saved tensors backward already freed.
pub const FREED_GRAPH_MESSAGE: &str = "Trying to backward through the graph a second time (or \
directly access saved tensors after they have already been freed). Saved intermediate values \
of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True \
if you need to backward through the graph a second time or if you need to access saved tensors \
after calling backward.";

/// One recorded operation in the dynamic graph.
pub struct Node {
    name: &'static str,
    /// The derivative; `None` once released by a backward without `retain_graph`.
    op: Mutex<Option<Box<dyn Backward>>>,
    /// Whether the derivative keeps saved tensors (and so is released after it runs).
    releases: bool,
    /// One entry per input; `None` for inputs that do not require grad.
    pub next: Vec<Option<Edge>>,
    /// Set by `retain_grad()`: the non-leaf tensor whose `.grad` should be filled.
    pub retained: Mutex<Option<Weak<super::TensorImpl>>>,
    /// Hooks registered with `register_hook` on the tensor this node produced; they run on
    /// its gradient before the derivative does.
    pub(crate) hooks: HookVec<GradHook>,
    /// What `autograd::explain` records about the node (shapes, creation site, gradients);
    /// set only while its trace or anomaly mode is on, so otherwise one empty slot.
    info: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Node {
    /// A node over the given edges whose derivative is never released: it can be run any
    /// number of times (right for derivatives that keep no saved tensors).
    pub fn new(op: Box<dyn Backward>, next: Vec<Option<Edge>>) -> Self {
        Node::build(op, next, false)
    }

    /// A node whose derivative keeps saved tensors: a backward without `retain_graph`
    /// drops it after running it, freeing them.
    pub fn releasing(op: Box<dyn Backward>, next: Vec<Option<Edge>>) -> Self {
        Node::build(op, next, true)
    }

    fn build(op: Box<dyn Backward>, next: Vec<Option<Edge>>, releases: bool) -> Self {
        Node {
            name: op.name(),
            op: Mutex::new(Some(op)),
            releases,
            next,
            retained: Mutex::new(None),
            hooks: Mutex::new(Vec::new()),
            info: OnceLock::new(),
        }
    }

    /// PyTorch's name for the node, e.g. `MulBackward0` (`tensor.grad_fn.name()`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The explanation data attached by `autograd::explain`, if any.
    pub fn info(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.info.get().map(|b| &**b)
    }

    /// Attaches explanation data (once; later calls are ignored).
    pub fn set_info(&self, info: Box<dyn Any + Send + Sync>) {
        let _ = self.info.set(info);
    }

    /// Whether a backward has freed this node's saved tensors.
    pub fn is_released(&self) -> bool {
        self.op.lock().is_none()
    }

    /// Runs the derivative; without `retain_graph`, a node that keeps saved tensors frees
    /// them afterwards. Panics with PyTorch's message if they were freed already.
    pub fn apply(&self, grad: &Tensor, needs: &[bool], retain_graph: bool) -> Vec<Option<Tensor>> {
        // Held while the derivative runs: it never reaches this node again (the graph has
        // no cycles), and a concurrent backward through the same node waits its turn.
        let mut op = self.op.lock();
        let out = op
            .as_ref()
            .unwrap_or_else(|| panic!("{FREED_GRAPH_MESSAGE}"))
            .backward(grad, needs);
        if self.releases && !retain_graph {
            let freed = op.take();
            drop(op);
            drop(freed);
        }
        out
    }
}

/// What a dropped node owned, whose drop may reach further nodes.
struct Parts {
    _op: Option<Box<dyn Backward>>,
    _next: Vec<Option<Edge>>,
    _hooks: Vec<(u64, Arc<GradHook>)>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let parts = Parts {
            _op: self.op.get_mut().take(),
            _next: std::mem::take(&mut self.next),
            _hooks: std::mem::take(self.hooks.get_mut()),
        };
        defer_drop(parts);
    }
}

thread_local! {
    /// `Some` while a teardown loop runs on this thread: the parts still to drop.
    static TEARDOWN: RefCell<Option<Vec<Parts>>> = const { RefCell::new(None) };
}

/// Ends the teardown (also when a drop panics), so later drops start a fresh loop.
struct TeardownGuard;

impl Drop for TeardownGuard {
    fn drop(&mut self) {
        let rest = TEARDOWN.with(|t| t.borrow_mut().take());
        drop(rest);
    }
}

/// Drops a node's parts without recursion: inside a running teardown they join its list;
/// otherwise this call becomes the teardown and drops list entries until none are left.
/// Whatever path the drop takes (derivative, saved tensor, its `grad_fn`, next node), each
/// node reached only adds to the list, so the stack depth stays constant.
fn defer_drop(parts: Parts) {
    let mut slot = Some(parts);
    let started = TEARDOWN.try_with(|t| {
        let mut t = t.borrow_mut();
        match t.as_mut() {
            Some(list) => {
                list.extend(slot.take());
                false
            }
            None => {
                *t = Some(Vec::new());
                true
            }
        }
    });
    match started {
        Ok(true) => {
            let _guard = TeardownGuard;
            drop(slot.take());
            while let Some(p) = TEARDOWN.with(|t| t.borrow_mut().as_mut().and_then(|l| l.pop())) {
                drop(p);
            }
        }
        // Pushed onto the running teardown.
        Ok(false) => {}
        // The thread is exiting and its list is gone: drop in place.
        Err(_) => drop(slot),
    }
}
