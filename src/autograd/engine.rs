//! The backward pass: walks the graph from the outputs in topological order, calling each
//! node's derivative and accumulating gradients into leaves (or into requested inputs).

use super::mode::GradModeGuard;
use crate::tensor::Tensor;
use crate::tensor::graph::{Edge, Node};
use std::collections::HashMap;
use std::sync::Arc;

fn key(n: &Arc<Node>) -> *const Node {
    Arc::as_ptr(n)
}

/// Adds two gradients (differentiably when `create_graph` recording is on).
fn accumulate(old: Option<Tensor>, g: Tensor) -> Tensor {
    match old {
        Some(o) => &o + &g,
        None => g,
    }
}

/// Where gradients end up: leaves' `.grad`, or the slots of `autograd::grad`'s inputs.
enum Sink<'a> {
    LeafGrads,
    Capture {
        inputs: &'a [Tensor],
        slots: Vec<Option<Tensor>>,
    },
}

impl Sink<'_> {
    fn leaf(&mut self, leaf: &Tensor, g: Tensor, create_graph: bool) {
        match self {
            Sink::LeafGrads => {
                let g = if create_graph { g } else { g.detach() };
                let old = leaf.grad();
                leaf.set_grad(Some(accumulate(old, g)));
            }
            Sink::Capture { inputs, slots } => {
                for (i, t) in inputs.iter().enumerate() {
                    if t.same_tensor(leaf) {
                        slots[i] = Some(accumulate(slots[i].take(), g.clone()));
                    }
                }
            }
        }
    }

    fn node(&mut self, node: &Arc<Node>, g: &Tensor) {
        if let Sink::Capture { inputs, slots } = self {
            for (i, t) in inputs.iter().enumerate() {
                if t.grad_fn().is_some_and(|n| Arc::ptr_eq(&n, node)) {
                    slots[i] = Some(g.clone());
                }
            }
        }
    }
}

fn run(roots: Vec<(Tensor, Tensor)>, create_graph: bool, sink: &mut Sink) {
    let _mode = GradModeGuard::new(create_graph);
    let mut grads: HashMap<*const Node, Tensor> = HashMap::new();
    let mut start: Vec<Arc<Node>> = Vec::new();
    for (out, g) in roots {
        assert_eq!(
            out.shape(),
            g.shape(),
            "backward: mismatch in shape: grad_output has a shape of {:?} and output has a shape of {:?}",
            g.shape(),
            out.shape()
        );
        match out.grad_edge() {
            Some(Edge::Node(n)) => {
                let k = key(&n);
                let old = grads.remove(&k);
                grads.insert(k, accumulate(old, g));
                start.push(n);
            }
            Some(Edge::Leaf(t)) => sink.leaf(&t, g, create_graph),
            None => {
                panic!(
                    "backward: element 0 of tensors does not require grad and does not have a grad_fn"
                )
            }
        }
    }
    // Count, for each reachable node, how many edges point at it.
    let mut deps: HashMap<*const Node, usize> = HashMap::new();
    let mut stack: Vec<Arc<Node>> = start.clone();
    let mut seen: HashMap<*const Node, ()> = start.iter().map(|n| (key(n), ())).collect();
    while let Some(n) = stack.pop() {
        for e in n.next.iter().flatten() {
            if let Edge::Node(child) = e {
                *deps.entry(key(child)).or_insert(0) += 1;
                if seen.insert(key(child), ()).is_none() {
                    stack.push(child.clone());
                }
            }
        }
    }
    let mut ready: Vec<Arc<Node>> = Vec::new();
    for n in start {
        if deps.get(&key(&n)).copied().unwrap_or(0) == 0
            && !ready.iter().any(|r| Arc::ptr_eq(r, &n))
        {
            ready.push(n);
        }
    }
    while let Some(node) = ready.pop() {
        let Some(g) = grads.remove(&key(&node)) else {
            continue;
        };
        sink.node(&node, &g);
        if let Some(t) = node.retained.lock().as_ref().and_then(|w| w.upgrade()) {
            let t = Tensor(t);
            let gg = if create_graph { g.clone() } else { g.detach() };
            let old = t.grad();
            t.set_grad(Some(accumulate(old, gg)));
        }
        let needs: Vec<bool> = node.next.iter().map(|e| e.is_some()).collect();
        let input_grads = node.op.backward(&g, &needs);
        for (edge, ig) in node.next.iter().zip(input_grads) {
            let Some(edge) = edge else { continue };
            match (edge, ig) {
                (Edge::Leaf(t), Some(ig)) => sink.leaf(t, ig, create_graph),
                (Edge::Leaf(_), None) => {}
                (Edge::Node(child), ig) => {
                    let k = key(child);
                    // A node that sent no gradient still counts as done for its input.
                    if let Some(ig) = ig {
                        let old = grads.remove(&k);
                        grads.insert(k, accumulate(old, ig));
                    }
                    let d = deps.get_mut(&k).expect("reachable node");
                    *d -= 1;
                    if *d == 0 {
                        ready.push(child.clone());
                    }
                }
            }
        }
    }
}

impl Tensor {
    /// Computes the gradient of this one-element tensor with respect to every leaf that
    /// requires grad, accumulating into their `.grad` (`loss.backward()`).
    pub fn backward(&self) {
        assert!(
            self.numel() == 1,
            "backward: grad can be implicitly created only for scalar outputs (got shape {:?})",
            self.shape()
        );
        self.backward_with(&self.ones_like());
    }

    /// Backward from a non-scalar output with an explicit output gradient
    /// (`y.backward(gradient=g)`).
    pub fn backward_with(&self, grad: &Tensor) {
        run(
            vec![(self.clone(), grad.detach())],
            false,
            &mut Sink::LeafGrads,
        );
    }

    /// Backward that records its own computation, so the resulting `.grad`s are
    /// differentiable (`backward(create_graph=True)`).
    pub fn backward_create_graph(&self) {
        run(
            vec![(self.clone(), self.ones_like())],
            true,
            &mut Sink::LeafGrads,
        );
    }
}

/// Gradients of `outputs` (weighted by `grad_outputs`, ones when `None`) with respect to
/// `inputs`, without touching `.grad` (`torch.autograd.grad`). With `create_graph` the
/// results are themselves differentiable, giving higher-order derivatives.
///
/// Inputs that the outputs do not depend on get `None`.
pub fn grad(
    outputs: &[Tensor],
    inputs: &[Tensor],
    grad_outputs: Option<&[Tensor]>,
    create_graph: bool,
) -> Vec<Option<Tensor>> {
    let roots = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let g = match grad_outputs {
                Some(gs) => gs[i].clone(),
                None => {
                    assert!(
                        o.numel() == 1,
                        "grad: grad can be implicitly created only for scalar outputs"
                    );
                    o.ones_like()
                }
            };
            (o.clone(), g)
        })
        .collect();
    let mut sink = Sink::Capture {
        inputs,
        slots: vec![None; inputs.len()],
    };
    run(roots, create_graph, &mut sink);
    match sink {
        Sink::Capture { slots, .. } => slots,
        Sink::LeafGrads => unreachable!(),
    }
}
