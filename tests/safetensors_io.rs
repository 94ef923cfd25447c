//! safetensors reading and writing: round trips, a file written by PyTorch, and hostile
//! bytes that must give a typed error and never a panic.

use kiln::io::{
    IoError, load_safetensors, parse_safetensors, save_safetensors, serialize_safetensors,
};
use kiln::{DType, Tensor};
use proptest::prelude::*;
use std::path::Path;

fn sample() -> Vec<(String, Tensor)> {
    vec![
        (
            "fc1.weight".into(),
            Tensor::from_vec(vec![1.5f32, -2.0, 3.25, 0.0], &[2, 2]),
        ),
        (
            "fc1.bias".into(),
            Tensor::from_vec(vec![0.5f64, -0.25], &[2]),
        ),
        ("steps".into(), Tensor::scalar(42i64)),
        ("img".into(), Tensor::from_vec(vec![0u8, 255, 9], &[3])),
        ("mask".into(), Tensor::from_vec(vec![true, false], &[2])),
        (
            "transposed".into(),
            Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).t(),
        ),
    ]
}

#[test]
fn round_trip_keeps_names_dtypes_shapes_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let tensors = sample();
    save_safetensors(&p, &tensors, None).unwrap();
    let back = load_safetensors(&p).unwrap();
    assert_eq!(back.len(), tensors.len());
    for (n1, t1) in &tensors {
        let t2 = &back
            .iter()
            .find(|(n2, _)| n2 == n1)
            .unwrap_or_else(|| panic!("{n1} missing"))
            .1;
        assert_eq!(t1.dtype(), t2.dtype());
        assert_eq!(t1.shape(), t2.shape());
        assert_eq!(t1.to_vec::<f64>(), t2.to_vec::<f64>(), "{n1}");
    }
}

#[test]
fn reads_a_file_written_by_pytorch() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let loaded = load_safetensors(&Path::new(dir).join("torch_written.safetensors")).unwrap();
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}torch_written.json")).unwrap())
            .unwrap();
    assert_eq!(loaded.len(), expect.as_object().unwrap().len());
    for (name, t) in &loaded {
        let e = &expect[name];
        let dtype = match e["dtype"].as_str().unwrap() {
            "float32" => DType::F32,
            "float64" => DType::F64,
            "int64" => DType::I64,
            "uint8" => DType::U8,
            "bool" => DType::Bool,
            d => panic!("unexpected dtype {d}"),
        };
        assert_eq!(t.dtype(), dtype, "{name}");
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        let data: Vec<f64> = e["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(t.to_vec::<f64>(), data, "{name}");
    }
}

#[test]
fn missing_file_is_a_typed_error() {
    match load_safetensors(Path::new("/nonexistent/kiln/model.safetensors")) {
        Err(IoError::Io { path, .. }) => assert!(path.ends_with("model.safetensors")),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = serialize_safetensors(&sample(), None).unwrap();
    for cut in 0..bytes.len() {
        let r = parse_safetensors(Path::new("cut"), &bytes[..cut]);
        assert!(
            matches!(r, Err(IoError::Format { .. })),
            "prefix of {cut} bytes was accepted"
        );
    }
}

#[test]
fn huge_declared_header_does_not_allocate() {
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert!(matches!(
        parse_safetensors(Path::new("h"), &bytes),
        Err(IoError::Format { .. })
    ));
}

#[test]
fn unsupported_dtype_is_named() {
    let header = br#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    match parse_safetensors(Path::new("f16"), &bytes) {
        Err(IoError::UnsupportedDtype { name, .. }) => assert_eq!(name, "x"),
        other => panic!("expected UnsupportedDtype, got {other:?}"),
    }
}

proptest! {
    // KILN_FUZZ_CASES raises the count for a long fuzzing run (see the issue notes).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("KILN_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
    ))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_safetensors(Path::new("random"), &bytes);
    }

    #[test]
    fn mutated_files_never_panic(pos in 0usize..400, val in any::<u8>(), extra in 0usize..3) {
        let mut bytes = serialize_safetensors(&sample(), None).unwrap();
        let p = pos % bytes.len();
        bytes[p] = val;
        bytes.truncate(bytes.len() - extra);
        if let Ok((tensors, _)) = parse_safetensors(Path::new("mutated"), &bytes) {
            for (_, t) in tensors {
                prop_assert_eq!(t.numel(), t.shape().iter().product::<usize>());
            }
        }
    }
}
