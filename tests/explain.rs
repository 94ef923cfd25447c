//! `kiln::autograd::explain`: the chain-rule trace of seed 003's program (a golden text:
//! its own file, so the forward lines it names do not move when other tests are added),
//! anomaly detection, and the DOT and SVG pictures.

use kiln::autograd::explain;
use kiln::{Tensor, tensor};

/// Seed 003's linear regression: `y_pred = w * x + b`, `loss = (y_pred - y) ** 2`.
fn seed003() -> (Tensor, Tensor, Tensor, Tensor) {
    let w = tensor(&[1.0]).requires_grad_(true);
    let b = tensor(&[0.0]).requires_grad_(true);
    let x = tensor(&[2.0]);
    let y = tensor(&[4.0]);
    for (t, n) in [(&w, "w"), (&b, "b"), (&x, "x"), (&y, "y")] {
        explain::name(t, n);
    }
    let (y_pred, loss) = explain::trace(|| {
        let y_pred = &w * &x + &b;
        let loss = (&y_pred - &y).pow_scalar(2.0);
        (y_pred, loss)
    });
    explain::name(&y_pred, "y_pred");
    explain::name(&loss, "loss");
    (w, b, y_pred, loss)
}

fn golden(name: &str, text: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("KILN_BLESS").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, want, "{name} differs (KILN_BLESS=1 rewrites it)");
}

#[test]
fn seed003_trace_is_golden() {
    let (w, b, _y_pred, loss) = seed003();
    let before = explain::explain(&loss).to_string();
    loss.backward();
    let after = explain::explain(&loss).to_string();
    golden("seed003_before.txt", &before);
    golden("seed003_after.txt", &after);
    assert!(after.contains("dL/dw = dL/d(w*x) * x = -8"), "{after}");
    assert!(after.contains("dL/db = dL/dy_pred = -4"), "{after}");
    assert!(
        after.contains("dL/d(y_pred - y) = 2*(y_pred - y) = -4"),
        "{after}"
    );
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![-8.0]);
    assert_eq!(b.grad().unwrap().to_vec::<f32>(), vec![-4.0]);
}

#[test]
fn anomaly_names_the_node_and_its_forward_line() {
    static LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let x = tensor(&[0.0, 1.0]).requires_grad_(true);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        explain::detect_anomaly(|| {
            let y = x.sqrt().sum(); // d sqrt(x)/dx = inf at 0
            LINE.store(line!() - 1, std::sync::atomic::Ordering::Relaxed);
            y.backward();
        })
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("Function 'SqrtBackward0' returned inf values in its 0th output"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "tests/explain.rs:{}",
            LINE.load(std::sync::atomic::Ordering::Relaxed)
        )),
        "{msg}"
    );
    assert!(!explain::is_anomaly_enabled());
}

#[test]
fn without_anomaly_mode_nan_gradients_pass_silently() {
    let x = tensor(&[0.0, 1.0]).requires_grad_(true);
    x.sqrt().sum().backward();
    assert!(x.grad().unwrap().to_vec::<f32>()[0].is_infinite());
}

/// A small DOT checker: tokens, `digraph ID { ... }`, node/attribute/edge statements
/// with `[k=v, ...]` lists, and every edge endpoint declared as a node.
fn check_dot(src: &str) -> Result<usize, String> {
    #[derive(Debug, PartialEq, Clone)]
    enum T {
        Id(String),
        Str,
        P(char),
        Arrow,
    }
    let mut toks = Vec::new();
    let mut cs = src.chars().peekable();
    while let Some(&c) = cs.peek() {
        if c.is_whitespace() {
            cs.next();
        } else if c == '"' {
            cs.next();
            loop {
                match cs.next() {
                    Some('\\') => {
                        cs.next().ok_or("unterminated escape")?;
                    }
                    Some('"') => break,
                    Some(_) => {}
                    None => return Err("unterminated string".into()),
                }
            }
            toks.push(T::Str);
        } else if c == '-' {
            cs.next();
            if cs.next() != Some('>') {
                return Err("expected ->".into());
            }
            toks.push(T::Arrow);
        } else if "{}[];=,".contains(c) {
            cs.next();
            toks.push(T::P(c));
        } else if c.is_alphanumeric() || c == '_' || c == '.' {
            let mut s = String::new();
            while let Some(&c) = cs.peek() {
                if c.is_alphanumeric() || c == '_' || c == '.' {
                    s.push(c);
                    cs.next();
                } else {
                    break;
                }
            }
            toks.push(T::Id(s));
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    let mut i = 0;
    let next = |i: &mut usize| -> Result<T, String> {
        let t = toks.get(*i).cloned().ok_or("unexpected end")?;
        *i += 1;
        Ok(t)
    };
    let is_val = |t: &T| matches!(t, T::Id(_) | T::Str);
    if next(&mut i)? != T::Id("digraph".into()) {
        return Err("expected digraph".into());
    }
    if matches!(toks.get(i), Some(T::Id(_))) {
        i += 1;
    }
    if next(&mut i)? != T::P('{') {
        return Err("expected {".into());
    }
    let attrs = |i: &mut usize| -> Result<(), String> {
        if toks.get(*i) != Some(&T::P('[')) {
            return Ok(());
        }
        *i += 1;
        loop {
            match next(i)? {
                T::P(']') => return Ok(()),
                k if is_val(&k) => {
                    if next(i)? != T::P('=') || !is_val(&next(i)?) {
                        return Err("expected key=value".into());
                    }
                    if toks.get(*i) == Some(&T::P(',')) {
                        *i += 1;
                    }
                }
                t => return Err(format!("bad attribute token {t:?}")),
            }
        }
    };
    let (mut nodes, mut edges) = (Vec::new(), Vec::new());
    loop {
        match next(&mut i)? {
            T::P('}') => break,
            T::Id(a) => {
                match toks.get(i) {
                    Some(T::Arrow) => {
                        i += 1;
                        let T::Id(b) = next(&mut i)? else {
                            return Err("expected edge target".into());
                        };
                        edges.push((a, b));
                    }
                    Some(T::P('=')) => {
                        i += 1;
                        if !is_val(&next(&mut i)?) {
                            return Err("expected value".into());
                        }
                    }
                    _ if ["node", "edge", "graph"].contains(&a.as_str()) => {}
                    _ => nodes.push(a),
                }
                attrs(&mut i)?;
                if next(&mut i)? != T::P(';') {
                    return Err("expected ;".into());
                }
            }
            t => return Err(format!("unexpected {t:?}")),
        }
    }
    if i != toks.len() {
        return Err("tokens after the graph".into());
    }
    for (a, b) in &edges {
        if !nodes.contains(a) || !nodes.contains(b) {
            return Err(format!("edge {a} -> {b} to an undeclared node"));
        }
    }
    Ok(edges.len())
}

#[test]
fn dot_checker_rejects_broken_dot() {
    assert!(check_dot("digraph g { a; b; a -> b; }").is_ok());
    assert!(check_dot("digraph g { a; a -> b; }").is_err());
    assert!(check_dot("digraph g { a [label=\"x]; }").is_err());
    assert!(check_dot("digraph g { a [label=] ; }").is_err());
}

#[test]
fn dot_output_parses_before_and_after_backward() {
    let (_w, _b, _y_pred, loss) = seed003();
    assert_eq!(check_dot(&explain::explain(&loss).dot()), Ok(5));
    loss.backward();
    let dot = explain::explain(&loss).dot();
    assert_eq!(check_dot(&dot), Ok(5), "{dot}");
    assert!(dot.contains("g = -8"), "{dot}");
}

#[test]
fn svg_has_every_node_and_edge() {
    let (_w, _b, _y_pred, loss) = seed003();
    loss.backward();
    let svg = explain::explain(&loss).svg();
    assert!(svg.starts_with("<svg"));
    assert_eq!(
        svg.matches("<rect x=").count(),
        6 + 4,
        "6 nodes and 4 legend keys"
    );
    assert_eq!(svg.matches("<line ").count(), 5);
    assert!(svg.contains("MulBackward0") && svg.contains("grad -8"));
    if let Some(dir) = std::env::var_os("KILN_EXPLAIN_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("seed003.svg"), &svg).unwrap();
    }
}

#[test]
fn grad_stats_follow_each_backward() {
    use kiln::nn::utils::GradStats;
    use kiln::nn::{Linear, Module};
    let fc = Linear::new(2, 1);
    let stats = GradStats::attach(fc.named_parameters());
    let x = Tensor::ones(&[1, 2]);
    fc.forward(&x).sum().backward();
    // d sum(x W^T + b)/dW = x = [1, 1] (norm sqrt 2), d/db = 1.
    let n = stats.norms();
    assert_eq!(n[0].0, "weight");
    assert!((n[0].1 - 2f64.sqrt()).abs() < 1e-6, "{n:?}");
    assert!((n[1].1 - 1.0).abs() < 1e-6, "{n:?}");
    fc.forward(&x).sum().backward(); // accumulates: .grad doubles
    assert!((stats.norms()[1].1 - 2.0).abs() < 1e-6);
    let h = stats.take_history();
    assert_eq!(h.len(), 2);
    assert!((h[0][0].1 - 3f64.sqrt()).abs() < 1e-6, "{h:?}");
    assert!((h[1][0].1 - 12f64.sqrt()).abs() < 1e-6, "{h:?}");
    stats.remove();
    fc.forward(&x).sum().backward();
    assert!(stats_removed_means_no_rows(&stats));
}

#[test]
fn layer_grad_norms_read_grad_as_it_is_now() {
    use kiln::nn::utils::{GradStats, layer_grad_norms};
    use kiln::nn::{Linear, Module, ReLU};
    let net = kiln::seq![Linear::new(3, 4), ReLU::new(), Linear::new(4, 2)];
    let named = net.named_parameters();
    let stats = GradStats::attach(named.clone());
    net.forward(&Tensor::randn(&[5, 3])).sum().backward();
    // After a backward both see the same `.grad`.
    let (hooks, now) = (stats.layer_norms(), layer_grad_norms(&named));
    assert_eq!(hooks.len(), 2);
    for ((a, x), (b, y)) in hooks.iter().zip(&now) {
        assert_eq!(a, b);
        assert!((x - y).abs() <= 1e-12 * x.max(1.0), "{hooks:?} vs {now:?}");
    }
    // `.grad` rewritten after backward (as DDP writes its averages): only the read sees it.
    kiln::no_grad(|| {
        for (_, p) in &named {
            p.set_grad(Some(p.grad().unwrap().mul_scalar(0.5)));
        }
    });
    let halved = layer_grad_norms(&named);
    assert!((halved[0].1 - now[0].1 / 2.0).abs() <= 1e-9 * now[0].1);
    assert_eq!(stats.layer_norms(), hooks);
    net.zero_grad();
    assert!(layer_grad_norms(&named).iter().all(|(_, v)| *v == 0.0));
    stats.remove();
}

fn stats_removed_means_no_rows(s: &kiln::nn::utils::GradStats) -> bool {
    s.take_history().is_empty()
}

/// What real PyTorch computes for seed 003's and seed 002's programs
/// (scripts/fixtures/gen_explain.py).
fn torch_fixture() -> serde_json::Value {
    let path = format!("{}/tests/fixtures/explain.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(floats).collect(),
        other => vec![other.as_f64().unwrap() as f32],
    }
}

#[test]
fn seed003_gradients_and_node_names_are_pytorchs() {
    let want = &torch_fixture()["seed003"];
    let (w, b, y_pred, loss) = seed003();
    loss.backward();
    assert_eq!(y_pred.to_vec::<f32>(), floats(&want["y_pred"]));
    assert_eq!(loss.to_vec::<f32>(), floats(&want["loss"]));
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), floats(&want["w_grad"]));
    assert_eq!(b.grad().unwrap().to_vec::<f32>(), floats(&want["b_grad"]));
    let trace = explain::explain(&loss).to_string();
    assert!(trace.contains(want["grad_fn"].as_str().unwrap()), "{trace}");
}

#[test]
fn seed002_trace_shows_pytorchs_gradients_not_the_tutorials() {
    use kiln::nn::{Linear, MSELoss, Module};
    let want = &torch_fixture()["seed002"];
    let x = tensor(&[[0.5, -1.5], [1.0, 1.0]]).requires_grad_(true);
    let mut linear = Linear::new(2, 1);
    linear.weight = tensor(&[[0.3, -0.2]]).requires_grad_(true);
    linear.bias = Some(tensor(&[0.1]).requires_grad_(true));
    let y_true = tensor(&[[1.0], [0.0]]);
    let (y_pred, loss) = explain::trace(|| {
        let y_pred = linear.forward(&x);
        let loss = MSELoss::new().forward(&y_pred, &y_true);
        (y_pred, loss)
    });
    explain::name(&loss, "loss");
    loss.backward();
    let close = |got: Vec<f32>, want: &serde_json::Value| {
        let want = floats(want);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-7 + 1e-6 * w.abs(),
                "{got:?} vs {want:?}"
            );
        }
    };
    close(y_pred.to_vec::<f32>(), &want["y_pred"]);
    close(vec![loss.item() as f32], &want["loss"]);
    let gw = linear.weight.grad().unwrap();
    close(gw.to_vec::<f32>(), &want["weight_grad"]);
    close(
        linear
            .bias
            .as_ref()
            .unwrap()
            .grad()
            .unwrap()
            .to_vec::<f32>(),
        &want["bias_grad"],
    );
    close(x.grad().unwrap().to_vec::<f32>(), &want["x_grad"]);
    // The tutorial prints weight.grad [-0.0125, 0.4375]: PyTorch's is twice that.
    let torch_w = floats(&want["weight_grad"]);
    assert!((torch_w[1] - 2.0 * 0.4375).abs() < 1e-6, "{torch_w:?}");
    let trace = explain::explain(&loss).to_string();
    for node in ["y_pred_grad_fn", "loss_grad_fn"] {
        let name = want[node].as_str().unwrap();
        assert!(trace.contains(name), "{name} missing from\n{trace}");
    }
    // The trace prints the same weight gradient PyTorch computes.
    // ... and shows PyTorch's weight gradient on the weight's leaf (4 decimals).
    let short = |v: f32| {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    let shown = format!(".grad = [[{}, {}]]", short(torch_w[0]), short(torch_w[1]));
    assert!(trace.contains(&shown), "{shown} missing from\n{trace}");
    assert_eq!(
        trace.matches("Backward0 ->").count(),
        2,
        "PyTorch's graph is MseLossBackward0 <- AddmmBackward0:\n{trace}"
    );
}
