//! kiln's random draws against PyTorch's, recorded by `scripts/fixtures/gen_random.py`
//! into `tests/fixtures/random.json` (PyTorch on x86-64 with AVX2/AVX-512).
//!
//! Every comparison is bitwise: f32/f64 by bit pattern, integers exactly.

use kiln::tensor::random::DEFAULT_SEED;
use kiln::{DType, Generator, Tensor};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/random.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("random.json parses")
}

/// An op's output as raw little-endian bytes (what the fixture hashes) plus one value per
/// element in a form comparable with the JSON numbers.
enum Out {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

impl Out {
    fn of(t: &Tensor) -> Out {
        match t.dtype() {
            DType::F32 => Out::F32(t.to_vec()),
            DType::F64 => Out::F64(t.to_vec()),
            DType::I64 => Out::I64(t.to_vec()),
            d => panic!("unexpected dtype {d:?}"),
        }
    }

    fn len(&self) -> usize {
        match self {
            Out::F32(v) => v.len(),
            Out::F64(v) => v.len(),
            Out::I64(v) => v.len(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Out::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Out::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Out::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Whether element `i` equals the JSON number bit for bit.
    fn matches(&self, i: usize, expected: &Value) -> bool {
        match self {
            Out::F32(v) => (float(expected) as f32).to_bits() == v[i].to_bits(),
            Out::F64(v) => float(expected).to_bits() == v[i].to_bits(),
            Out::I64(v) => expected.as_i64().unwrap() == v[i],
        }
    }

    fn show(&self, i: usize) -> String {
        match self {
            Out::F32(v) => format!("{:?}", v[i]),
            Out::F64(v) => format!("{:?}", v[i]),
            Out::I64(v) => format!("{}", v[i]),
        }
    }
}

/// A recorded float: a decimal string, parsed exactly (serde_json's own float parsing
/// may be off by an ulp without its `float_roundtrip` feature).
fn float(v: &Value) -> f64 {
    v.as_str()
        .expect("floats are stored as strings")
        .parse()
        .unwrap()
}

fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn dtype(op: &Value) -> DType {
    match op["dtype"].as_str().unwrap() {
        "float32" => DType::F32,
        "float64" => DType::F64,
        d => panic!("unknown dtype {d}"),
    }
}

fn shape(op: &Value) -> Vec<usize> {
    op["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// The probabilities the fixture script feeds to `torch.bernoulli`.
fn bernoulli_p(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let p: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 / 100.0).collect();
    Tensor::from_vec(p, shape).to_dtype(dtype)
}

fn run(op: &Value, g: &mut Generator) -> Tensor {
    let f = |k: &str| op[k].as_f64().unwrap();
    let i = |k: &str| op[k].as_i64().unwrap();
    match op["op"].as_str().unwrap() {
        "rand" => Tensor::rand_with(&shape(op), dtype(op), g),
        "randn" => Tensor::randn_with(&shape(op), dtype(op), g),
        "randint" => Tensor::randint_with(i("low"), i("high"), &shape(op), g),
        "bernoulli" => bernoulli_p(&shape(op), dtype(op)).bernoulli_with(g),
        "randperm" => Tensor::randperm_with(i("n") as usize, g),
        "uniform" => Tensor::uniform_with(&shape(op), f("low"), f("high"), dtype(op), g),
        "normal" => Tensor::normal_with(&shape(op), f("mean"), f("std"), dtype(op), g),
        k => panic!("unknown op {k}"),
    }
}

/// Compares one output with its record; returns a description of each mismatch.
fn check(out: &Out, rec: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let n = rec["n"].as_u64().unwrap() as usize;
    if out.len() != n {
        return vec![format!("length {} != {n}", out.len())];
    }
    let mut compare = |i: usize, e: &Value| {
        if !out.matches(i, e) && errs.len() < 5 {
            errs.push(format!("[{i}] kiln {} torch {e}", out.show(i)));
        }
    };
    if let Some(values) = rec["values"].as_array() {
        values.iter().enumerate().for_each(|(i, e)| compare(i, e));
    } else {
        let head = rec["head"].as_array().unwrap();
        let tail = rec["tail"].as_array().unwrap();
        head.iter().enumerate().for_each(|(i, e)| compare(i, e));
        let start = n - tail.len();
        tail.iter()
            .enumerate()
            .for_each(|(i, e)| compare(start + i, e));
        if fnv1a64(&out.bytes()) != rec["fnv"].as_str().unwrap() {
            errs.push("hash of all elements differs".into());
        }
    }
    errs
}

/// Runs the fixture cases whose name starts with `prefix`; at least one must exist.
fn check_cases(prefix: &str) {
    let fx = fixture();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if !name.starts_with(prefix) {
            continue;
        }
        ran += 1;
        let mut g = Generator::new(case["seed"].as_u64().unwrap());
        for (k, op) in case["ops"].as_array().unwrap().iter().enumerate() {
            let out = Out::of(&run(op, &mut g));
            for e in check(&out, &op["out"]) {
                failures.push(format!("{name} op#{k} {}: {e}", op["op"]));
            }
        }
    }
    assert!(ran > 0, "no fixture case starts with {prefix:?}");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rand_matches_pytorch() {
    check_cases("rand-");
}

#[test]
fn randn_matches_pytorch() {
    check_cases("randn-");
}

#[test]
fn uniform_matches_pytorch() {
    check_cases("uniform-");
}

#[test]
fn normal_matches_pytorch() {
    check_cases("normal-");
}

#[test]
fn randint_matches_pytorch() {
    check_cases("randint-");
}

#[test]
fn bernoulli_matches_pytorch() {
    check_cases("bernoulli-");
}

#[test]
fn randperm_matches_pytorch() {
    check_cases("randperm-");
}

#[test]
fn interleaved_draws_match_pytorch() {
    check_cases("interleaved");
}

#[test]
fn default_generator_seed_matches_torch_generator() {
    assert_eq!(Generator::default().initial_seed(), DEFAULT_SEED);
    check_cases("default-seed");
}

/// The only test here that touches the process-wide generator.
#[test]
fn global_manual_seed_reproduces_torch_manual_seed() {
    let fx = fixture();
    let case = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "randn-float32-42-[3, 4]")
        .unwrap();
    kiln::manual_seed(42);
    let t = Tensor::randn(&[3, 4]);
    assert_eq!(t.shape(), &[3, 4]);
    assert!(check(&Out::of(&t), &case["ops"][0]["out"]).is_empty());
    assert_eq!(kiln::tensor::random::initial_seed(), 42);
}
