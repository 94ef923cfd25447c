//! Each node's local derivative as a formula, one line per op (as PyTorch's
//! `derivatives.yaml`): the node name, the expression it computes over its inputs `a`,
//! `b` (`p` is a scalar attribute such as `pow`'s exponent), and one formula per input.
//!
//! A formula `d(expr)/da = rhs` is elementwise: the gradient sent to `a` is
//! `g * rhs`, `g` being the gradient arriving at the node. A formula whose right side
//! uses `g` itself (`dL/da = g @ b^T`) says what is sent to the input directly.

/// (node name, expression, derivative for each input)
type Row = (&'static str, &'static str, &'static [&'static str]);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    ("AddBackward0", "a + b", &["d(a + b)/da = 1", "d(a + b)/db = 1"]),
    ("SubBackward0", "a - b", &["d(a - b)/da = 1", "d(a - b)/db = -1"]),
    ("MulBackward0", "a*b", &["d(a*b)/da = b", "d(a*b)/db = a"]),
    ("DivBackward0", "a/b", &["d(a/b)/da = 1/b", "d(a/b)/db = -a/b^2"]),
    ("PowBackward0", "a^p", &["d(a^p)/da = p*a^(p-1)"]),
    ("PowBackward1", "a^b", &["d(a^b)/da = b*a^(b-1)", "d(a^b)/db = a^b*ln(a)"]),
    ("MinimumBackward0", "minimum(a, b)", &["d(min(a, b))/da = [a < b] (1/2 on ties)", "d(min(a, b))/db = [b < a] (1/2 on ties)"]),
    ("MaximumBackward0", "maximum(a, b)", &["d(max(a, b))/da = [a > b] (1/2 on ties)", "d(max(a, b))/db = [b > a] (1/2 on ties)"]),
    ("NegBackward0", "-a", &["d(-a)/da = -1"]),
    ("ExpBackward0", "exp(a)", &["d(exp(a))/da = exp(a)"]),
    ("LogBackward0", "ln(a)", &["d(ln(a))/da = 1/a"]),
    ("Log1PBackward0", "ln(1 + a)", &["d(ln(1 + a))/da = 1/(1 + a)"]),
    ("SqrtBackward0", "sqrt(a)", &["d(sqrt(a))/da = 1/(2*sqrt(a))"]),
    ("RsqrtBackward0", "rsqrt(a)", &["d(a^-1/2)/da = -a^(-3/2)/2"]),
    ("SinBackward0", "sin(a)", &["d(sin(a))/da = cos(a)"]),
    ("CosBackward0", "cos(a)", &["d(cos(a))/da = -sin(a)"]),
    ("TanhBackward0", "tanh(a)", &["d(tanh(a))/da = 1 - tanh(a)^2"]),
    ("SigmoidBackward0", "sigmoid(a)", &["d(sigmoid(a))/da = sigmoid(a)*(1 - sigmoid(a))"]),
    ("AbsBackward0", "|a|", &["d|a|/da = sign(a)"]),
    ("SignBackward0", "sign(a)", &["d(sign(a))/da = 0"]),
    ("ErfBackward0", "erf(a)", &["d(erf(a))/da = 2/sqrt(pi)*exp(-a^2)"]),
    ("ReluBackward0", "relu(a)", &["d(relu(a))/da = [a > 0]"]),
    ("LeakyReluBackward0", "leaky_relu(a)", &["d(leaky_relu(a))/da = 1 if a > 0 else slope"]),
    ("GeluBackward0", "gelu(a)", &["d(a*Phi(a))/da = Phi(a) + a*phi(a)"]),
    ("SiluBackward0", "silu(a)", &["d(a*sigmoid(a))/da = sigmoid(a)*(1 + a*(1 - sigmoid(a)))"]),
    ("SoftplusBackward0", "softplus(a)", &["d(ln(1 + exp(a)))/da = sigmoid(a)"]),
    ("ClampBackward1", "clamp(a)", &["d(clamp(a))/da = [min < a < max]"]),
    ("SumBackward0", "sum(a)", &["dL/da = g expanded to the input's shape"]),
    ("SumBackward1", "sum(a)", &["dL/da = g expanded to the input's shape"]),
    ("MeanBackward0", "mean(a)", &["dL/da = g/n expanded to the input's shape"]),
    ("MeanBackward1", "mean(a)", &["dL/da = g/n expanded to the input's shape"]),
    ("ProdBackward1", "prod(a)", &["d(prod(a))/da_i = prod(a)/a_i"]),
    ("StdBackward0", "std(a)", &["d(std(a))/da = (a - mean(a))/((n - 1)*std(a))"]),
    ("LinalgVectorNormBackward0", "norm(a)", &["d(||a||)/da = a*|a|^(p-2)/||a||^(p-1)"]),
    ("LogsumexpBackward0", "logsumexp(a)", &["d(logsumexp(a))/da = softmax(a)"]),
    ("SoftmaxBackward0", "softmax(a)", &["dL/da = s*(g - sum(g*s)), s = softmax(a)"]),
    ("LogSoftmaxBackward0", "log_softmax(a)", &["dL/da = g - softmax(a)*sum(g)"]),
    ("MaxBackward0", "max(a)", &["dL/da = g at the maximum (shared on ties), 0 elsewhere"]),
    ("MaxBackward1", "max(a, dim)", &["dL/da = g at each argmax, 0 elsewhere"]),
    ("MinBackward0", "min(a)", &["dL/da = g at the minimum (shared on ties), 0 elsewhere"]),
    ("MinBackward1", "min(a, dim)", &["dL/da = g at each argmin, 0 elsewhere"]),
    ("AmaxBackward0", "amax(a)", &["dL/da = g shared among the maxima"]),
    ("AminBackward0", "amin(a)", &["dL/da = g shared among the minima"]),
    ("MmBackward0", "a @ b", &["dL/da = g @ b^T", "dL/db = a^T @ g"]),
    ("AddmmBackward0", "a @ b^T + c", &["dL/da = g @ b", "dL/db = g^T @ a", "dL/dc = g summed over the batch"]),
    ("ViewBackward0", "view(a)", &["dL/da = g reshaped to the input's shape"]),
    ("ExpandBackward0", "expand(a)", &["dL/da = g summed over the expanded dims"]),
    ("PermuteBackward0", "permute(a)", &["dL/da = g permuted back"]),
    ("UnsqueezeBackward0", "unsqueeze(a)", &["dL/da = g squeezed"]),
    ("SqueezeBackward1", "squeeze(a)", &["dL/da = g unsqueezed"]),
    ("CloneBackward0", "clone(a)", &["d(a)/da = 1"]),
    ("ToCopyBackward0", "a.to(dtype)", &["dL/da = g cast back to a's dtype"]),
    ("SliceBackward0", "a[slice]", &["dL/da = g in the slice, 0 elsewhere"]),
    ("SliceBackwardBackward0", "slice_backward(a)", &["dL/da = g sliced"]),
    ("SelectBackward0", "a[i]", &["dL/da = g at index i, 0 elsewhere"]),
    ("IndexSelectBackward0", "index_select(a)", &["dL/da = g index_added back"]),
    ("IndexAddBackward0", "index_add(a, b)", &["dL/da = g", "dL/db = g gathered at the index"]),
    ("GatherBackward0", "gather(a)", &["dL/da = g scatter_added back"]),
    ("ScatterAddBackward0", "scatter_add(a, b)", &["dL/da = g", "dL/db = g gathered at the index"]),
    ("WhereBackward0", "where(c, a, b)", &["dL/da = g where c", "dL/db = g where not c"]),
    ("CatBackward0", "cat(a, ...)", &["dL/da = g's slice for a"]),
    ("StackBackward0", "stack(a, ...)", &["dL/da = g's slice for a"]),
    ("SplitBackward0", "split(a)", &["dL/da = the pieces' gradients concatenated"]),
    ("SplitWithSizesBackward0", "split(a)", &["dL/da = the pieces' gradients concatenated"]),
    ("UnbindBackward0", "unbind(a)", &["dL/da = the pieces' gradients stacked"]),
    ("FillBackward2", "fill(a)", &["d(fill(a))/da = 0"]),
    ("ZeroBackward0", "zero(a)", &["d(zero(a))/da = 0"]),
    ("CopyBackwards", "copy_(a, b)", &["d/da = 0 (overwritten)", "dL/db = g"]),
    ("EmbeddingBackward0", "embedding(w)", &["dL/dw = g rows added at the indices"]),
    ("EmbeddingDenseBackward0", "embedding(w)", &["dL/dw = g rows added at the indices"]),
    ("NllLossBackward0", "nll_loss(a)", &["dL/da = -g/n at each target class, 0 elsewhere"]),
    ("BinaryCrossEntropyBackward0", "bce(a, y)", &["d(bce)/da = (a - y)/(a*(1 - a))"]),
    ("MseLossBackward0", "mse_loss(a, b)", &["dL/da = 2*(a - b)/n", "dL/db = -2*(a - b)/n"]),
];

fn row(name: &str) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.0 == name)
}

/// The expression a node computes over its inputs `a`, `b`, ... (`"a*b"` for
/// `MulBackward0`), if the table has the op.
pub fn expression(name: &str) -> Option<&'static str> {
    row(name).map(|r| r.1)
}

/// The local derivative of a node with respect to each input (`"d(a*b)/da = b"`).
pub fn local_derivatives(name: &str) -> Option<&'static [&'static str]> {
    row(name).map(|r| r.2)
}

/// Replaces the standalone identifiers in `vars` (`a`, `b`, `g`, `p`) in `text`.
pub(crate) fn substitute(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match vars.iter().find(|(k, _)| *k == word.as_str()) {
            Some((_, v)) => out.push_str(v),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Whether `s` needs parentheses inside a larger expression.
pub(crate) fn compound(s: &str) -> bool {
    s.parse::<f64>().is_err() && s.chars().any(|c| " +-*/^@".contains(c))
}

/// `s`, parenthesised when compound.
pub(crate) fn paren(s: &str) -> String {
    if compound(s) {
        format!("({s})")
    } else {
        s.to_string()
    }
}

/// What the chain rule sends to input `i` in terms of `g` and the inputs, or `None` when
/// the table does not have the op. `p` is the op's scalar attribute, if any.
pub(crate) fn chain(name: &str, i: usize, p: Option<f64>) -> Option<String> {
    let local = local_derivatives(name)?.get(i)?;
    let rhs = local.split_once(" = ").map(|(_, r)| r)?;
    if name == "PowBackward0"
        && let Some(p) = p
    {
        return Some(if p == 1.0 {
            "g".into()
        } else if p == 2.0 {
            "g * 2*a".into()
        } else {
            format!("g * {}*a^{}", num(p), num(p - 1.0))
        });
    }
    let uses_g = substitute(rhs, &[("g", "\u{1}")]).contains('\u{1}');
    Some(if uses_g {
        rhs.to_string()
    } else if rhs == "1" {
        "g".into()
    } else if rhs == "-1" {
        "-g".into()
    } else {
        format!("g * {rhs}")
    })
}

/// A number as a short literal (`2`, `0.5`).
pub(crate) fn num(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_op_has_a_formula() {
        for name in [
            "MulBackward0",
            "AddmmBackward0",
            "NllLossBackward0",
            "ReluBackward0",
        ] {
            assert!(local_derivatives(name).is_some(), "{name}");
        }
        assert!(local_derivatives("NoSuchBackward0").is_none());
    }

    #[test]
    fn substitution_and_chain() {
        assert_eq!(
            substitute("g * b", &[("g", "dL/dy"), ("b", "x")]),
            "dL/dy * x"
        );
        assert_eq!(substitute("exp(a)", &[("a", "w")]), "exp(w)");
        assert_eq!(chain("MulBackward0", 0, None).unwrap(), "g * b");
        assert_eq!(chain("SubBackward0", 1, None).unwrap(), "-g");
        assert_eq!(chain("MmBackward0", 0, None).unwrap(), "g @ b^T");
        assert_eq!(chain("PowBackward0", 0, Some(2.0)).unwrap(), "g * 2*a");
        assert_eq!(chain("PowBackward0", 0, Some(3.0)).unwrap(), "g * 3*a^2");
    }
}
