//! Reading `tests/fixtures/init_shuffle.json` (made by
//! `scripts/fixtures/gen_init_shuffle.py`), shared by `init_pytorch.rs` and
//! `shuffle_pytorch.rs`.
#![allow(dead_code)]

use std::sync::OnceLock;

use kiln::{DType, Tensor};
use parking_lot::{Mutex, MutexGuard};
use serde_json::Value;

/// The parsed fixture file.
pub fn load() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let text = include_str!("../fixtures/init_shuffle.json");
        serde_json::from_str(text).expect("parse init_shuffle.json")
    })
}

/// Serialises the tests of one binary that seed the process-wide generator.
pub fn global_rng() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
}

/// A recorded float: a decimal string, parsed exactly.
pub fn float(v: &Value) -> f64 {
    v.as_str()
        .expect("floats are stored as strings")
        .parse()
        .unwrap()
}

/// A JSON array of float strings.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(float).collect()
}

/// A JSON array of unsigned integers.
pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Compares `t` bit for bit with a recorded tensor (`shape`, `dtype`, and either all
/// `values` or `head`/`tail`/`fnv`); returns the mismatches found.
pub fn mismatches(t: &Tensor, rec: &Value) -> Vec<String> {
    let shape = usizes(&rec["shape"]);
    if t.shape() != shape.as_slice() {
        return vec![format!("shape {:?} != {shape:?}", t.shape())];
    }
    let (bits, bytes): (Vec<u64>, Vec<u8>) = match rec["dtype"].as_str().unwrap() {
        "float32" => {
            assert_eq!(t.dtype(), DType::F32, "dtype");
            let v = t.contiguous().to_vec::<f32>();
            (
                v.iter().map(|x| x.to_bits() as u64).collect(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        }
        "float64" => {
            assert_eq!(t.dtype(), DType::F64, "dtype");
            let v = t.contiguous().to_vec::<f64>();
            (
                v.iter().map(|x| x.to_bits()).collect(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        }
        d => panic!("unexpected dtype {d}"),
    };
    let f32s = rec["dtype"] == "float32";
    let want = |e: &Value| {
        if f32s {
            (float(e) as f32).to_bits() as u64
        } else {
            float(e).to_bits()
        }
    };
    let mut errs = Vec::new();
    let mut compare = |i: usize, e: &Value| {
        if bits[i] != want(e) && errs.len() < 5 {
            errs.push(format!("[{i}] kiln bits {:#x} torch {e}", bits[i]));
        }
    };
    if let Some(values) = rec["values"].as_array() {
        values.iter().enumerate().for_each(|(i, e)| compare(i, e));
    } else {
        let n = bits.len();
        let head = rec["head"].as_array().unwrap();
        let tail = rec["tail"].as_array().unwrap();
        head.iter().enumerate().for_each(|(i, e)| compare(i, e));
        tail.iter()
            .enumerate()
            .for_each(|(i, e)| compare(n - tail.len() + i, e));
        if fnv1a64(&bytes) != rec["fnv"].as_str().unwrap() {
            errs.push("hash of all elements differs".into());
        }
    }
    errs
}

/// Asserts `t` equals the recorded tensor bit for bit.
pub fn assert_bits(t: &Tensor, rec: &Value, ctx: &str) {
    let errs = mismatches(t, rec);
    assert!(errs.is_empty(), "{ctx}: {}", errs.join("; "));
}

/// Asserts the default generator's next three f32 draws are the recorded `after` ones.
pub fn assert_after(rec: &Value, ctx: &str) {
    let got: Vec<f64> = Tensor::rand(&[3])
        .to_vec::<f32>()
        .into_iter()
        .map(f64::from)
        .collect();
    assert_eq!(got, floats(rec), "{ctx}: draws after differ");
}
