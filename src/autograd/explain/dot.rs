//! The graph in Graphviz's DOT language (as torchviz draws PyTorch's).

use super::view::{Kind, View, dtype_name, fmt_tensor};

/// The fill colour of a node of each kind (shared with the SVG picture).
pub(crate) fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Loss => "#f4a6a6",
        Kind::Op => "#cfe0f7",
        Kind::Leaf => "#fff2a8",
        Kind::Parameter => "#b9e4b9",
    }
}

/// A DOT string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What a node's box says: name or expression, op, shape.
pub(crate) fn node_lines(view: &View, i: usize) -> Vec<String> {
    let n = &view.nodes[i];
    let mut lines = vec![n.label.clone()];
    if n.op != "leaf" {
        lines.push(n.op.to_string());
    }
    if let Some(s) = &n.summary {
        lines.push(format!("{:?} {}", s.shape, dtype_name(s.dtype)));
    }
    if n.op == "leaf"
        && let Some(g) = &n.grad
    {
        lines.push(format!("grad {}", fmt_tensor(g)));
    }
    lines
}

/// Each edge as (input node, consumer node, label): shape, and the gradient after backward.
pub(crate) fn edges(view: &View) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, n) in view.nodes.iter().enumerate() {
        for x in &n.inputs {
            if let Some(t) = x.target {
                let mut label = x
                    .summary
                    .as_ref()
                    .map(|s| format!("{:?}", s.shape))
                    .unwrap_or_default();
                if let Some(g) = &x.grad {
                    if !label.is_empty() {
                        label.push(' ');
                    }
                    label.push_str(&format!("g = {}", fmt_tensor(g)));
                }
                out.push((t, i, label));
            }
        }
    }
    out
}

/// The DOT text: data flows from the leaves to the loss, as torchviz draws it.
pub(crate) fn render(view: &View) -> String {
    let mut s = String::from(
        "digraph backward {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\"];\n",
    );
    for (i, n) in view.nodes.iter().enumerate() {
        s.push_str(&format!(
            "  n{i} [label={}, fillcolor={}];\n",
            quote(&node_lines(view, i).join("\n")),
            quote(colour(n.kind))
        ));
    }
    for (from, to, label) in edges(view) {
        s.push_str(&format!("  n{from} -> n{to} [label={}];\n", quote(&label)));
    }
    s.push_str("}\n");
    s
}
