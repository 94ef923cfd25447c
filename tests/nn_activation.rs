//! Activation modules against PyTorch (`tests/fixtures/activations.json`, made by
//! `scripts/fixtures/gen_activations.py`): outputs in f32 and f64, gradients, reprs, and
//! NaN/infinity propagation.

use kiln::autograd::gradcheck;
use kiln::nn::{GELU, LeakyReLU, Linear, Module, ReLU, Sigmoid, Tanh, functional as F};
use kiln::{DType, Tensor, seq};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/activations.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn module(name: &str) -> Box<dyn Module> {
    match name {
        "Sigmoid" => Box::new(Sigmoid::new()),
        "Tanh" => Box::new(Tanh::new()),
        "ReLU" => Box::new(ReLU::new()),
        "LeakyReLU(0.1)" => Box::new(LeakyReLU::new(0.1)),
        "LeakyReLU()" => Box::new(LeakyReLU::default()),
        "GELU()" => Box::new(GELU::new()),
        "GELU(tanh)" => Box::new(GELU::tanh()),
        other => panic!("unknown module {other}"),
    }
}

fn close(got: &[f64], want: &[f64], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{ctx}[{i}]: kiln {g} vs torch {w}"
        );
    }
}

#[test]
fn activation_modules_match_pytorch() {
    let fx = fixture();
    let x32 = Tensor::from_vec(
        floats(&fx["x32"]).iter().map(|&v| v as f32).collect(),
        &[100],
    );
    // The inputs are PyTorch's own f32 linspace (kiln's can differ by an ulp).
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let m = module(name);
        assert_eq!(m.repr(), case["repr"].as_str().unwrap(), "{name} repr");
        let y32 = m.forward(&x32).to_vec::<f64>();
        close(&y32, &floats(&case["y32"]), 1e-6, &format!("{name} f32"));
        let x64 = Tensor::from_vec(floats(&case["x64"]), &[100]).requires_grad_(true);
        let y64 = m.forward(&x64);
        close(
            &y64.to_vec::<f64>(),
            &floats(&case["y64"]),
            1e-14,
            &format!("{name} f64"),
        );
        y64.sum().backward();
        close(
            &x64.grad().unwrap().to_vec::<f64>(),
            &floats(&case["grad64"]),
            1e-13,
            &format!("{name} grad"),
        );
    }
}

/// A fixture number, with "nan", "inf" and "-inf" for the values JSON lacks.
fn num(v: &Value) -> f64 {
    match v.as_str() {
        Some("nan") => f64::NAN,
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        Some(s) => panic!("bad fixture number {s:?}"),
        None => v.as_f64().unwrap(),
    }
}

/// Like `close`, but NaN must meet NaN and an infinity the same infinity.
fn close_special(got: &[f64], want: &[f64], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() || g.is_nan() {
            w.is_nan() && g.is_nan()
        } else if w.is_infinite() || g.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tol * (1.0 + w.abs())
        };
        assert!(ok, "{ctx}[{i}]: kiln {g} vs torch {w}");
    }
}

#[test]
fn activations_propagate_nan_and_infinity_like_pytorch() {
    let fx = fixture();
    let edges = fx["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["name"] == "ReLU"));
    for e in edges {
        let name = e["name"].as_str().unwrap();
        let dtype = if e["dtype"] == "f32" {
            DType::F32
        } else {
            DType::F64
        };
        let xs: Vec<f64> = e["x"].as_array().unwrap().iter().map(num).collect();
        let x = Tensor::from_vec(xs.clone(), &[xs.len()])
            .to_dtype(dtype)
            .requires_grad_(true);
        let y = if name == "F.relu" {
            F::relu(&x)
        } else {
            module(name).forward(&x)
        };
        assert_eq!(y.dtype(), dtype, "{name}");
        let ctx = format!("{name} {}", e["dtype"]);
        let want = |k: &str| -> Vec<f64> { e[k].as_array().unwrap().iter().map(num).collect() };
        close_special(&y.to_vec::<f64>(), &want("y"), 1e-6, &ctx);
        y.sum().backward();
        close_special(
            &x.grad().unwrap().to_vec::<f64>(),
            &want("grad"),
            1e-6,
            &format!("{ctx} grad"),
        );
    }
}

#[test]
fn sequential_repr_with_new_activations() {
    let net = seq![
        Linear::new(2, 3),
        LeakyReLU::new(0.1),
        GELU::new(),
        GELU::tanh()
    ];
    assert_eq!(net.repr(), fixture()["sequential_repr"].as_str().unwrap());
}

#[test]
fn modules_agree_with_functional_and_gradcheck() {
    let x = Tensor::from_vec(vec![-2.0, -0.7, 0.3, 1.1, 2.5, -1.3], &[2, 3]);
    type Functional = fn(&Tensor) -> Tensor;
    let pairs: Vec<(Box<dyn Module>, Functional)> = vec![
        (Box::new(LeakyReLU::new(0.1)), |t| F::leaky_relu(t, 0.1)),
        (Box::new(GELU::new()), F::gelu),
        (Box::new(GELU::tanh()), F::gelu_tanh),
    ];
    for (m, f) in &pairs {
        assert_eq!(m.forward(&x).to_vec::<f64>(), f(&x).to_vec::<f64>());
        // Transposed (non-contiguous) input, finite differences in f64.
        let xt = x.t();
        gradcheck(
            |v| m.forward(&v[0]),
            std::slice::from_ref(&xt),
            1e-6,
            1e-8,
            1e-6,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", m.repr()));
    }
}

#[test]
fn activations_have_no_parameters_and_follow_train_eval() {
    let g = GELU::tanh();
    assert_eq!(g.num_parameters(), 0);
    g.eval();
    assert!(!g.is_training());
    assert!(g.approximate_tanh);
    assert!(!GELU::default().approximate_tanh);
}
