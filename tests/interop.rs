//! Weights move between kiln and PyTorch through safetensors with PyTorch's key names.
//!
//! `tests/fixtures/kiln_written.safetensors` was written by kiln (the ignored test
//! `write_kiln_fixture`); `scripts/fixtures/gen_interop.py` loaded it into the equivalent
//! PyTorch module and recorded its outputs, and wrote `torch_model.safetensors` from
//! PyTorch. Both directions are checked here against those recorded outputs.

use kiln::io::{load_state_dict_file, save_state_dict};
use kiln::nn::{Linear, Module, ReLU, Sequential, functional as F};
use kiln::optim::{Optimizer, SGD};
use kiln::{Tensor, seq};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The tutorial's `NeuralNetwork(num_inputs, num_outputs)`.
#[derive(Module)]
struct NeuralNetwork {
    layers: Sequential,
}

impl NeuralNetwork {
    fn new(num_inputs: usize, num_outputs: usize) -> Self {
        NeuralNetwork {
            layers: seq![
                // 1st hidden layer
                Linear::new(num_inputs, 30),
                ReLU::new(),
                // 2nd hidden layer
                Linear::new(30, 20),
                ReLU::new(),
                // Output layer
                Linear::new(20, num_outputs),
            ],
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

/// Serialises this file's tests: they all draw from the process-wide generator, and
/// `train_recipe` needs its seeded stream to itself.
fn rng_lock() -> parking_lot::MutexGuard<'static, ()> {
    static RNG: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    RNG.lock()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(fixtures().join("interop.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{ctx}[{i}]: kiln {g} vs torch {w}"
        );
    }
}

/// The tutorial's toy data.
fn toy_data() -> (Tensor, Tensor) {
    let x = kiln::tensor(&[
        [-1.2, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5],
    ]);
    let y = Tensor::from_vec(vec![0i64, 0, 0, 1, 1], &[5]);
    (x, y)
}

/// The recipe behind `kiln_written.safetensors`: seed 123, full-batch SGD (lr 0.5) on
/// cross-entropy for 3 epochs. Returns the model and the losses.
fn train_recipe() -> (NeuralNetwork, Vec<f64>) {
    kiln::manual_seed(123);
    let model = NeuralNetwork::new(2, 2);
    let mut optimizer = SGD::new(model.parameters(), 0.5);
    let (x, y) = toy_data();
    let mut losses = Vec::new();
    for _ in 0..3 {
        model.train();
        let loss = F::cross_entropy(&model.forward(&x), &y);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        losses.push(loss.item());
    }
    (model, losses)
}

fn inputs(fx: &Value) -> Tensor {
    let v: Vec<f32> = floats(&fx["inputs"]).iter().map(|&x| x as f32).collect();
    let n = v.len() / 2;
    Tensor::from_vec(v, &[n, 2])
}

/// Writes `tests/fixtures/kiln_written.safetensors`; run it, then the Python script.
#[test]
#[ignore = "regenerates a committed fixture"]
fn write_kiln_fixture() {
    let _rng = rng_lock();
    let (model, losses) = train_recipe();
    println!("losses {losses:?}");
    save_state_dict(
        &fixtures().join("kiln_written.safetensors"),
        &model.state_dict(),
    )
    .unwrap();
}

#[test]
fn kiln_written_file_gives_pytorchs_outputs() {
    let _rng = rng_lock();
    let fx = fixture();
    let path = fixtures().join("kiln_written.safetensors");
    let digest: String = Sha256::digest(std::fs::read(&path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        fx["kiln_written_sha256"].as_str().unwrap(),
        "kiln_written.safetensors changed since gen_interop.py read it: re-run the script"
    );
    let state = load_state_dict_file(&path).unwrap();
    let model = NeuralNetwork::new(2, 2);
    let mut keys: Vec<String> = model.state_dict().keys().cloned().collect();
    let mut file_keys = strings(&fx["kiln_written_keys"]);
    keys.sort();
    file_keys.sort();
    assert_eq!(keys, file_keys, "PyTorch saw the same key names");
    model.load_state_dict(&state).unwrap();
    model.eval();
    let out = kiln::no_grad(|| model.forward(&inputs(&fx)));
    assert_eq!(out.shape(), &[8, 2]);
    assert_close(
        &out.to_vec::<f64>(),
        &floats(&fx["kiln_written_outputs"]),
        1e-6,
        "kiln file in PyTorch vs kiln",
    );
}

#[test]
fn kiln_training_reproduces_pytorchs_and_the_committed_file() {
    let _rng = rng_lock();
    let fx = fixture();
    let (model, losses) = train_recipe();
    assert_close(&losses, &floats(&fx["recipe_losses"]), 1e-6, "losses");
    let want = fx["recipe_state"].as_object().unwrap();
    let sd = model.state_dict();
    assert_eq!(sd.len(), want.len());
    for (k, t) in sd.iter() {
        assert_close(&t.to_vec::<f64>(), &floats(&want[k.as_str()]), 1e-5, k);
    }
    // And the committed kiln file holds this run's weights (to the last bits a GEMM
    // kernel change may move; the file itself is what PyTorch was checked against).
    let file = load_state_dict_file(&fixtures().join("kiln_written.safetensors")).unwrap();
    for (k, t) in sd.iter() {
        assert_close(
            &t.to_vec::<f64>(),
            &file.get(k).unwrap().to_vec::<f64>(),
            1e-6,
            k,
        );
    }
}

#[test]
fn pytorch_written_file_loads_into_kiln() {
    let _rng = rng_lock();
    let fx = fixture();
    let state = load_state_dict_file(&fixtures().join("torch_model.safetensors")).unwrap();
    let model = NeuralNetwork::new(2, 2);
    let report = model.load_state_dict(&state).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    let ours: Vec<String> = model.state_dict().keys().cloned().collect();
    assert_eq!(
        ours,
        strings(&fx["torch_model_keys"]),
        "same order as PyTorch's state_dict"
    );
    model.eval();
    let out = kiln::no_grad(|| model.forward(&inputs(&fx)));
    assert_close(
        &out.to_vec::<f64>(),
        &floats(&fx["torch_model_outputs"]),
        1e-6,
        "PyTorch file in kiln",
    );
}

#[test]
fn save_and_load_round_trip_is_exact_and_atomic() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    kiln::manual_seed(5);
    let a = NeuralNetwork::new(2, 2);
    save_state_dict(&path, &a.state_dict()).unwrap();
    let b = NeuralNetwork::new(2, 2);
    b.load_state_dict(&load_state_dict_file(&path).unwrap())
        .unwrap();
    let x = Tensor::randn(&[4, 2]);
    assert_eq!(a.forward(&x).to_vec::<f32>(), b.forward(&x).to_vec::<f32>());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A model with other shapes is refused by name, nothing copied.
    let wrong = NeuralNetwork::new(3, 2);
    let err = wrong
        .load_state_dict_with(&load_state_dict_file(&path).unwrap(), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("size mismatch for layers.0.weight"), "{err}");
    // A missing file is a typed error.
    assert!(matches!(
        load_state_dict_file(&dir.path().join("none.safetensors")),
        Err(kiln::io::IoError::Io { .. })
    ));
}
