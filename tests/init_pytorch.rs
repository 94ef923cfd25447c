//! Parameter initialisation against PyTorch, bit for bit: `Linear`, a `Sequential`
//! classifier, `Embedding` and the `nn::init` functions, after the same `manual_seed`.
//! Fixture: `tests/fixtures/init_shuffle.json` from `scripts/fixtures/gen_init_shuffle.py`.

mod rng_fixture;

use kiln::nn::init::{self, FanMode};
use kiln::nn::{Dropout, Embedding, Flatten, Linear, Module, ReLU, Sequential};
use kiln::{DType, Generator, Tensor, seq};
use rng_fixture::{assert_after, assert_bits, global_rng, load, mismatches};
use serde_json::Value;

fn assert_params(module: &dyn Module, rec: &Value, ctx: &str) {
    let params = module.named_parameters();
    let recorded = rec.as_object().unwrap();
    assert_eq!(params.len(), recorded.len(), "{ctx}: parameter count");
    for (name, t) in params {
        assert_bits(&t, &rec[&name], &format!("{ctx} {name}"));
    }
}

#[test]
fn linear_matches_torch_nn_linear() {
    let _g = global_rng();
    for case in load()["linear"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let (fi, fo) = (
            case["in"].as_u64().unwrap() as usize,
            case["out"].as_u64().unwrap() as usize,
        );
        let bias = case["bias"].as_bool().unwrap_or(true);
        kiln::manual_seed(seed);
        let layer = Linear::with_bias(fi, fo, bias);
        let ctx = format!("seed {seed} Linear({fi}, {fo}, bias={bias})");
        assert_params(&layer, &case["params"], &ctx);
        assert_after(&case["after"], &ctx);
    }
}

/// The tutorial's MNIST classifier, whose Sequential numbers its layers as PyTorch does
/// when the Flatten is its first element.
fn digit_classifier() -> Sequential {
    seq![
        Flatten::new(),
        Linear::new(28 * 28, 256),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(256, 128),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(128, 10),
    ]
}

#[test]
fn sequential_classifier_matches_pytorch() {
    let _g = global_rng();
    for case in load()["sequential"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        kiln::manual_seed(seed);
        let model = digit_classifier();
        let ctx = format!("seed {seed} DigitClassifier");
        assert_params(&model, &case["params"], &ctx);
        assert_after(&case["after"], &ctx);
    }
}

#[test]
fn embedding_matches_pytorch() {
    let _g = global_rng();
    for case in load()["embedding"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let (n, d) = (
            case["num"].as_u64().unwrap() as usize,
            case["dim"].as_u64().unwrap() as usize,
        );
        let pad = case["padding_idx"].as_u64().map(|p| p as usize);
        kiln::manual_seed(seed);
        let emb = Embedding::with_padding(n, d, pad);
        let ctx = format!("seed {seed} Embedding({n}, {d}, padding_idx={pad:?})");
        assert_bits(&emb.weight, &case["weight"], &ctx);
        assert_after(&case["after"], &ctx);
    }
}

fn mode(op: &Value) -> FanMode {
    match op["mode"].as_str().unwrap() {
        "fan_in" => FanMode::FanIn,
        "fan_out" => FanMode::FanOut,
        m => panic!("unknown mode {m}"),
    }
}

/// Runs one recorded `nn.init` op on a fresh target, from `g` when given.
fn run_init(op: &Value, g: Option<&mut Generator>) -> Tensor {
    let shape: Vec<usize> = rng_fixture::usizes(&op["shape"]);
    let dtype = match op["dtype"].as_str().unwrap_or("float32") {
        "float32" => DType::F32,
        "float64" => DType::F64,
        d => panic!("unknown dtype {d}"),
    };
    let t = if op["transposed"].as_bool().unwrap_or(false) {
        let rev: Vec<usize> = shape.iter().rev().copied().collect();
        Tensor::zeros_dtype(&rev, dtype).t()
    } else {
        Tensor::zeros_dtype(&shape, dtype)
    };
    let f = |k: &str| op[k].as_f64().unwrap();
    let nl = || op["nonlinearity"].as_str().unwrap();
    match (op["op"].as_str().unwrap(), g) {
        ("uniform", None) => init::uniform_(&t, f("a"), f("b")),
        ("uniform", Some(g)) => init::uniform_with(&t, f("a"), f("b"), g),
        ("normal", None) => init::normal_(&t, f("mean"), f("std")),
        ("normal", Some(g)) => init::normal_with(&t, f("mean"), f("std"), g),
        ("xavier_uniform", None) => init::xavier_uniform_(&t, f("gain")),
        ("xavier_uniform", Some(g)) => init::xavier_uniform_with(&t, f("gain"), g),
        ("xavier_normal", None) => init::xavier_normal_(&t, f("gain")),
        ("xavier_normal", Some(g)) => init::xavier_normal_with(&t, f("gain"), g),
        ("kaiming_uniform", None) => init::kaiming_uniform_(&t, f("a"), mode(op), nl()),
        ("kaiming_uniform", Some(g)) => init::kaiming_uniform_with(&t, f("a"), mode(op), nl(), g),
        ("kaiming_normal", None) => init::kaiming_normal_(&t, f("a"), mode(op), nl()),
        ("kaiming_normal", Some(g)) => init::kaiming_normal_with(&t, f("a"), mode(op), nl(), g),
        (k, _) => panic!("unknown op {k}"),
    }
}

#[test]
fn init_functions_match_pytorch() {
    let _g = global_rng();
    let case = &load()["init"];
    kiln::manual_seed(case["seed"].as_u64().unwrap());
    let mut failures = Vec::new();
    for (k, op) in case["ops"].as_array().unwrap().iter().enumerate() {
        let out = match op["generator_seed"].as_u64() {
            Some(s) => run_init(op, Some(&mut Generator::new(s))),
            None => run_init(op, None),
        };
        for e in mismatches(&out, &op["out"]) {
            failures.push(format!("op#{k} {}: {e}", op["op"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_after(&case["after"], "after the init ops");
}

#[test]
fn init_writes_in_place_without_recording() {
    let w = Tensor::zeros(&[4, 3]).requires_grad_(true);
    let out = init::uniform_with(&w, -1.0, 1.0, &mut Generator::new(0));
    assert!(w.to_vec::<f32>().iter().all(|v| (-1.0..1.0).contains(v)));
    assert_eq!(out.to_vec::<f32>(), w.to_vec::<f32>());
    assert!(w.is_leaf() && w.requires_grad());
    // Zero-element tensors are left alone by the kaiming initialisers, as in PyTorch.
    let mut g = Generator::new(1);
    let before = g.clone();
    init::kaiming_uniform_with(&Tensor::zeros(&[0, 3]), 0.0, FanMode::FanIn, "relu", &mut g);
    assert_eq!(g, before);
}

#[test]
#[should_panic(expected = "\"uniform_kernel_cpu\" not implemented for 'int64'")]
fn init_rejects_integer_tensors_like_pytorch() {
    init::uniform_with(
        &Tensor::zeros_dtype(&[2], DType::I64),
        0.0,
        1.0,
        &mut Generator::new(0),
    );
}
