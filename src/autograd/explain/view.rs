//! The graph behind a tensor as plain data, shared by the text trace and the pictures.

use super::formulas::{expression, paren, substitute};
use super::{SMALL, Summary, info, name_of};
use crate::tensor::graph::{Edge, Node};
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// Expressions longer than this are replaced by the node's number.
const MAX_LABEL: usize = 48;

/// What a node of the picture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The tensor the graph was asked for.
    Loss,
    /// A recorded operation.
    Op,
    /// A leaf that requires grad (an input).
    Leaf,
    /// A leaf named as a module parameter.
    Parameter,
}

/// One input of an op.
pub(crate) struct VInput {
    pub label: String,
    /// The node it comes from; `None` for a tensor that does not require grad.
    pub target: Option<usize>,
    pub summary: Option<Summary>,
    /// The gradient the op's derivative sent to it (after a backward).
    pub grad: Option<Tensor>,
}

/// One node: an op, or a leaf.
pub(crate) struct VNode {
    pub kind: Kind,
    /// The op's PyTorch name, or `"leaf"`.
    pub op: &'static str,
    /// The user's name, or the expression the node computes.
    pub label: String,
    /// Whether `label` is a name the user gave.
    pub named: bool,
    /// The expression the op computes over its inputs' labels (empty for leaves).
    pub expr: String,
    pub summary: Option<Summary>,
    pub site: Option<String>,
    pub inputs: Vec<VInput>,
    /// For an op: the gradient that reached its output; for a leaf: its `.grad`.
    pub grad: Option<Tensor>,
    /// The op's scalar attribute (pow's exponent).
    pub p: Option<f64>,
    pub traced: bool,
}

/// The graph, ops in topological order from the root, then the leaves.
pub(crate) struct View {
    pub nodes: Vec<VNode>,
}

fn leaf_key(t: &Tensor) -> usize {
    Arc::as_ptr(&t.0) as usize
}

/// The op nodes reachable from `root`, each before all of its inputs.
fn topo(root: &Arc<Node>) -> Vec<Arc<Node>> {
    let mut order = Vec::new();
    let mut state: HashMap<*const Node, bool> = HashMap::new();
    let mut stack: Vec<(Arc<Node>, usize)> = vec![(root.clone(), 0)];
    state.insert(Arc::as_ptr(root), false);
    while let Some((n, i)) = stack.pop() {
        let next = n
            .next
            .iter()
            .skip(i)
            .enumerate()
            .find_map(|(k, e)| match e {
                Some(Edge::Node(c)) if !state.contains_key(&Arc::as_ptr(c)) => {
                    Some((k + i, c.clone()))
                }
                _ => None,
            });
        match next {
            Some((k, c)) => {
                stack.push((n, k + 1));
                state.insert(Arc::as_ptr(&c), false);
                stack.push((c, 0));
            }
            None => order.push(n),
        }
    }
    order.reverse();
    order
}

impl View {
    pub(crate) fn new(root: &Tensor) -> View {
        let mut nodes = Vec::new();
        let Some(root_node) = root.grad_fn() else {
            let (label, param) = leaf_label(root, 0);
            nodes.push(leaf_node(root, label, param));
            return View { nodes };
        };
        let ops = topo(&root_node);
        let index: HashMap<*const Node, usize> = ops
            .iter()
            .enumerate()
            .map(|(i, n)| (Arc::as_ptr(n), i))
            .collect();
        let mut leaves: Vec<Tensor> = Vec::new();
        let mut leaf_index: HashMap<usize, usize> = HashMap::new();
        for n in &ops {
            for e in n.next.iter().flatten() {
                if let Edge::Leaf(t) = e {
                    leaf_index.entry(leaf_key(t)).or_insert_with(|| {
                        leaves.push(t.shallow_clone());
                        ops.len() + leaves.len() - 1
                    });
                }
            }
        }
        for (i, n) in ops.iter().enumerate() {
            let inf = info(n);
            let inputs = n
                .next
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    let target = match e {
                        Some(Edge::Node(c)) => index.get(&Arc::as_ptr(c)).copied(),
                        Some(Edge::Leaf(t)) => leaf_index.get(&leaf_key(t)).copied(),
                        None => None,
                    };
                    let input = inf.and_then(|f| f.inputs.get(k));
                    let grad = inf.and_then(|f| {
                        f.grads
                            .lock()
                            .as_ref()
                            .and_then(|g| g.inputs.get(k).cloned().flatten())
                    });
                    let label = if target.is_none() {
                        input
                            .map(|x| {
                                name_of(x.tensor.as_ptr())
                                    .map(|(n, _)| n)
                                    .or_else(|| x.name.clone())
                                    .or_else(|| {
                                        x.summary.values.as_ref().map(|v| {
                                            fmt_values(v, &x.summary.shape, x.summary.dtype)
                                        })
                                    })
                                    .unwrap_or_else(|| "c".into())
                            })
                            .unwrap_or_else(|| "c".into())
                    } else {
                        String::new()
                    };
                    VInput {
                        label,
                        target,
                        summary: input.map(|x| x.summary.clone()),
                        grad,
                    }
                })
                .collect();
            let name = inf.and_then(|f| {
                name_of(f.out_tensor.as_ptr()).or_else(|| f.name.lock().clone().map(|n| (n, false)))
            });
            nodes.push(VNode {
                kind: if i == 0 { Kind::Loss } else { Kind::Op },
                op: n.name(),
                named: name.is_some(),
                expr: String::new(),
                label: name.map(|(n, _)| n).unwrap_or_default(),
                summary: inf.map(|f| f.out.clone()),
                site: inf.and_then(|f| f.site.get().map(str::to_string)),
                inputs,
                grad: inf.and_then(|f| f.grads.lock().as_ref().map(|g| g.out.shallow_clone())),
                p: inf.and_then(|f| f.attrs.iter().find(|a| a.0 == "exponent").map(|a| a.1)),
                traced: inf.is_some(),
            });
        }
        for (k, t) in leaves.iter().enumerate() {
            let (label, param) = leaf_label(t, k);
            nodes.push(leaf_node(t, label, param));
        }
        // Labels of inputs come from their nodes; op expressions from their inputs', so
        // walk from the leaves up.
        for i in (0..ops.len()).rev() {
            let labels: Vec<String> = nodes[i]
                .inputs
                .iter()
                .map(|x| match x.target {
                    Some(t) => nodes[t].label.clone(),
                    None => x.label.clone(),
                })
                .collect();
            for (x, l) in nodes[i].inputs.iter_mut().zip(&labels) {
                x.label = l.clone();
            }
            {
                let vars: Vec<(&str, String)> = ["a", "b", "c"]
                    .iter()
                    .zip(&labels)
                    .map(|(k, l)| (*k, paren_in(nodes[i].op, l)))
                    .chain(nodes[i].p.map(|p| ("p", super::formulas::num(p))))
                    .collect();
                let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let e = expression(nodes[i].op)
                    .map(|e| substitute(e, &vars))
                    .filter(|e| e.chars().count() <= MAX_LABEL);
                nodes[i].expr = e.clone().unwrap_or_default();
                if !nodes[i].named {
                    nodes[i].label = e.unwrap_or_else(|| format!("[{i}]"));
                }
            }
        }
        View { nodes }
    }
}

fn leaf_label(t: &Tensor, k: usize) -> (String, bool) {
    name_of(Arc::as_ptr(&t.0)).unwrap_or_else(|| (format!("leaf{k}"), false))
}

fn leaf_node(t: &Tensor, label: String, param: bool) -> VNode {
    VNode {
        kind: if param { Kind::Parameter } else { Kind::Leaf },
        op: "leaf",
        named: true,
        expr: String::new(),
        label,
        summary: Some(Summary::of(t)),
        site: None,
        inputs: Vec::new(),
        grad: t.grad(),
        p: None,
        traced: true,
    }
}

/// One number as PyTorch would print it for the dtype (`-4`, `0.875`).
///
/// Six significant digits for f32 (four more for f64), trailing zeros dropped, so
/// float32 rounding (`0.20000002`) does not hide the number.
pub(crate) fn fmt_num(v: f64, dtype: DType) -> String {
    if !dtype.is_float() || v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits: i32 = if dtype == DType::F64 { 10 } else { 6 };
    let mag = v.abs().log10().floor() as i32;
    if !(-4..=7).contains(&mag) {
        return format!("{v:.4e}");
    }
    let decimals = (digits - 1 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

/// Small values, nested by shape: `-4`, `[-0.45, 0.2]`, `[[-0.025, 0.875]]`.
pub(crate) fn fmt_values(v: &[f64], shape: &[usize], dtype: DType) -> String {
    if shape.is_empty() || (v.len() == 1 && shape.len() == 1) {
        return v.first().map(|&x| fmt_num(x, dtype)).unwrap_or_default();
    }
    fn rec(v: &[f64], shape: &[usize], dtype: DType) -> String {
        if shape.len() <= 1 {
            let items: Vec<String> = v.iter().map(|&x| fmt_num(x, dtype)).collect();
            return format!("[{}]", items.join(", "));
        }
        let step = v.len() / shape[0].max(1);
        let parts: Vec<String> = (0..shape[0])
            .map(|i| rec(&v[i * step..(i + 1) * step], &shape[1..], dtype))
            .collect();
        format!("[{}]", parts.join(", "))
    }
    rec(v, shape, dtype)
}

/// A tensor's values when small, else its norm: `-8`, `[0.1, 0.2]`, `|g| = 0.0123`.
pub(crate) fn fmt_tensor(t: &Tensor) -> String {
    if t.numel() <= SMALL {
        fmt_values(&t.detach().to_vec::<f64>(), t.shape(), t.dtype())
    } else {
        format!("|.| = {:.4e}", norm(t))
    }
}

/// The Euclidean norm of a tensor's elements.
pub(crate) fn norm(t: &Tensor) -> f64 {
    t.detach()
        .to_vec::<f64>()
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
}

/// `[2, 3] float32`.
pub(crate) fn fmt_shape(s: &Summary) -> String {
    format!("{:?} {}", s.shape, dtype_name(s.dtype))
}

/// `float32` (PyTorch's dtype name without `torch.`).
pub(crate) fn dtype_name(d: DType) -> String {
    let s = d.to_string();
    s.strip_prefix("torch.").unwrap_or(&s).to_string()
}

/// An input's label inside the op's expression: a sum needs no parentheses for a
/// product inside it (`w*x + b`).
fn paren_in(op: &str, label: &str) -> String {
    if matches!(op, "AddBackward0" | "SubBackward0") && !label.contains(' ') {
        label.to_string()
    } else {
        paren(label)
    }
}
