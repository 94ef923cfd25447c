//! The backward pass: walks the graph from the outputs in topological order, calling each
//! node's derivative and accumulating gradients into leaves (or into requested inputs).
//!
//! The walk is iterative (explicit stacks, no recursion), so a graph of any depth runs on
//! any thread's stack. Leaves are treated like nodes: a leaf's gradient is summed over all
//! its uses first, then its hooks run once and `.grad` is accumulated once, as PyTorch's
//! `AccumulateGrad` does.

use super::mode::GradModeGuard;
use crate::tensor::graph::{Edge, Node};
use crate::tensor::hooks::{run_grad_hooks, snapshot};
use crate::tensor::{Tensor, TensorImpl};
use std::collections::HashMap;
use std::sync::Arc;

fn key(n: &Arc<Node>) -> *const Node {
    Arc::as_ptr(n)
}

fn leaf_key(t: &Tensor) -> *const TensorImpl {
    Arc::as_ptr(&t.0)
}

/// Adds two gradients (differentiably when `create_graph` recording is on).
fn accumulate(old: Option<Tensor>, g: Tensor) -> Tensor {
    match old {
        Some(o) => &o + &g,
        None => g,
    }
}

/// A tensor's `.grad` once a backward adds `g` to it, as PyTorch's `AccumulateGrad`:
/// - no gradient yet: `g` itself when it is contiguous and nothing else refers to its
///   buffer, else a contiguous copy. So `.grad` is never an expanded view (after
///   `x.sum().backward()` the incoming gradient is a stride-0 view, whose elements are
///   one memory cell: an in-place `grad.mul_(c)` would scale that cell once per
///   element) nor an alias of a tensor someone still holds.
/// - first order, a gradient already: added in place (`variable_grad += new_grad`), no
///   new buffer per accumulation; out of place when the old one is not a plain dense
///   tensor (a view, or recorded by an earlier `create_graph` backward).
/// - under `create_graph`: `old + g`, recorded.
fn accumulate_grad(old: Option<Tensor>, g: Tensor, create_graph: bool) -> Tensor {
    match old {
        None if g.is_contiguous()
            && Arc::strong_count(&g.0) == 1
            && g.storage().handle_count() == 1 =>
        {
            g
        }
        None => g.clone(),
        Some(o)
            if !create_graph
                && !o.requires_grad()
                && o.is_contiguous()
                && o.shape() == g.shape()
                && o.dtype() == g.dtype() =>
        {
            o.add_(&g);
            o
        }
        Some(o) => &o + &g,
    }
}

/// PyTorch's keyword arguments of `tensor.backward(...)` and `torch.autograd.grad(...)`.
///
/// `retain_graph` defaults to `create_graph`, as in PyTorch: without it, each node's saved
/// tensors are freed once its derivative has run, and a second backward through the same
/// graph panics ("Trying to backward through the graph a second time ...").
///
/// ```
/// use kiln::autograd::BackwardOptions;
/// use kiln::tensor;
/// let x = tensor(&[3.0]).requires_grad_(true);
/// let y = (&x * &x).sum();
/// y.backward_with_options(None, BackwardOptions::new().retain_graph(true));
/// y.backward(); // the graph was kept, so a second backward works
/// assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![12.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackwardOptions {
    retain_graph: Option<bool>,
    create_graph: bool,
}

impl BackwardOptions {
    /// PyTorch's defaults: `retain_graph=None` (so false), `create_graph=False`.
    pub fn new() -> Self {
        BackwardOptions::default()
    }

    /// Keeps the saved tensors so the graph can be backwarded through again
    /// (`retain_graph=True`).
    pub fn retain_graph(mut self, on: bool) -> Self {
        self.retain_graph = Some(on);
        self
    }

    /// Records the backward itself, so gradients are differentiable (`create_graph=True`);
    /// also retains the graph unless `retain_graph(false)` says otherwise.
    pub fn create_graph(mut self, on: bool) -> Self {
        self.create_graph = on;
        self
    }

    /// Whether the graph is kept: `retain_graph`, defaulting to `create_graph`.
    pub fn retains_graph(&self) -> bool {
        self.retain_graph.unwrap_or(self.create_graph)
    }

    /// Whether the backward is recorded.
    pub fn creates_graph(&self) -> bool {
        self.create_graph
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
    /// A leaf's gradient, summed over all its uses.
    fn leaf(&mut self, leaf: &Tensor, g: Tensor, create_graph: bool) {
        match self {
            Sink::LeafGrads => {
                let g = leaf_hooks(leaf, g);
                let g = if create_graph { g } else { g.detach() };
                let old = leaf.grad();
                leaf.set_grad(Some(accumulate_grad(old, g, create_graph)));
                if let Some(m) = leaf.0.meta() {
                    for h in snapshot(&m.post_accumulate_hooks) {
                        h(leaf);
                    }
                }
            }
            Sink::Capture { inputs, slots } => {
                // As in PyTorch, only the requested leaves' hooks run.
                if !inputs.iter().any(|t| t.same_tensor(leaf)) {
                    return;
                }
                let g = leaf_hooks(leaf, g);
                for (i, t) in inputs.iter().enumerate() {
                    if t.same_tensor(leaf) {
                        slots[i] = Some(accumulate(slots[i].take(), g.shallow_clone()));
                    }
                }
            }
        }
    }

    fn node(&mut self, node: &Arc<Node>, g: &Tensor) {
        if let Sink::Capture { inputs, slots } = self {
            for (i, t) in inputs.iter().enumerate() {
                if t.grad_fn().is_some_and(|n| Arc::ptr_eq(&n, node)) {
                    slots[i] = Some(g.shallow_clone());
                }
            }
        }
    }
}

fn leaf_hooks(leaf: &Tensor, g: Tensor) -> Tensor {
    match leaf.0.meta() {
        Some(m) => run_grad_hooks(&m.hooks, g),
        None => g,
    }
}

/// The walk's state: pending gradients and how many uses of each node and leaf are left.
struct Walk {
    grads: HashMap<*const Node, Tensor>,
    deps: HashMap<*const Node, usize>,
    leaf_grads: HashMap<*const TensorImpl, (Tensor, Option<Tensor>)>,
    leaf_deps: HashMap<*const TensorImpl, usize>,
    ready: Vec<Arc<Node>>,
}

impl Walk {
    fn add_leaf_grad(&mut self, t: &Tensor, g: Option<Tensor>) {
        let e = self
            .leaf_grads
            .entry(leaf_key(t))
            .or_insert_with(|| (t.shallow_clone(), None));
        if let Some(g) = g {
            e.1 = Some(accumulate(e.1.take(), g));
        }
    }

    /// One use of leaf `t` is done; when it was the last, its gradient is delivered.
    fn leaf_done(&mut self, t: &Tensor, sink: &mut Sink, create_graph: bool) {
        let k = leaf_key(t);
        let d = self.leaf_deps.get_mut(&k).expect("reachable leaf");
        *d -= 1;
        if *d == 0
            && let Some((leaf, Some(g))) = self.leaf_grads.remove(&k)
        {
            sink.leaf(&leaf, g, create_graph);
        }
    }

    /// Delivers `ig` (if any) along `edge` and marks that use done.
    fn send(&mut self, edge: &Edge, ig: Option<Tensor>, sink: &mut Sink, create_graph: bool) {
        match edge {
            Edge::Leaf(t) => {
                self.add_leaf_grad(t, ig);
                self.leaf_done(t, sink, create_graph);
            }
            Edge::Node(child) => {
                let k = key(child);
                // A node that sent no gradient still counts as done for its input.
                if let Some(ig) = ig {
                    let old = self.grads.remove(&k);
                    self.grads.insert(k, accumulate(old, ig));
                }
                let d = self.deps.get_mut(&k).expect("reachable node");
                *d -= 1;
                if *d == 0 {
                    self.ready.push(child.clone());
                }
            }
        }
    }
}

fn run(roots: Vec<(Tensor, Tensor)>, opts: BackwardOptions, sink: &mut Sink) {
    let (create_graph, retain_graph) = (opts.creates_graph(), opts.retains_graph());
    let _mode = GradModeGuard::new(create_graph);
    let mut w = Walk {
        grads: HashMap::new(),
        deps: HashMap::new(),
        leaf_grads: HashMap::new(),
        leaf_deps: HashMap::new(),
        ready: Vec::new(),
    };
    let mut start: Vec<Arc<Node>> = Vec::new();
    let mut root_leaves: Vec<Tensor> = Vec::new();
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
                let old = w.grads.remove(&k);
                w.grads.insert(k, accumulate(old, g));
                start.push(n);
            }
            Some(Edge::Leaf(t)) => {
                w.add_leaf_grad(&t, Some(g));
                root_leaves.push(t);
            }
            None => {
                panic!(
                    "backward: element 0 of tensors does not require grad and does not have a grad_fn"
                )
            }
        }
    }
    // Count, for each reachable node and leaf, how many edges point at it.
    let mut stack: Vec<Arc<Node>> = start.clone();
    let mut seen: HashMap<*const Node, ()> = start.iter().map(|n| (key(n), ())).collect();
    while let Some(n) = stack.pop() {
        for e in n.next.iter().flatten() {
            match e {
                Edge::Node(child) => {
                    *w.deps.entry(key(child)).or_insert(0) += 1;
                    if seen.insert(key(child), ()).is_none() {
                        stack.push(child.clone());
                    }
                }
                Edge::Leaf(t) => *w.leaf_deps.entry(leaf_key(t)).or_insert(0) += 1,
            }
        }
    }
    drop(seen);
    // A root that is a leaf counts as one more use, done now.
    for t in &root_leaves {
        *w.leaf_deps.entry(leaf_key(t)).or_insert(0) += 1;
    }
    for t in &root_leaves {
        w.leaf_done(t, sink, create_graph);
    }
    for n in start {
        if w.deps.get(&key(&n)).copied().unwrap_or(0) == 0
            && !w.ready.iter().any(|r| Arc::ptr_eq(r, &n))
        {
            w.ready.push(n);
        }
    }
    while let Some(node) = w.ready.pop() {
        let Some(g) = w.grads.remove(&key(&node)) else {
            // No gradient reached this node: its inputs' uses are still done.
            for e in node.next.iter().flatten() {
                w.send(e, None, sink, create_graph);
            }
            continue;
        };
        let g = run_grad_hooks(&node.hooks, g);
        sink.node(&node, &g);
        if let Some(t) = node.retained.lock().as_ref().and_then(|w| w.upgrade()) {
            let t = Tensor(t);
            let gg = if create_graph {
                g.shallow_clone()
            } else {
                g.detach()
            };
            let old = t.grad();
            t.set_grad(Some(accumulate_grad(old, gg, create_graph)));
        }
        let needs: Vec<bool> = node.next.iter().map(|e| e.is_some()).collect();
        let input_grads = node.apply(&g, &needs, retain_graph);
        super::explain::observe(&node, &g, &input_grads);
        drop(g);
        for (edge, ig) in node.next.iter().zip(input_grads) {
            if let Some(edge) = edge {
                w.send(edge, ig, sink, create_graph);
            }
        }
    }
}

impl Tensor {
    /// Computes the gradient of this one-element tensor with respect to every leaf that
    /// requires grad, accumulating into their `.grad` (`loss.backward()`).
    ///
    /// Frees the graph's saved tensors as it goes: a second backward through the same
    /// graph panics, as in PyTorch. Use [`Tensor::backward_retain_graph`] to keep them.
    pub fn backward(&self) {
        self.backward_with_options(None, BackwardOptions::new());
    }

    /// Backward from a non-scalar output with an explicit output gradient
    /// (`y.backward(gradient=g)`).
    pub fn backward_with(&self, grad: &Tensor) {
        self.backward_with_options(Some(grad), BackwardOptions::new());
    }

    /// Backward that keeps the saved tensors, so the graph can be backwarded through
    /// again (`loss.backward(retain_graph=True)`).
    pub fn backward_retain_graph(&self) {
        self.backward_with_options(None, BackwardOptions::new().retain_graph(true));
    }

    /// Backward that records its own computation, so the resulting `.grad`s are
    /// differentiable (`backward(create_graph=True)`); the graph is retained.
    pub fn backward_create_graph(&self) {
        self.backward_with_options(None, BackwardOptions::new().create_graph(true));
    }

    /// Backward with PyTorch's keyword arguments: `grad` is `gradient=` (ones for a
    /// one-element output when `None`), `opts` carries `retain_graph` and `create_graph`
    /// (`tensor.backward(gradient, retain_graph, create_graph)`).
    pub fn backward_with_options(&self, grad: Option<&Tensor>, opts: BackwardOptions) {
        let g = match grad {
            Some(g) => {
                if opts.creates_graph() {
                    g.shallow_clone()
                } else {
                    g.detach()
                }
            }
            None => {
                assert!(
                    self.numel() == 1,
                    "backward: grad can be implicitly created only for scalar outputs (got shape {:?})",
                    self.shape()
                );
                self.ones_like()
            }
        };
        run(vec![(self.shallow_clone(), g)], opts, &mut Sink::LeafGrads);
    }
}

/// Gradients of `outputs` (weighted by `grad_outputs`, ones when `None`) with respect to
/// `inputs`, without touching `.grad` (`torch.autograd.grad`). `outputs` and `inputs` are
/// one tensor (`grad(&loss, &w, None, false)`) or a sequence (`&[y]`, `&[x, w]`, a
/// `Vec`). With `create_graph` the results are themselves differentiable, giving
/// higher-order derivatives; the graph is retained exactly when `create_graph` is set
/// (PyTorch's default `retain_graph`). See [`grad_with_options`] to choose `retain_graph`.
///
/// Inputs that the outputs do not depend on get `None` (PyTorch's `allow_unused=True`);
/// [`Grads::required`] gives plain tensors and refuses a `None` with PyTorch's message.
///
/// ```
/// use kiln::autograd::grad;
/// let w = kiln::tensor(&[2.0f32]).requires_grad_(true);
/// let loss = (&w * &w).sum();
/// let g = grad(&loss, &w, None, false);
/// assert_eq!(g.to_string(), "(tensor([4.]),)");
/// ```
pub fn grad(
    outputs: impl TensorList,
    inputs: impl TensorList,
    grad_outputs: Option<&[Tensor]>,
    create_graph: bool,
) -> Grads {
    grad_with_options(
        outputs,
        inputs,
        grad_outputs,
        BackwardOptions::new().create_graph(create_graph),
    )
}

/// [`grad`] with PyTorch's `retain_graph` and `create_graph` keyword arguments
/// (`torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph)`).
pub fn grad_with_options(
    outputs: impl TensorList,
    inputs: impl TensorList,
    grad_outputs: Option<&[Tensor]>,
    opts: BackwardOptions,
) -> Grads {
    let (outputs, inputs) = (outputs.handles(), inputs.handles());
    let inputs = &inputs[..];
    let roots = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let g = match grad_outputs {
                Some(gs) => gs[i].shallow_clone(),
                None => {
                    assert!(
                        o.numel() == 1,
                        "grad: grad can be implicitly created only for scalar outputs"
                    );
                    o.ones_like()
                }
            };
            (o.shallow_clone(), g)
        })
        .collect();
    let mut sink = Sink::Capture {
        inputs,
        slots: vec![None; inputs.len()],
    };
    run(roots, opts, &mut sink);
    match sink {
        Sink::Capture { slots, .. } => Grads(slots),
        Sink::LeafGrads => unreachable!(),
    }
}

/// One tensor or a sequence of tensors, as `torch.autograd.grad` takes its `outputs` and
/// `inputs`: a `Tensor`, `[Tensor]`, `[Tensor; N]`, `Vec<Tensor>`, or the same of `&Tensor`,
/// each also by reference.
pub trait TensorList {
    /// Handles on the tensors, in order (shared, not copied).
    fn handles(&self) -> Vec<Tensor>;
}

impl TensorList for Tensor {
    fn handles(&self) -> Vec<Tensor> {
        vec![self.shallow_clone()]
    }
}

impl TensorList for [Tensor] {
    fn handles(&self) -> Vec<Tensor> {
        self.iter().map(Tensor::shallow_clone).collect()
    }
}

impl TensorList for [&Tensor] {
    fn handles(&self) -> Vec<Tensor> {
        self.iter().map(|t| t.shallow_clone()).collect()
    }
}

impl<const N: usize> TensorList for [Tensor; N] {
    fn handles(&self) -> Vec<Tensor> {
        self.as_slice().handles()
    }
}

impl<const N: usize> TensorList for [&Tensor; N] {
    fn handles(&self) -> Vec<Tensor> {
        self.as_slice().handles()
    }
}

impl TensorList for Vec<Tensor> {
    fn handles(&self) -> Vec<Tensor> {
        self.as_slice().handles()
    }
}

impl TensorList for Vec<&Tensor> {
    fn handles(&self) -> Vec<Tensor> {
        self.as_slice().handles()
    }
}

impl<T: TensorList + ?Sized> TensorList for &T {
    fn handles(&self) -> Vec<Tensor> {
        (**self).handles()
    }
}

/// What [`grad`] returns: one gradient per input, `None` for an input the outputs do not
/// depend on. It derefs to `Vec<Option<Tensor>>` (index it, iterate it) and prints as
/// PyTorch prints the tuple `torch.autograd.grad` returns: `(tensor([4.]),)`.
#[derive(Clone, Debug, Default)]
pub struct Grads(pub Vec<Option<Tensor>>);

impl Grads {
    /// The gradients as plain tensors.
    ///
    /// # Panics
    /// If an input was not used in the graph, with PyTorch's message (PyTorch raises it
    /// unless `allow_unused=True`).
    pub fn required(self) -> Vec<Tensor> {
        self.0
            .into_iter()
            .map(|g| {
                g.unwrap_or_else(|| {
                    panic!(
                        "One of the differentiated Tensors appears to not have been used in the \
                         graph. Set allow_unused=True if this is the desired behavior."
                    )
                })
            })
            .collect()
    }

    /// The gradients, `None` for unused inputs.
    pub fn into_vec(self) -> Vec<Option<Tensor>> {
        self.0
    }
}

impl std::ops::Deref for Grads {
    type Target = Vec<Option<Tensor>>;
    fn deref(&self) -> &Vec<Option<Tensor>> {
        &self.0
    }
}

impl std::ops::DerefMut for Grads {
    fn deref_mut(&mut self) -> &mut Vec<Option<Tensor>> {
        &mut self.0
    }
}

impl IntoIterator for Grads {
    type Item = Option<Tensor>;
    type IntoIter = std::vec::IntoIter<Option<Tensor>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl std::fmt::Display for Grads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|g| g.as_ref().map_or("None".to_string(), |t| t.to_string()))
            .collect();
        match items.len() {
            1 => write!(f, "({},)", items[0]),
            _ => write!(f, "({})", items.join(", ")),
        }
    }
}
