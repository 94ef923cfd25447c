//! `Display` output checked against PyTorch's repr (tests/fixtures/display.json, made by
//! scripts/fixtures/gen_display.py).

use kiln::{DType, Tensor};
use serde_json::Value;

fn build(case: &Value) -> Tensor {
    let shape: Vec<usize> = case["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f64> = case["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_f64()
                .unwrap_or_else(|| v.as_str().unwrap().parse().unwrap())
        })
        .collect();
    let dtype = match case["dtype"].as_str().unwrap() {
        "f32" => DType::F32,
        "f64" => DType::F64,
        "i64" => DType::I64,
        "u8" => DType::U8,
        "bool" => DType::Bool,
        other => panic!("unknown dtype {other}"),
    };
    let t = Tensor::from_vec(data, &shape).to_dtype(dtype);
    if case["requires_grad"].as_bool().unwrap() {
        t.requires_grad_(true)
    } else {
        t
    }
}

#[test]
fn display_matches_pytorch_repr() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/display.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let mut failures = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        let got = format!("{}", build(case));
        let want = case["repr"].as_str().unwrap();
        if got != want {
            failures.push(format!(
                "{}:\n  want {want:?}\n  got  {got:?}",
                case["name"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn grad_fn_suffix_names_the_node() {
    let a = kiln::tensor(&[1.0, 2.0]).requires_grad_(true);
    let y = &a * 2.0;
    assert_eq!(format!("{y}"), "tensor([2., 4.], grad_fn=<MulBackward0>)");
}
