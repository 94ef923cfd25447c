//! See backpropagation: the graph behind a tensor as a chain-rule trace (text), as a
//! picture (DOT, SVG), and anomaly detection for NaN/Inf gradients.
//!
//! ```
//! use kiln::autograd::explain;
//! use kiln::tensor;
//! let w = tensor(&[1.0]).requires_grad_(true);
//! let b = tensor(&[0.0]).requires_grad_(true);
//! let (x, y) = (tensor(&[2.0]), tensor(&[4.0]));
//! explain::name(&w, "w");
//! explain::name(&b, "b");
//! explain::name(&x, "x");
//! explain::name(&y, "y");
//! let loss = explain::trace(|| {
//!     let y_pred = &w * &x + &b;
//!     explain::name(&y_pred, "y_pred");
//!     (&y_pred - &y).pow_scalar(2.0)
//! });
//! loss.backward();
//! let text = explain::explain(&loss).to_string();
//! assert!(text.contains("dL/dw = dL/d(w*x) * x = -8"));
//! ```
//!
//! **What it costs when off.** Every node has one empty slot for what is recorded here.
//! Recording an op checks one thread-local flag; the backward engine checks that slot and
//! the same flag once per node. Nothing else runs unless [`trace`] or [`detect_anomaly`]
//! is on.
//!
//! **Creation sites.** While a mode is on, `record` captures a
//! [`std::backtrace::Backtrace`] (unresolved: cheap). It is resolved only when a trace or
//! an anomaly report asks for it, to the first frame outside kiln's own `src/`, the
//! Rust standard library and registry crates: the line of the user's forward code that
//! made the op, even when it went through `Linear::forward` or `mse_loss`. The path is
//! shown relative to the kiln crate or the current directory. Line numbers need debug
//! line tables (kiln's dev and release profiles keep them).
//!
//! **Gradients on edges.** A traced node keeps the gradient that reached it and the ones
//! its derivative sent to each input (detached copies), captured by the engine's observer
//! call after the derivative runs; [`Explain`] shows them after `backward()`.

mod anomaly;
mod dot;
mod formulas;
mod site;
mod svg;
mod trace;
mod view;

pub use anomaly::{detect_anomaly, is_anomaly_enabled, set_detect_anomaly};
pub use formulas::{expression, local_derivatives};
pub use trace::Explain;

use crate::tensor::graph::Node;
use crate::tensor::{DType, Tensor, TensorImpl};
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Weak};

pub(crate) const TRACE: u8 = 1;
pub(crate) const ANOMALY: u8 = 2;
/// Tensors with at most this many elements show their values in a trace.
pub(crate) const SMALL: usize = 8;

thread_local! {
    static MODE: Cell<u8> = const { Cell::new(0) };
    /// Scalar attributes an op noted for the node it is about to record.
    static PENDING: RefCell<Vec<(usize, &'static str, f64)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn mode() -> u8 {
    MODE.with(|m| m.get())
}

/// Sets or clears a mode bit on this thread; returns whether it was set.
pub(crate) fn set_mode(bit: u8, on: bool) -> bool {
    MODE.with(|m| {
        let prev = m.get();
        m.set(if on { prev | bit } else { prev & !bit });
        prev & bit != 0
    })
}

/// Restores a mode bit when dropped.
pub(crate) struct ModeGuard {
    bit: u8,
    prev: bool,
}

impl ModeGuard {
    pub(crate) fn new(bit: u8, on: bool) -> Self {
        ModeGuard {
            bit,
            prev: set_mode(bit, on),
        }
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        set_mode(self.bit, self.prev);
    }
}

/// Runs `f` with tracing on: every op it records keeps its output shape and dtype, small
/// values, its creation site and (after a backward) the gradients on its edges, for
/// [`explain`] and the pictures.
pub fn trace<R>(f: impl FnOnce() -> R) -> R {
    let _g = ModeGuard::new(TRACE, true);
    f()
}

/// Whether ops recorded now on this thread are traced.
pub fn is_tracing() -> bool {
    mode() & TRACE != 0
}

/// The graph behind `root` as text (`Display`), DOT or SVG; see [`Explain`].
pub fn explain(root: &Tensor) -> Explain {
    Explain::new(root)
}

/// A short summary of a tensor kept by a traced node.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// The elements (as f64) when the tensor is small.
    pub values: Option<Vec<f64>>,
}

impl Summary {
    pub(crate) fn of(t: &Tensor) -> Self {
        Summary {
            shape: t.size().to_vec(),
            dtype: t.dtype(),
            values: (t.numel() <= SMALL).then(|| t.detach().to_vec::<f64>()),
        }
    }
}

/// One recorded input of a traced node.
pub(crate) struct InputInfo {
    pub tensor: Weak<TensorImpl>,
    /// Its name when the op was recorded (the tensor may be gone by the time of a trace).
    pub name: Option<String>,
    pub summary: Summary,
}

/// Gradients captured by the engine's observer.
pub(crate) struct Grads {
    /// The gradient that reached the node's output.
    pub out: Tensor,
    /// What its derivative sent to each input.
    pub inputs: Vec<Option<Tensor>>,
}

/// What a traced node keeps.
pub(crate) struct NodeInfo {
    pub out_tensor: Weak<TensorImpl>,
    pub out: Summary,
    pub inputs: Vec<InputInfo>,
    pub attrs: Vec<(&'static str, f64)>,
    pub site: site::Site,
    pub grads: Mutex<Option<Grads>>,
    /// A name given to the output with [`name`] (kept after the output is dropped).
    pub name: Mutex<Option<String>>,
}

/// The trace data of a node, if it was recorded in a mode.
pub(crate) fn info(node: &Node) -> Option<&NodeInfo> {
    node.info().and_then(|a| a.downcast_ref::<NodeInfo>())
}

/// Notes a scalar attribute (e.g. `pow`'s exponent) for the node about to be recorded
/// for `out`; free when no mode is on.
pub fn note_scalar(out: &Tensor, attr: &'static str, v: f64) {
    if mode() != 0 {
        let id = Arc::as_ptr(&out.0) as usize;
        PENDING.with(|p| p.borrow_mut().push((id, attr, v)));
    }
}

/// Called by `record` for every node made: one flag check unless a mode is on.
#[inline]
pub(crate) fn on_record(node: &Arc<Node>, out: &Tensor, inputs: &[&Tensor]) {
    if mode() != 0 {
        attach(node, out, inputs);
    }
}

#[cold]
fn attach(node: &Arc<Node>, out: &Tensor, inputs: &[&Tensor]) {
    let id = Arc::as_ptr(&out.0) as usize;
    let attrs = PENDING.with(|p| {
        p.borrow_mut()
            .drain(..)
            .filter(|(i, _, _)| *i == id)
            .map(|(_, a, v)| (a, v))
            .collect()
    });
    let info = NodeInfo {
        out_tensor: Arc::downgrade(&out.0),
        out: Summary::of(out),
        inputs: inputs
            .iter()
            .map(|t| InputInfo {
                tensor: Arc::downgrade(&t.0),
                name: name_of(Arc::as_ptr(&t.0)).map(|(n, _)| n),
                summary: Summary::of(t),
            })
            .collect(),
        attrs,
        site: site::Site::capture(),
        grads: Mutex::new(None),
        name: Mutex::new(None),
    };
    node.set_info(Box::new(info));
}

/// Called by the engine after a node's derivative ran: captures the gradients of traced
/// nodes and, in anomaly mode, checks them.
#[inline]
pub(crate) fn observe(node: &Arc<Node>, g: &Tensor, input_grads: &[Option<Tensor>]) {
    let info = info(node);
    let anomaly = mode() & ANOMALY != 0;
    if info.is_some() || anomaly {
        observe_slow(node, info, anomaly, g, input_grads);
    }
}

#[cold]
fn observe_slow(
    node: &Node,
    info: Option<&NodeInfo>,
    anomaly: bool,
    g: &Tensor,
    input_grads: &[Option<Tensor>],
) {
    if anomaly {
        anomaly::check(node, info, input_grads);
    }
    if let Some(info) = info {
        *info.grads.lock() = Some(Grads {
            out: g.detach(),
            inputs: input_grads
                .iter()
                .map(|g| g.as_ref().map(|g| g.detach()))
                .collect(),
        });
    }
}

/// A name given with [`name`] or [`name_parameters`].
struct Named {
    tensor: Weak<TensorImpl>,
    name: String,
    parameter: bool,
}

static NAMES: Mutex<Vec<Named>> = Mutex::new(Vec::new());

fn set_name(t: &Tensor, name: &str, parameter: bool) {
    let mut names = NAMES.lock();
    names.retain(|n| n.tensor.strong_count() > 0 && !std::ptr::eq(n.tensor.as_ptr(), &*t.0));
    names.push(Named {
        tensor: Arc::downgrade(&t.0),
        name: name.to_string(),
        parameter,
    });
}

/// Names a tensor in traces and pictures (`y_pred`, `w`); the name lives as long as the
/// tensor.
pub fn name(t: &Tensor, name: &str) {
    set_name(t, name, false);
    if let Some(node) = t.grad_fn()
        && let Some(info) = info(&node)
    {
        *info.name.lock() = Some(name.to_string());
    }
}

/// Names a module's parameters (`module.named_parameters()`), shown as parameters.
pub fn name_parameters(named: impl IntoIterator<Item = (String, Tensor)>) {
    for (n, t) in named {
        set_name(&t, &n, true);
    }
}

/// The name of a tensor given by address (and whether it is a named parameter).
pub(crate) fn name_of(ptr: *const TensorImpl) -> Option<(String, bool)> {
    NAMES
        .lock()
        .iter()
        .find(|n| std::ptr::eq(n.tensor.as_ptr(), ptr) && n.tensor.strong_count() > 0)
        .map(|n| (n.name.clone(), n.parameter))
}
