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
        "cat" => kiln::cat(&[x[0].shallow_clone(), x[1].shallow_clone()], dim()),
        "stack" => kiln::stack(&[x[0].shallow_clone(), x[1].shallow_clone()], dim()),
        "split" => {
            x[0].split(arg_i(c, "size") as usize, dim())[arg_i(c, "part") as usize].shallow_clone()
        }
        "chunk" => x[0].chunk(arg_i(c, "chunks") as usize, dim())[arg_i(c, "part") as usize]
            .shallow_clone(),
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

/// One operand of a promotion case: a tensor ([3, 4, 5] / [true, false, true]), a 0-d
/// tensor (2 / true), or a Python scalar (2, 2.5, True), as gen_promotion.py makes them.
enum PromoOperand {
    T(Tensor),
    S(kiln::tensor::Scalar),
}

fn dtype_of(name: &str) -> DType {
    match name {
        "f32" => DType::F32,
        "f64" => DType::F64,
        "i64" => DType::I64,
        "u8" => DType::U8,
        "bool" => DType::Bool,
        _ => panic!("unknown dtype {name}"),
    }
}

fn promo_operand(v: &Value) -> PromoOperand {
    use kiln::tensor::Scalar;
    let d = || dtype_of(v["dtype"].as_str().unwrap());
    let is_bool = v["dtype"] == "bool";
    match v["kind"].as_str().unwrap() {
        "tensor" if is_bool => PromoOperand::T(kiln::tensor(&[true, false, true])),
        "tensor" => PromoOperand::T(kiln::tensor(&[3.0, 4.0, 5.0]).to_dtype(d())),
        "zerodim" => {
            PromoOperand::T(Tensor::full(&[], if is_bool { 1.0 } else { 2.0 }).to_dtype(d()))
        }
        "int" => PromoOperand::S(Scalar::from(2)),
        "float" => PromoOperand::S(Scalar::from(2.5)),
        "bool" => PromoOperand::S(Scalar::from(true)),
        k => panic!("unknown operand kind {k}"),
    }
}

/// `a op b` in kiln: tensor methods, the `_scalar` methods for a scalar on the right, and
/// the reflected forms (`rsub_scalar`, `rdiv_scalar`, a flipped comparison) on the left.
fn promo_run(op: &str, a: &PromoOperand, b: &PromoOperand) -> Tensor {
    use PromoOperand::{S, T};
    if op == "where" {
        let cond = kiln::tensor(&[true, false, true]);
        return match (a, b) {
            (T(a), T(b)) => Tensor::where_(&cond, a, b),
            (T(a), S(b)) => Tensor::where_(&cond, a, *b),
            (S(a), T(b)) => Tensor::where_(&cond, *a, b),
            (S(_), S(_)) => unreachable!(),
        };
    }
    match (a, b) {
        (T(a), T(b)) => match op {
            "add" => a + b,
            "sub" => a - b,
            "mul" => a * b,
            "div" => a / b,
            "eq" => a.eq(b),
            "lt" => a.lt(b),
            "gt" => a.gt(b),
            "ge" => a.ge(b),
            _ => panic!("{op}"),
        },
        (T(a), S(s)) => match op {
            "add" => a.add_scalar(*s),
            "sub" => a.sub_scalar(*s),
            "mul" => a.mul_scalar(*s),
            "div" => a.div_scalar(*s),
            "eq" => a.eq_scalar(*s),
            "lt" => a.lt_scalar(*s),
            "gt" => a.gt_scalar(*s),
            "ge" => a.ge_scalar(*s),
            _ => panic!("{op}"),
        },
        (S(s), T(b)) => match op {
            "add" => b.add_scalar(*s),
            "sub" => b.rsub_scalar(*s),
            "mul" => b.mul_scalar(*s),
            "div" => b.rdiv_scalar(*s),
            "eq" => b.eq_scalar(*s),
            "lt" => b.gt_scalar(*s),
            "gt" => b.lt_scalar(*s),
            "ge" => b.le_scalar(*s),
            _ => panic!("{op}"),
        },
        (S(_), S(_)) => unreachable!(),
    }
}

/// The panic message of a `catch_unwind` result, if it panicked.
fn panic_message<T>(r: &std::thread::Result<T>) -> Option<String> {
    r.as_ref().err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// One promotion case against the fixture, run by `promo_run`: `Err` says what differs.
fn promo_case(c: &Value) -> Result<(), String> {
    promo_case_with(c, promo_run)
}

/// One promotion case against the fixture, run by `run`.
fn promo_case_with(
    c: &Value,
    run: fn(&str, &PromoOperand, &PromoOperand) -> Tensor,
) -> Result<(), String> {
    let (a, b) = (promo_operand(&c["a"]), promo_operand(&c["b"]));
    let op = c["op"].as_str().unwrap();
    let what = format!("{op}({}, {})", c["a"], c["b"]);
    let rt = match (&a, &b) {
        (PromoOperand::T(a), PromoOperand::T(b)) => a.result_type(b),
        (PromoOperand::T(a), PromoOperand::S(s)) => a.result_type(*s),
        (PromoOperand::S(s), PromoOperand::T(b)) => b.result_type(*s),
        _ => unreachable!(),
    };
    if rt != dtype_of(c["result_type"].as_str().unwrap()) {
        return Err(format!(
            "{what}: result_type {rt:?}, PyTorch {}",
            c["result_type"]
        ));
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(op, &a, &b)));
    let msg = panic_message(&r);
    if let Some(err) = c["error"].as_str() {
        // PyTorch refuses `-` with a bool operand; kiln must panic with its message.
        return match msg {
            Some(m) if m == err || m.starts_with(err) => Ok(()),
            m => Err(format!("{what}: PyTorch refuses ({err}), kiln gave {m:?}")),
        };
    }
    let got = r.map_err(|_| format!("{what}: kiln panicked ({msg:?})"))?;
    let want = &c["out"];
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let vals: Vec<f64> = want["values"].as_array().unwrap().iter().map(num).collect();
    let dtype = got.dtype();
    let (gshape, gvals) = (
        got.size().to_vec(),
        got.to_dtype(DType::F64).to_vec::<f64>(),
    );
    let same = gvals.len() == vals.len()
        && gvals
            .iter()
            .zip(&vals)
            .all(|(g, w)| matches(*g, *w, 1e-6, 0.0));
    if dtype != dtype_of(want["dtype"].as_str().unwrap()) || gshape != shape || !same {
        return Err(format!(
            "{what}: kiln {dtype:?} {gshape:?} {gvals:?}, PyTorch {want}"
        ));
    }
    Ok(())
}

#[test]
fn promotion_follows_torch_result_type_for_every_dtype_pair_and_scalar_kind() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/promotion.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1440);
    // The refused cases panic on purpose: keep their messages out of the test output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failures: Vec<String> = cases.iter().filter_map(|c| promo_case(c).err()).collect();
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `t op s` through the `std::ops` operators with a Rust scalar of any number type.
fn typed_rhs<S: kiln::tensor::ScalarOperand>(op: &str, t: &Tensor, s: S) -> Tensor {
    match op {
        "add" => t + s,
        "sub" => t - s,
        "mul" => t * s,
        "div" => t / s,
        _ => panic!("{op}"),
    }
}

/// `s op t` through the `std::ops` operators (one Rust type per Python kind on the left).
fn typed_lhs<S>(op: &str, t: &Tensor, s: S) -> Tensor
where
    S: for<'a> std::ops::Add<&'a Tensor, Output = Tensor>
        + for<'a> std::ops::Sub<&'a Tensor, Output = Tensor>
        + for<'a> std::ops::Mul<&'a Tensor, Output = Tensor>
        + for<'a> std::ops::Div<&'a Tensor, Output = Tensor>,
{
    match op {
        "add" => s + t,
        "sub" => s - t,
        "mul" => s * t,
        "div" => s / t,
        _ => panic!("{op}"),
    }
}

/// An arithmetic case with a Python `int` (2), `float` (2.5) or `bool` scalar through the
/// operators: on the right with every Rust integer type (or `f32` and `f64`), which must
/// all agree; on the left with `i64`, `f64` or `bool`.
fn promo_run_typed(op: &str, a: &PromoOperand, b: &PromoOperand) -> Tensor {
    use PromoOperand::{S, T};
    use kiln::tensor::Scalar;
    let outs = match (a, b) {
        (T(t), S(Scalar::Int(_))) => vec![
            typed_rhs(op, t, 2i32),
            typed_rhs(op, t, 2i64),
            typed_rhs(op, t, 2usize),
            typed_rhs(op, t, 2u8),
            typed_rhs(op, t, 2i8),
            typed_rhs(op, t, 2u64),
            typed_rhs(op, t, 2u32),
            typed_rhs(op, t, 2i16),
            typed_rhs(op, t, 2u16),
            typed_rhs(op, t, 2isize),
        ],
        (T(t), S(Scalar::Float(_))) => vec![typed_rhs(op, t, 2.5f64), typed_rhs(op, t, 2.5f32)],
        (T(t), S(Scalar::Bool(_))) => vec![typed_rhs(op, t, true)],
        (S(Scalar::Int(_)), T(t)) => vec![typed_lhs(op, t, 2i64)],
        (S(Scalar::Float(_)), T(t)) => vec![typed_lhs(op, t, 2.5f64)],
        (S(Scalar::Bool(_)), T(t)) => vec![typed_lhs(op, t, true)],
        _ => unreachable!(),
    };
    for o in &outs[1..] {
        assert!(
            o.dtype() == outs[0].dtype() && o.equal(&outs[0]),
            "{op}: Rust scalar types disagree"
        );
    }
    outs[0].shallow_clone()
}

#[test]
fn rust_integer_and_float_scalars_promote_as_python_ints_and_floats() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/promotion.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let scalar = |v: &Value| ["int", "float", "bool"].contains(&v["kind"].as_str().unwrap());
    let cases: Vec<&Value> = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| ["add", "sub", "mul", "div"].contains(&c["op"].as_str().unwrap()))
        .filter(|c| scalar(&c["a"]) || scalar(&c["b"]))
        .collect();
    // 10 tensor operands (5 dtypes, dimensioned or 0-d), 3 scalar kinds, both sides, 4 ops.
    assert_eq!(cases.len(), 240);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| promo_case_with(c, promo_run_typed).err())
        .collect();
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rust_integer_scalars_in_place_and_at_the_edges_of_int64() {
    let n: usize = 3;
    let mut i = kiln::tensor(&[1i64, 2, 3]);
    i += n;
    i *= 2u8;
    assert_eq!(
        (i.dtype(), i.to_vec::<i64>()),
        (DType::I64, vec![8, 10, 12])
    );
    let mut f = kiln::tensor(&[1.0f32, 2.0]);
    f *= n;
    f -= 1i32;
    assert_eq!((f.dtype(), f.to_vec::<f32>()), (DType::F32, vec![2.0, 5.0]));
    f /= 2.0f32;
    assert_eq!(f.to_vec::<f32>(), [1.0, 2.5]);
    // An int64 tensor plus a Python int past 2^53 is exact, as in PyTorch.
    let big = kiln::tensor(&[1i64]) + (1i64 << 60);
    assert_eq!(big.to_vec::<i64>(), [(1i64 << 60) + 1]);
    assert_eq!(
        (kiln::tensor(&[1i64]) * u32::MAX).to_vec::<i64>(),
        [u32::MAX as i64]
    );
    // A Python int goes into uint8 modulo 256 (PyTorch 2.15: uint8 [1] + 300 is [45], + -1 is [0]).
    assert_eq!((kiln::tensor(&[1u8]) + 300).to_vec::<u8>(), [45]);
    assert_eq!((kiln::tensor(&[1u8]) + -1).to_vec::<u8>(), [0]);
    assert_eq!((kiln::tensor(&[1u8]) + 300).dtype(), DType::U8);
    // A u64 past int64 is PyTorch's overflow, not a silent wrap.
    let r = std::panic::catch_unwind(|| kiln::tensor(&[1i64]) + u64::MAX);
    let msg = r
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.starts_with("int too big to convert"), "{msg}");
    // In-place true division of an integer tensor is refused (its result is float).
    let mut j = kiln::tensor(&[4i64]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| j /= 2usize));
    assert!(r.is_err());
}

#[test]
fn scalar_operators_keep_the_python_kind() {
    let i = kiln::tensor(&[1i64, 2, 3]);
    assert_eq!((&i * 2.0).dtype(), DType::F32);
    assert_eq!((&i * 2).dtype(), DType::I64);
    assert_eq!((&i + 1.0).to_vec::<f32>(), [2.0, 3.0, 4.0]);
    assert_eq!((2 * &i).to_vec::<i64>(), [2, 4, 6]);
    assert_eq!((&i / 2).to_vec::<f32>(), [0.5, 1.0, 1.5]);
    let b = kiln::tensor(&[true, false]);
    assert_eq!((&b + 1).dtype(), DType::I64);
    assert_eq!((&b * true).dtype(), DType::Bool);
}
