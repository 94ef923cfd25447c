//! PyTorch checkpoint files (`torch.save` / `torch.load`), both ways.
//!
//! tests/fixtures/pt/*.pt{,h} were written by real PyTorch (scripts/fixtures/gen_pt.py)
//! and expected.json records what `torch.load(weights_only=True)` found in them.
//! tests/fixtures/pt/kiln_written/ holds files kiln wrote (this file's
//! `kiln_written_files_match_the_committed_bytes`, run with KILN_WRITE_PT_FIXTURES=1,
//! writes them) and kiln_written.json what PyTorch read from them.

use kiln::Tensor;
use kiln::io::{
    Checkpoint, FileFormat, IoError, PtValue, load_pt, load_state_dict_file, parse_pt,
    save_state_dict, serialize_pt,
};
use kiln::nn::{Module, StateDict};
use kiln::optim::{GroupState, OptimizerState, SchedulerState};
use kiln::tensor::DType;
use kiln::tensor::random::Generator;
use proptest::prelude::*;
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

// ---- allocation bound: the largest single allocation this thread made -------------

struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(n: usize) {
    let _ = LARGEST.try_with(|c| {
        if n > c.get() {
            c.set(n)
        }
    });
}

// SAFETY: forwards to the system allocator; only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size());
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note(n);
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Parses `bytes`, asserting that no single allocation exceeds what the input's size
/// allows (a few times its length, plus a small constant).
fn parse_bounded(bytes: &[u8]) -> Result<PtValue, IoError> {
    LARGEST.with(|c| c.set(0));
    let r = parse_pt(Path::new("fuzz.pt"), bytes);
    let largest = LARGEST.with(|c| c.get());
    assert!(
        largest <= 64 * bytes.len() + (1 << 16),
        "parsing {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    r
}

// ---- fixtures ----------------------------------------------------------------------

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pt")
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).expect("fixture JSON");
    serde_json::from_str(&text).expect("valid JSON")
}

fn kiln_dtype(torch: &str) -> DType {
    match torch {
        "float32" | "float16" | "bfloat16" => DType::F32,
        "float64" => DType::F64,
        "int64" | "int32" | "int16" | "int8" => DType::I64,
        "uint8" => DType::U8,
        "bool" => DType::Bool,
        other => panic!("no kiln dtype for {other}"),
    }
}

fn torch_dtype(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::I64 => "int64",
        DType::U8 => "uint8",
        DType::Bool => "bool",
    }
}

/// Asserts that `got` is the value PyTorch described as `want`. `exact_dtype`: the
/// description is of a file kiln wrote, so dtypes must match kiln's one for one.
fn check(at: &str, got: &PtValue, want: &Value, exact_dtype: bool) {
    let ty = want["type"].as_str().unwrap();
    let items = |w: &Value| w["items"].as_array().unwrap().clone();
    match (ty, got) {
        ("none", PtValue::None) => {}
        ("bool", PtValue::Bool(b)) => assert_eq!(Some(*b), want["value"].as_bool(), "{at}"),
        ("int", PtValue::Int(i)) => assert_eq!(Some(*i), want["value"].as_i64(), "{at}"),
        ("float", PtValue::Float(f)) => {
            let w = match &want["value"] {
                Value::String(s) => s.parse::<f64>().unwrap(),
                v => v.as_f64().unwrap(),
            };
            assert!(
                f.to_bits() == w.to_bits() || (f.is_nan() && w.is_nan()),
                "{at}: {f} vs {w}"
            );
        }
        ("str", PtValue::Str(s)) => assert_eq!(Some(s.as_str()), want["value"].as_str(), "{at}"),
        ("bytes", PtValue::Bytes(b)) => {
            let w: Vec<u8> = want["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(b, &w, "{at}");
        }
        ("list", PtValue::List(v)) | ("tuple", PtValue::Tuple(v)) => {
            let w = items(want);
            assert_eq!(v.len(), w.len(), "{at}: length");
            for (i, (g, w)) in v.iter().zip(&w).enumerate() {
                check(&format!("{at}[{i}]"), g, w, exact_dtype);
            }
        }
        ("dict", PtValue::Dict(v)) | ("ordered_dict", PtValue::OrderedDict(v)) => {
            let w = items(want);
            assert_eq!(v.len(), w.len(), "{at}: number of entries");
            for ((gk, gv), pair) in v.iter().zip(&w) {
                check(&format!("{at} key"), gk, &pair[0], exact_dtype);
                check(
                    &format!("{at}[{}]", pair[0]["value"]),
                    gv,
                    &pair[1],
                    exact_dtype,
                );
            }
        }
        ("tensor", PtValue::Tensor(t)) => {
            let dtype = want["dtype"].as_str().unwrap();
            if exact_dtype {
                assert_eq!(torch_dtype(t.dtype()), dtype, "{at}: dtype");
            } else {
                assert_eq!(t.dtype(), kiln_dtype(dtype), "{at}: {dtype} maps to");
            }
            let shape: Vec<usize> = want["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(t.size(), shape, "{at}: shape");
            let w: Vec<f64> = want["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let g: Vec<f64> = match t.dtype() {
                DType::I64 => t.to_vec::<i64>().iter().map(|&v| v as f64).collect(),
                DType::Bool => t.to_vec::<bool>().iter().map(|&v| v as u8 as f64).collect(),
                _ => t.to_vec::<f64>(),
            };
            assert_eq!(g.len(), w.len(), "{at}: numel");
            for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "{at}: element {i} is {a}, PyTorch {b}"
                );
            }
        }
        (ty, got) => panic!("{at}: PyTorch has a {ty}, kiln {}", got.kind()),
    }
}

const LOADABLE: [&str; 5] = [
    "state_dict.pt",
    "checkpoint.pth",
    "dtypes.pt",
    "views.pt",
    "parameter.pt",
];

#[test]
fn pytorch_files_load_as_pytorch_reads_them() {
    let expected = json("expected.json");
    for name in LOADABLE {
        let v = load_pt(&dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &v, &expected[name], false);
    }
}

#[test]
fn shared_storages_keep_every_view_and_tied_tensors_stay_one() {
    let v = load_pt(&dir().join("views.pt")).unwrap();
    let get = |k: &str| v.get(k).unwrap().as_tensor().unwrap().to_vec::<f32>();
    assert_eq!(get("slice"), (2..10).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(get("strided")[..3], [1.0, 3.0, 5.0]);
    assert_eq!(get("transposed")[..4], [0.0, 6.0, 12.0, 18.0]);
    // The optimizer in checkpoint.pth names parameters by index, the model by key.
    let ck = load_pt(&dir().join("checkpoint.pth")).unwrap();
    let groups = ck.get("optimizer").unwrap().get("param_groups").unwrap();
    let params = groups.as_seq().unwrap()[0].get("params").unwrap();
    assert_eq!(params.as_seq().unwrap().len(), 6);
}

#[test]
fn a_pytorch_state_dict_loads_through_the_extension_dispatch() {
    let sd = load_state_dict_file(&dir().join("state_dict.pt")).unwrap();
    let keys: Vec<&String> = sd.keys().collect();
    assert_eq!(keys[0], "0.weight");
    assert_eq!(sd.get("1.num_batches_tracked").unwrap().dtype(), DType::I64);
    assert_eq!(sd.get("3.weight").unwrap().size(), [2, 4]);
    // A nested checkpoint is not a state dict; the message says how to get one.
    let e = load_state_dict_file(&dir().join("checkpoint.pth"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'model'") && e.contains("load_pt"), "{e}");
}

#[test]
fn hostile_pickles_are_refused_naming_the_global() {
    let expected = json("expected.json");
    for (name, global) in [
        ("malicious_os_system.pt", "posix.system"),
        ("malicious_eval.pt", "builtins.eval"),
        ("unknown_global.pt", "fractions.Fraction"),
    ] {
        let refused = expected[name]["global"].as_str().unwrap();
        assert!(global.ends_with(refused), "PyTorch refused {refused}");
        match load_pt(&dir().join(name)) {
            Err(IoError::ForbiddenGlobal { global: g, .. }) => assert_eq!(g, global, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        let msg = load_state_dict_file(&dir().join(name))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(global) && msg.contains("weights_only"),
            "{msg}"
        );
    }
}

#[test]
fn the_legacy_format_is_a_clear_error() {
    let e = load_pt(&dir().join("legacy.pt")).unwrap_err();
    assert!(matches!(e, IoError::PtUnsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("legacy torch.save format"), "{e}");
    let e = parse_pt(Path::new("x.pt"), b"not a zip").unwrap_err();
    assert!(matches!(e, IoError::PtFormat { .. }), "{e:?}");
}

// ---- hand-made archives ------------------------------------------------------------

/// An archive as torch.save lays one out, around any pickle.
fn archive(pkl: &[u8], storages: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("archive/data.pkl", o).unwrap();
    w.write_all(pkl).unwrap();
    for (k, d) in storages {
        w.start_file(format!("archive/data/{k}"), o).unwrap();
        w.write_all(d).unwrap();
    }
    w.start_file("archive/version", o).unwrap();
    w.write_all(b"3\n").unwrap();
    w.finish().unwrap().into_inner()
}

/// A pickle of `_rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), 0,
/// size, stride, False, OrderedDict())`.
fn tensor_pickle(numel: u32, size: &[u32], stride: &[u32]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\0\0\0storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\nX\x01\0\0\x000X\x03\0\0\0cpuJ");
    p.extend_from_slice(&numel.to_le_bytes());
    p.extend_from_slice(b"tQK\0(");
    for s in size {
        p.push(b'J');
        p.extend_from_slice(&s.to_le_bytes());
    }
    p.extend_from_slice(b"t(");
    for s in stride {
        p.push(b'J');
        p.extend_from_slice(&s.to_le_bytes());
    }
    p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtR.");
    p
}

#[test]
fn hand_made_tensor_pickles_load_and_lying_sizes_are_errors() {
    let data: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let ok = archive(&tensor_pickle(6, &[3, 2], &[1, 3]), &[("0", &data)]);
    let t = parse_bounded(&ok).unwrap();
    assert_eq!(
        t.as_tensor().unwrap().to_vec::<f32>(),
        [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
    // A storage claiming 10^9 elements in a tiny file: refused, nothing allocated.
    let e = parse_bounded(&archive(
        &tensor_pickle(1_000_000_000, &[2], &[1]),
        &[("0", &data)],
    ));
    assert!(e.unwrap_err().to_string().contains("bytes"));
    // A broadcast view of 10^12 elements over one element.
    let one = 1f32.to_le_bytes();
    let e = parse_bounded(&archive(
        &tensor_pickle(1, &[1_000_000, 1_000_000], &[0, 0]),
        &[("0", &one)],
    ));
    assert!(e.unwrap_err().to_string().contains("larger than the file"));
    // A view reaching past its storage.
    let e = parse_bounded(&archive(
        &tensor_pickle(6, &[4, 2], &[1, 3]),
        &[("0", &data)],
    ));
    assert!(e.unwrap_err().to_string().contains("past its storage"));
    // A missing storage record.
    let e = parse_bounded(&archive(&tensor_pickle(6, &[6], &[1]), &[]));
    assert!(e.unwrap_err().to_string().contains("no record"));
}

#[test]
fn deep_nesting_and_cycles_neither_overflow_the_stack_nor_hang() {
    // 300,000 lists each appended into the one before: [[[[...]]]].
    let n = 300_000;
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    let e = parse_bounded(&archive(&p, &[])).unwrap_err().to_string();
    assert!(e.contains("nested deeper"), "{e}");
    // The same depth as bad REDUCE arguments, dropped mid-parse.
    let mut p = b"\x80\x02ccollections\nOrderedDict\n".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.extend_from_slice(b"\x85R.");
    assert!(parse_bounded(&archive(&p, &[])).is_err());
    // A list that contains itself, memoised: l = []; l.append(l).
    let p = b"\x80\x02]q\x00h\x00a.";
    let e = parse_bounded(&archive(p, &[])).unwrap_err().to_string();
    assert!(e.contains("nested deeper"), "{e}");
}

#[test]
fn big_endian_deflated_and_torchscript_archives() {
    // byteorder 'big' (torch.save on a big-endian machine), records deflated.
    let data: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("a/data.pkl", &tensor_pickle(2, &[2], &[1])[..]),
        ("a/byteorder", b"big"),
        ("a/data/0", &data),
    ] {
        w.start_file(name, o).unwrap();
        w.write_all(bytes).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    let t = parse_bounded(&bytes).unwrap();
    assert_eq!(t.as_tensor().unwrap().to_vec::<f32>(), [1.5, -2.0]);
    // A TorchScript archive (torch.jit.save) is named as such.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in ["m/data.pkl", "m/constants.pkl"] {
        w.start_file(name, o).unwrap();
        w.write_all(b"\x80\x02N.").unwrap();
    }
    let e = parse_bounded(&w.finish().unwrap().into_inner()).unwrap_err();
    assert!(e.to_string().contains("TorchScript"), "{e}");
}

#[test]
fn memo_references_share_containers_and_cannot_explode() {
    // {'a': d, 'b': d} with d filled after it was memoised, as Python pickles it.
    let p = b"\x80\x02}q\x00(X\x01\0\0\0a}q\x01X\x01\0\0\0xK\x01sX\x01\0\0\0bh\x01u.";
    let v = parse_bounded(&archive(p, &[])).unwrap();
    assert_eq!(v.get("b").unwrap().get("x").unwrap().as_int(), Some(1));
    // l = [l0]; l1 = [l0, l0]; ... 40 doublings: 2^40 values if expanded naively.
    let mut p = b"\x80\x02]q\x00".to_vec();
    for i in 1..=40u8 {
        p.extend_from_slice(&[b']', b'(', b'h', i - 1, b'h', i - 1, b'e', b'q', i]);
        p.extend_from_slice(b"0"); // POP: keep the stack flat
    }
    // POP is not an opcode PyTorch accepts: the first one stops the parse.
    let e = parse_bounded(&archive(&p, &[])).unwrap_err().to_string();
    assert!(e.contains("opcode 0x30"), "{e}");
    let mut p = b"\x80\x02]q\x00".to_vec();
    for i in 1..=40u8 {
        p.extend_from_slice(&[b']', b'(', b'h', i - 1, b'h', i - 1, b'e', b'q', i]);
    }
    p.push(b'.');
    let e = parse_bounded(&archive(&p, &[])).unwrap_err().to_string();
    assert!(e.contains("more values than its size allows"), "{e}");
    // One 4 KB string referenced 5000 times: 20 MB of copies from 14 KB of pickle.
    let mut p = b"\x80\x02X\x00\x10\0\0".to_vec();
    p.extend(std::iter::repeat_n(b'a', 4096));
    p.extend_from_slice(b"q\x00](");
    for _ in 0..5000 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b"e.");
    let e = parse_bounded(&archive(&p, &[])).unwrap_err().to_string();
    assert!(e.contains("more values than its size allows"), "{e}");
    // A tuple key of tuples of tuples built from memo references.
    let mut p = b"\x80\x02}(Nq\x00K\x01".to_vec();
    for _ in 0..6 {
        p.extend_from_slice(b"(h\x00h\x00h\x00h\x00tq\x00K\x01");
    }
    p.extend_from_slice(b"u.");
    let e = parse_bounded(&archive(&p, &[])).unwrap_err().to_string();
    assert!(e.contains("key is too large"), "{e}");
}

// ---- kiln writes, PyTorch reads ----------------------------------------------------

fn t32(v: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape)
}

fn kiln_state_dict() -> StateDict {
    let mut sd = StateDict::new();
    let w = t32((0..12).map(|i| i as f32 * 0.25 - 1.0).collect(), &[4, 3]);
    let b = t32(vec![0.5, -0.5, 1e-3, 3.0e38], &[4]);
    sd.insert("0.weight", w);
    sd.insert("0.bias", b.shallow_clone());
    sd.insert("1.num_batches_tracked", Tensor::from_vec(vec![5i64], &[]));
    sd.insert("1.running_mean", Tensor::from_vec(vec![0.1f64, -2.0], &[2]));
    sd.insert("mask", Tensor::from_vec(vec![true, false, true], &[3]));
    sd.insert("pixels", Tensor::from_vec(vec![0u8, 7, 128, 255], &[2, 2]));
    sd.insert("empty", t32(vec![], &[0, 3]));
    // The same tensor object under two keys (tied weights): one storage in the file.
    sd.insert("tied_bias", b);
    sd
}

fn kiln_checkpoint() -> Checkpoint {
    let mut model = StateDict::new();
    model.insert("weight", t32(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    model.insert("bias", t32(vec![0.0, -1.0], &[2]));
    let mut state = BTreeMap::new();
    let per = |s: f32| {
        BTreeMap::from([
            ("step".to_string(), t32(vec![3.0], &[])),
            ("exp_avg".to_string(), t32(vec![s; 2], &[2])),
        ])
    };
    state.insert(0, per(0.5));
    state.insert(1, per(0.25));
    let options = BTreeMap::from([
        ("lr".to_string(), 1e-3),
        ("beta1".to_string(), 0.9),
        ("beta2".to_string(), 0.999),
        ("amsgrad".to_string(), 0.0),
    ]);
    Checkpoint {
        model,
        optimizer: OptimizerState {
            state,
            param_groups: vec![GroupState {
                options,
                params: vec![0, 1],
            }],
        },
        scheduler: Some(SchedulerState {
            last_epoch: 3,
            base_lrs: vec![1e-3],
            last_lr: vec![5e-4],
            values: BTreeMap::from([("best".to_string(), f64::INFINITY)]),
        }),
        epoch: 7,
        rng: Generator::new(42),
        extra: BTreeMap::from([("run".to_string(), "démo".to_string())]),
    }
}

/// nn.Linear(3, 2) with fixed weights.
fn kiln_linear() -> kiln::nn::Linear {
    let lin = kiln::nn::Linear::new(3, 2);
    let mut sd = StateDict::new();
    sd.insert(
        "weight",
        t32(vec![0.5, -1.0, 0.25, 2.0, 0.125, -0.75], &[2, 3]),
    );
    sd.insert("bias", t32(vec![0.1, -0.2], &[2]));
    lin.load_state_dict(&sd).unwrap();
    lin
}

fn kiln_values() -> PtValue {
    use PtValue::*;
    let s = |x: &str| Str(x.into());
    Dict(vec![
        (s("none"), None),
        (s("bools"), List(vec![Bool(true), Bool(false)])),
        (
            s("ints"),
            List(
                [
                    0,
                    255,
                    256,
                    65535,
                    65536,
                    -1,
                    -129,
                    1 << 31,
                    1 << 40,
                    -(1 << 62),
                    i64::MIN,
                ]
                .into_iter()
                .map(Int)
                .collect(),
            ),
        ),
        (
            s("floats"),
            List(vec![Float(0.1), Float(-2.5e300), Float(-0.0)]),
        ),
        (s("str"), s("ünïcödé ✓")),
        (s("bytes"), Bytes(vec![0, 1, 200, 255])),
        (
            s("tuples"),
            List(vec![
                Tuple(vec![]),
                Tuple(vec![Int(1)]),
                Tuple(vec![Int(1), s("b")]),
                Tuple(vec![Int(1), Int(2), Int(3)]),
                Tuple(vec![Int(1), Int(2), Int(3), Int(4)]),
            ]),
        ),
        (Int(3), Dict(vec![(Int(-4), s("int keys"))])),
        (
            s("scalar"),
            PtValue::Tensor(kiln::Tensor::from_vec(vec![2.5f64], &[])),
        ),
    ])
}

#[test]
fn kiln_written_files_match_the_committed_bytes() {
    let ck = kiln_checkpoint();
    let dir = dir().join("kiln_written");
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<(&str, Vec<u8>)> = {
        let lin_path = tmp.path().join("linear.pth");
        save_state_dict(&lin_path, &kiln_linear().state_dict()).unwrap();
        let sd_path = tmp.path().join("state_dict.pt");
        save_state_dict(&sd_path, &kiln_state_dict()).unwrap();
        let ck_path = tmp.path().join("checkpoint.pth");
        ck.save(&ck_path).unwrap();
        vec![
            ("state_dict.pt", std::fs::read(&sd_path).unwrap()),
            ("checkpoint.pth", std::fs::read(&ck_path).unwrap()),
            ("values.pt", serialize_pt(&kiln_values()).unwrap()),
            ("linear.pth", std::fs::read(&lin_path).unwrap()),
        ]
    };
    if std::env::var_os("KILN_WRITE_PT_FIXTURES").is_some() {
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &files {
        let committed = std::fs::read(dir.join(name)).unwrap();
        assert!(
            &committed == bytes,
            "{name}: kiln now writes different bytes"
        );
    }
}

#[test]
fn pytorch_read_the_kiln_written_files_as_kiln_meant() {
    let got = json("kiln_written.json");
    let sd = PtValue::from_state_dict(&kiln_state_dict());
    check("state_dict.pt", &sd, &got["state_dict.pt"]["value"], true);
    let records = got["state_dict.pt"]["records"].as_array().unwrap();
    // Eight tensors, seven storages: the tied bias is written once.
    let storages = records
        .iter()
        .filter(|r| r.as_str().unwrap().starts_with("archive/data/"))
        .count();
    assert_eq!(storages, 7);
    check(
        "values.pt",
        &kiln_values(),
        &got["values.pt"]["value"],
        true,
    );
    // The checkpoint: PyTorch saw the nested dict kiln reads back.
    let ck = &got["checkpoint.pth"]["value"];
    let epoch = ck["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0]["value"] == "epoch")
        .unwrap();
    assert_eq!(epoch[1]["value"], 7);
    let back = Checkpoint::load(&dir().join("kiln_written/checkpoint.pth")).unwrap();
    let want = kiln_checkpoint();
    assert_eq!(back.epoch, 7);
    assert_eq!(back.extra, want.extra);
    assert_eq!(back.rng.state_bytes(), want.rng.state_bytes());
    assert_eq!(back.scheduler.unwrap().values["best"], f64::INFINITY);
    assert_eq!(
        back.optimizer.param_groups[0].options,
        want.optimizer.param_groups[0].options
    );
    assert_eq!(
        back.optimizer.state[&1]["exp_avg"].to_vec::<f32>(),
        want.optimizer.state[&1]["exp_avg"].to_vec::<f32>()
    );
}

#[test]
fn save_and_load_choose_the_format_by_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let sd = kiln_state_dict();
    for (name, zip) in [
        ("m.safetensors", false),
        ("m.pt", true),
        ("m.pth", true),
        ("m.bin", true),
        ("m.weights", false),
    ] {
        let p = tmp.path().join(name);
        save_state_dict(&p, &sd).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.starts_with(b"PK"), zip, "{name}");
        assert_eq!(
            FileFormat::for_loading(&p, &bytes),
            if zip {
                FileFormat::PyTorch
            } else {
                FileFormat::Safetensors
            }
        );
        let back = load_state_dict_file(&p).unwrap();
        // safetensors stores its tensors sorted; a .pt file keeps the model's order.
        let (mut a, mut b): (Vec<_>, Vec<_>) = (back.keys().collect(), sd.keys().collect());
        if !zip {
            a.sort();
            b.sort();
        }
        assert_eq!(a, b, "{name}");
        assert_eq!(
            back.get("pixels").unwrap().to_vec::<u8>(),
            sd.get("pixels").unwrap().to_vec::<u8>()
        );
    }
    // A .pt file renamed to an unknown extension is still recognised.
    let p = tmp.path().join("renamed.model");
    std::fs::copy(dir().join("state_dict.pt"), &p).unwrap();
    assert_eq!(load_state_dict_file(&p).unwrap().keys().count(), 9);
    // Checkpoints too: safetensors and pt round-trip to the same content.
    let ck = kiln_checkpoint();
    for name in ["ck.safetensors", "ck.pt"] {
        let p = tmp.path().join(name);
        ck.save(&p).unwrap();
        let back = Checkpoint::load(&p).unwrap();
        assert_eq!(back.model.keys().collect::<Vec<_>>(), ["weight", "bias"]);
        assert_eq!(back.optimizer.state.len(), 2);
    }
}

// ---- fuzzing: no panic, bounded allocation ------------------------------------------

#[test]
fn every_truncation_of_a_fixture_is_an_error() {
    let bytes = std::fs::read(dir().join("views.pt")).unwrap();
    for n in 0..bytes.len() {
        assert!(
            parse_bounded(&bytes[..n]).is_err(),
            "truncated to {n} bytes"
        );
    }
    assert!(parse_bounded(&bytes).is_ok());
}

#[test]
fn every_truncation_of_a_pickle_is_an_error() {
    let bytes = std::fs::read(dir().join("views.pt")).unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let mut pkl = Vec::new();
    std::io::Read::read_to_end(&mut z.by_name("views/data.pkl").unwrap(), &mut pkl).unwrap();
    let mut storages: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let fname = f.name().unwrap().to_string();
        if let Some(k) = fname.strip_prefix("views/data/") {
            let k = k.to_string();
            let mut d = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut d).unwrap();
            storages.push((k, d));
        }
    }
    let st: Vec<(&str, &[u8])> = storages.iter().map(|(k, d)| (k.as_str(), &d[..])).collect();
    assert!(parse_bounded(&archive(&pkl, &st)).is_ok());
    for n in 0..pkl.len() {
        assert!(
            parse_bounded(&archive(&pkl[..n], &st)).is_err(),
            "pickle cut to {n}"
        );
    }
}

fn fixture_bytes() -> Vec<Vec<u8>> {
    [
        "state_dict.pt",
        "dtypes.pt",
        "views.pt",
        "malicious_os_system.pt",
    ]
    .iter()
    .map(|n| std::fs::read(dir().join(n)).unwrap())
    .collect()
}

fn pickle_of(name: &str) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let stem = name.split('.').next().unwrap();
    let mut pkl = Vec::new();
    let mut storages = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let fname = f.name().unwrap().to_string();
        let mut d = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut d).unwrap();
        if fname == format!("{stem}/data.pkl") {
            pkl = d;
        } else if let Some(k) = fname.strip_prefix(&format!("{stem}/data/")) {
            storages.push((k.to_string(), d));
        }
    }
    (pkl, storages)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn flipped_archive_bytes_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut b = fixture_bytes().swap_remove(which);
        for (at, x) in flips {
            let n = b.len();
            b[at % n] ^= x | 1;
        }
        let _ = parse_bounded(&b);
    }

    #[test]
    fn flipped_pickle_bytes_never_panic(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let name = ["state_dict.pt", "dtypes.pt", "views.pt"][which];
        let (mut pkl, storages) = pickle_of(name);
        for (at, x) in flips {
            let n = pkl.len();
            pkl[at % n] ^= x | 1;
        }
        pkl.truncate(cut % (pkl.len() + 1) + pkl.len() / 2);
        let st: Vec<(&str, &[u8])> = storages.iter().map(|(k, d)| (k.as_str(), &d[..])).collect();
        let _ = parse_bounded(&archive(&pkl, &st));
    }
}
