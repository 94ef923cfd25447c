//! The chain-rule trace: the graph as text, from the loss down to the leaves.

use super::formulas::{chain, local_derivatives, num, paren, substitute};
use super::view::{Kind, View, fmt_shape, fmt_tensor, fmt_values};
use crate::tensor::Tensor;
use std::fmt::{self, Write};

/// The graph behind a tensor, for reading (`Display`: the chain-rule trace) or drawing
/// ([`Explain::dot`], [`Explain::svg`]). Made by [`explain`](super::explain).
///
/// Each op shows its PyTorch name, output shape and dtype, small values, where it was
/// created, and for each input its local derivative and the chain-rule product that
/// gives the gradient sent to it; after `backward()`, with the value of that gradient.
/// Shapes, values and sites are known for ops recorded inside [`trace`](super::trace)
/// (or [`detect_anomaly`](super::detect_anomaly)); names come from
/// [`name`](super::name) and [`name_parameters`](super::name_parameters).
pub struct Explain {
    pub(crate) view: View,
}

impl Explain {
    /// The graph behind `root` as it is now (call again after `backward()` to see the
    /// gradients).
    pub fn new(root: &Tensor) -> Self {
        Explain {
            view: View::new(root),
        }
    }

    /// The graph in Graphviz's DOT language.
    pub fn dot(&self) -> String {
        super::dot::render(&self.view)
    }

    /// The graph as an SVG picture (laid out here: no Graphviz needed).
    pub fn svg(&self) -> String {
        super::svg::render(&self.view)
    }
}

/// `dL/dx`, parenthesised for compound names.
fn d(label: &str) -> String {
    format!("dL/d{}", paren(label))
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = &self.view.nodes;
        let ops = nodes.iter().filter(|n| n.op != "leaf").count();
        let root = &nodes[0];
        writeln!(
            f,
            "Backward graph of L = {} ({} ops, {} leaves), from the loss down to the leaves:",
            root.label,
            ops,
            nodes.len() - ops
        )?;
        if nodes.iter().any(|n| !n.traced) {
            writeln!(
                f,
                "(ops recorded outside kiln::autograd::explain::trace show no shapes, values or sites)"
            )?;
        }
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.op != "leaf") {
            let mut head = format!("[{i}] {}", n.label);
            if n.named && !n.expr.is_empty() {
                write!(head, " = {}", n.expr)?;
            }
            writeln!(f, "\n{head}")?;
            let mut line = format!("    {}", n.op);
            if let Some(s) = &n.summary {
                write!(line, " -> {}", fmt_shape(s))?;
                if let Some(v) = &s.values {
                    write!(line, " = {}", fmt_values(v, &s.shape, s.dtype))?;
                }
            }
            if let Some(site) = &n.site {
                write!(line, ", at {site}")?;
            }
            writeln!(f, "{line}")?;
            let is_root = i == 0
                && n.summary
                    .as_ref()
                    .is_none_or(|s| s.shape.iter().product::<usize>() == 1);
            let g = if is_root {
                "1".to_string()
            } else {
                d(&n.label)
            };
            let locals = local_derivatives(n.op);
            let vars = ["a", "b", "c"];
            for (k, x) in n.inputs.iter().enumerate() {
                let var = vars.get(k).copied().unwrap_or("x");
                let mut line = format!("    input {var}: {}", x.label);
                if let Some(s) = &x.summary {
                    write!(line, ", {}", fmt_shape(s))?;
                }
                match x.target {
                    Some(t) if nodes[t].op == "leaf" => write!(line, ", leaf [{t}]")?,
                    Some(t) => write!(line, ", from [{t}]")?,
                    None => write!(line, ", no grad")?,
                }
                writeln!(f, "{line}")?;
                if x.target.is_none() {
                    continue;
                }
                if let Some(local) = locals.and_then(|l| l.get(k)) {
                    let mut l = format!("      {local}");
                    if let (Some(p), "PowBackward0") = (n.p, n.op) {
                        write!(l, ", p = {}", num(p))?;
                    }
                    writeln!(f, "{l}")?;
                }
                let mut line = format!("      {} = ", d(&x.label));
                if let Some(c) = chain(n.op, k, n.p) {
                    let labels: Vec<String> = n.inputs.iter().map(|y| paren(&y.label)).collect();
                    let mut sub: Vec<(&str, &str)> = vars
                        .iter()
                        .zip(&labels)
                        .map(|(v, l)| (*v, l.as_str()))
                        .collect();
                    let c = if is_root {
                        c.strip_prefix("g * ")
                            .map(str::to_string)
                            .unwrap_or_else(|| c.clone())
                    } else {
                        c
                    };
                    sub.push(("g", g.as_str()));
                    let text = substitute(&c, &sub);
                    write!(line, "{text}")?;
                    if x.grad.is_some() {
                        line.push_str(" = ");
                    }
                }
                if let Some(gr) = &x.grad {
                    line.push_str(&fmt_tensor(gr));
                } else if chain(n.op, k, n.p).is_none() {
                    line.push('?');
                }
                writeln!(f, "{line}")?;
            }
        }
        writeln!(f, "\nleaves:")?;
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.op == "leaf") {
            let mut line = format!("[{i}] {}", n.label);
            if let Some(s) = &n.summary {
                write!(line, ": {}", fmt_shape(s))?;
            }
            line.push_str(if n.kind == Kind::Parameter {
                ", parameter"
            } else {
                ", requires grad"
            });
            if let Some(g) = &n.grad {
                write!(line, ", .grad = {}", fmt_tensor(g))?;
            }
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
