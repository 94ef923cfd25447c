//! Every op's forward values and gradients against PyTorch, in f32 and f64
//! (tests/fixtures/ops.json, made by scripts/fixtures/gen_ops.py), including the edge
//! cases: NaN and infinities (written as the strings "nan", "inf", "-inf"), clamp at its
//! bounds, and max_dim/min_dim on every dim.

use kiln::{DType, Tensor};
use serde_json::Value;

fn arg_i(case: &Value, k: &str) -> isize {
    case["args"][k]
        .as_i64()
        .unwrap_or_else(|| panic!("missing arg {k}")) as isize
}

fn arg_f(case: &Value, k: &str) -> f64 {
    case["args"][k]
        .as_f64()
        .unwrap_or_else(|| panic!("missing arg {k}"))
}

fn arg_shape(case: &Value, k: &str) -> Vec<usize> {
    case["args"][k]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// A fixture number: a JSON number, or "nan", "inf", "-inf" for the values JSON lacks.
fn num(v: &Value) -> f64 {
    match v.as_str() {
        Some("nan") => f64::NAN,
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        Some(s) => panic!("bad fixture number {s:?}"),
        None => v.as_f64().unwrap(),
    }
}

/// Whether `got` matches PyTorch's `want`: NaN only where PyTorch has NaN, infinities
/// exactly, finite values within `atol + rtol |want|`.
fn matches(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= atol + rtol * want.abs()
}

/// Runs the kiln equivalent of the fixture's op, or `None` if kiln has no such op.
/// Edge cases name their op in `args.op`, and may permute the input first (`args.permute`).
fn run(name: &str, c: &Value, x: &[Tensor]) -> Option<Tensor> {
    let dim = || arg_i(c, "dim");
    let keepdim = || c["args"]["keepdim"].as_bool().unwrap_or(false);
    let name = c["args"]["op"].as_str().unwrap_or(name);
    let mut x = x.to_vec();
    if c["args"]["permute"].is_array() {
        let d: Vec<isize> = arg_shape(c, "permute")
            .iter()
            .map(|&v| v as isize)
            .collect();
        x[0] = x[0].permute(&d);
    }
    let opt_dim = || c["args"]["dim"].as_i64().map(|d| d as isize);
    Some(match name {
        "add" => &x[0] + &x[1],
        "sub" => &x[0] - &x[1],
        "mul" | "mul_transposed" => &x[0] * &x[1],
        "div" => &x[0] / &x[1],
        "pow" => x[0].pow(&x[1]),
        "minimum" => x[0].minimum(&x[1]),
        "maximum" => x[0].maximum(&x[1]),
        "neg" => -&x[0],
        "exp" => x[0].exp(),
        "tanh" => x[0].tanh(),
        "sigmoid" => x[0].sigmoid(),
        "relu" => x[0].relu(),
        "abs" => x[0].abs(),
        "sin" => x[0].sin(),
        "cos" => x[0].cos(),
        "sign" => x[0].sign(),
        "log" => x[0].log(),
        "log1p" => x[0].log1p(),
        "sqrt" => x[0].sqrt(),
        "rsqrt" => x[0].rsqrt(),
        "pow_scalar" => x[0].pow_scalar(arg_f(c, "e")),
        "clamp" => x[0].clamp(c["args"]["min"].as_f64(), c["args"]["max"].as_f64()),
        "clamp_min" => x[0].clamp_min(arg_f(c, "min")),
        "clamp_max" => x[0].clamp_max(arg_f(c, "max")),
        "matmul_2d"
        | "matmul_1d_1d"
        | "matmul_1d_2d"
        | "matmul_2d_1d"
        | "matmul_batched_broadcast"
        | "matmul_batched"
        | "matmul_transposed" => x[0].matmul(&x[1]),
        "sum" => x[0].sum(),
        "sum_dim" => x[0].sum_dims(&[dim()], c["args"]["keepdim"].as_bool().unwrap()),
        "mean" => x[0].mean(),
        "mean_dim" => x[0].mean_dims(&[dim()], c["args"]["keepdim"].as_bool().unwrap()),
        "reshape" | "reshape_transposed" => x[0].reshape(&arg_shape(c, "shape")),
        "permute" => {
            let d: Vec<isize> = arg_shape(c, "dims").iter().map(|&v| v as isize).collect();
            x[0].permute(&d)
        }
        "transpose" => x[0].transpose(0, 1),
        "expand" => x[0].expand(&arg_shape(c, "shape")),
        "masked_fill" => {
            x[0].masked_fill(&x[0].gt_scalar(arg_f(c, "threshold")), arg_f(c, "value"))
        }
        "where" => Tensor::where_(&x[0].gt_scalar(0.0), &x[0], &x[1]),
        "leaky_relu" => x[0].leaky_relu(arg_f(c, "slope")),
        "gelu" => x[0].gelu(),
        "gelu_tanh" => x[0].gelu_tanh(),
        "softplus" => x[0].softplus(1.0, 20.0),
        "prod" => x[0].prod(),
        "prod_dim" => x[0].prod_dim(dim(), false),
        "max_dim" => x[0].max_dim(dim(), keepdim()).0,
        "min_dim" => x[0].min_dim(dim(), keepdim()).0,
        "max_dim_idx" => x[0].max_dim(dim(), keepdim()).1,
        "min_dim_idx" => x[0].min_dim(dim(), keepdim()).1,
        "amax" => x[0].amax(&[dim()], false),
        "amin" => x[0].amin(&[dim()], false),
        "max_all" => x[0].max(),
        "min_all" => x[0].min(),
        "argmax" => x[0].argmax(opt_dim(), false),
        "argmin" => x[0].argmin(opt_dim(), false),
        "var" | "var_biased" => {
            let correction = if c["args"]["unbiased"].as_bool().unwrap() {
                1.0
            } else {
                0.0
            };
            x[0].var_dims(&[dim()], correction, false)
        }
        "std" => x[0].std(),
        "logsumexp" => x[0].logsumexp(&[dim()], false),
        "norm" => x[0].norm(2.0),
        "narrow" => x[0].narrow(dim(), arg_i(c, "start"), arg_i(c, "len") as usize),
        "slice_step" => x[0].slice(
            dim(),
            Some(arg_i(c, "start")),
            None,
            arg_i(c, "step") as usize,
        ),
        "index_select" => x[0].index_select(dim(), &x[1]),
        "gather" => x[0].gather(dim(), &x[1]),
        "scatter_add" => x[0].scatter_add(dim(), &x[1], &x[2]),
        "cat" => kiln::cat(&[x[0].clone(), x[1].clone()], dim()),
        "stack" => kiln::stack(&[x[0].clone(), x[1].clone()], dim()),
        "split" => x[0].split(arg_i(c, "size") as usize, dim())[arg_i(c, "part") as usize].clone(),
        "chunk" => {
            x[0].chunk(arg_i(c, "chunks") as usize, dim())[arg_i(c, "part") as usize].clone()
        }
        "softmax" | "softmax_dim0" => x[0].softmax(dim()),
        "log_softmax" => x[0].log_softmax(dim()),
        _ => return None,
    })
}

#[test]
fn ops_match_pytorch_values_and_gradients() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ops.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let mut failures = Vec::new();
    let mut missing = Vec::new();
    let mut checked = 0;
    for c in fixture["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let dtype = if c["dtype"] == "f32" {
            DType::F32
        } else {
            DType::F64
        };
        let (rtol, atol) = if dtype == DType::F32 {
            (1e-5, 1e-6)
        } else {
            (1e-10, 1e-12)
        };
        let inputs: Vec<Tensor> = c["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let shape: Vec<usize> = i["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                let data: Vec<f64> = i["data"].as_array().unwrap().iter().map(num).collect();
                let t = Tensor::from_vec(data, &shape);
                if i["int"].as_bool().unwrap() {
                    t.long()
                } else {
                    t.to_dtype(dtype).requires_grad_(true)
                }
            })
            .collect();
        let mut used = inputs.clone();
        if c["transpose_first"].as_bool().unwrap() {
            used[0] = inputs[0].t();
        }
        let Some(out) = run(name, c, &used) else {
            missing.push(name.to_string());
            continue;
        };
        checked += 1;
        let close = |got: &[f64], want: &[f64], what: &str, failures: &mut Vec<String>| {
            if got.len() != want.len() {
                failures.push(format!(
                    "{name} {}: {what} has {} values, want {}",
                    c["dtype"],
                    got.len(),
                    want.len()
                ));
                return;
            }
            for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
                if !matches(g, w, rtol, atol) {
                    failures.push(format!(
                        "{name} {}: {what}[{k}] = {g}, PyTorch {w}",
                        c["dtype"]
                    ));
                    return;
                }
            }
        };
        let want_shape: Vec<usize> = c["out_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        if out.shape() != want_shape.as_slice() {
            failures.push(format!(
                "{name}: shape {:?}, PyTorch {want_shape:?}",
                out.shape()
            ));
            continue;
        }
        let want_dtype = if c["out_int"].as_bool().unwrap_or(false) {
            DType::I64
        } else {
            dtype
        };
        assert_eq!(out.dtype(), want_dtype, "{name}: output dtype");
        let want: Vec<f64> = c["out"].as_array().unwrap().iter().map(num).collect();
        close(&out.to_vec::<f64>(), &want, "output", &mut failures);
        if let Some(grads) = c["grads"].as_array() {
            let n = out.numel();
            let w = Tensor::from_vec(
                (0..n)
                    .map(|i| 0.5 + ((i * 7919) % 13) as f64 / 13.0)
                    .collect(),
                out.shape(),
            );
            (out.double() * w).sum().backward();
            for (k, g) in grads.iter().enumerate() {
                let Some(g) = g.as_array() else { continue };
                let want: Vec<f64> = g.iter().map(num).collect();
                match inputs[k].grad() {
                    Some(got) => close(
                        &got.to_vec::<f64>(),
                        &want,
                        &format!("grad[{k}]"),
                        &mut failures,
                    ),
                    None => failures.push(format!("{name}: input {k} got no gradient")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        missing.is_empty(),
        "fixture ops kiln does not run: {missing:?}"
    );
    eprintln!("checked {checked} fixture cases against PyTorch");
}

#[test]
fn fixture_comparison_fails_on_nan_and_infinity_mismatches() {
    assert!(matches(f64::NAN, f64::NAN, 1e-5, 1e-6));
    assert!(!matches(0.0, f64::NAN, 1e-5, 1e-6));
    assert!(!matches(f64::NAN, 0.0, 1e-5, 1e-6));
    assert!(!matches(f64::INFINITY, f64::NEG_INFINITY, 1e-5, 1e-6));
    assert!(!matches(1e300, f64::INFINITY, 1e-5, 1e-6));
    assert!(matches(1.0 + 1e-7, 1.0, 1e-5, 1e-6));
    assert_eq!(num(&Value::from("-inf")), f64::NEG_INFINITY);
}
