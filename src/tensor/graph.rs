//! The record a tensor keeps of the operation that produced it.
//!
//! This is only the data structure; `crate::autograd` walks it and the ops fill it in.

use super::Tensor;
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

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

/// One recorded operation in the dynamic graph.
pub struct Node {
    /// The derivative.
    pub op: Box<dyn Backward>,
    /// One entry per input; `None` for inputs that do not require grad.
    pub next: Vec<Option<Edge>>,
    /// Set by `retain_grad()`: the non-leaf tensor whose `.grad` should be filled.
    pub retained: Mutex<Option<Weak<super::TensorImpl>>>,
}

impl Node {
    /// A node over the given edges.
    pub fn new(op: Box<dyn Backward>, next: Vec<Option<Edge>>) -> Self {
        Node {
            op,
            next,
            retained: Mutex::new(None),
        }
    }
}
