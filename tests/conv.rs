//! Convolution and pooling against real PyTorch (`tests/fixtures/conv.json`, made by
//! `scripts/fixtures/gen_conv.py`): forward outputs and gradients in f32 and f64 over
//! the option families, parameter draws after `manual_seed`, reprs and error messages;
//! plus f64 finite-difference gradchecks for each op and option family.

use kiln::autograd::gradcheck;
use kiln::nn::functional::{self as F, ConvOptions};
use kiln::nn::{Conv1d, Conv2d, Module};
use kiln::tensor::random::{BernoulliScalarKernel, set_bernoulli_scalar_kernel};
use kiln::{DType, Tensor};
use serde_json::Value;
use std::sync::OnceLock;

mod fixture;
use fixture::{fixture_dtype as dtype, floats, rng_lock, usizes};

fn load() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| fixture::read_json("conv.json"))
}

fn make(rec: &Value, key: &str, shape: &[usize]) -> Tensor {
    let t = Tensor::from_vec(floats(&rec[key]), shape);
    if dtype(rec) == DType::F32 {
        t.float()
    } else {
        t
    }
}

/// The case's input, as a non-contiguous view when the case says so.
fn input(rec: &Value) -> Tensor {
    let shape = usizes(&rec["x_shape"]);
    if rec["x_t"].as_bool().unwrap() {
        let mut s = shape.clone();
        let r = s.len();
        s.swap(r - 1, r - 2);
        let t = make(rec, "x", &shape)
            .transpose(-1, -2)
            .contiguous()
            .reshape(&s);
        let v = t.transpose(-1, -2);
        assert!(!v.is_contiguous());
        v.requires_grad_(true)
    } else {
        make(rec, "x", &shape).requires_grad_(true)
    }
}

fn close(got: &Tensor, want: &[f64], rec: &Value, what: &str) {
    let (rtol, atol) = if dtype(rec) == DType::F32 {
        (1e-4, 1e-4)
    } else {
        (1e-10, 1e-10)
    };
    assert_eq!(got.dtype(), dtype(rec), "{what}: dtype");
    let g = got.to_vec::<f64>();
    assert_eq!(g.len(), want.len(), "{what}: length");
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "{what} {}: element {i}: kiln {a} vs torch {b}",
            rec["opts"]
        );
    }
}

fn pair(v: &Value, default: usize) -> (usize, usize) {
    match v {
        Value::Null => (default, default),
        Value::Array(a) if a.len() == 1 => {
            let x = a[0].as_u64().unwrap() as usize;
            (x, x)
        }
        Value::Array(a) => (
            a[0].as_u64().unwrap() as usize,
            a[1].as_u64().unwrap() as usize,
        ),
        x => (x.as_u64().unwrap() as usize, x.as_u64().unwrap() as usize),
    }
}

fn conv_opts(o: &Value) -> ConvOptions {
    let mut c = ConvOptions::new()
        .stride(pair(&o["stride"], 1))
        .dilation(pair(&o["dilation"], 1))
        .groups(o["groups"].as_u64().unwrap_or(1) as usize);
    c = match &o["padding"] {
        Value::String(s) => c.padding(s.as_str()),
        p => c.padding(pair(p, 0)),
    };
    c
}

#[test]
fn conv_matches_pytorch() {
    let cases = load()["conv"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for rec in cases {
        let x = input(rec);
        let w = make(rec, "w", &usizes(&rec["w_shape"])).requires_grad_(true);
        let b = rec
            .get("b")
            .map(|_| make(rec, "b", &[usizes(&rec["w_shape"])[0]]).requires_grad_(true));
        let o = conv_opts(&rec["opts"]);
        let y = match rec["kind"].as_str().unwrap() {
            "conv2d" => F::conv2d(&x, &w, b.as_ref(), o),
            _ => F::conv1d(&x, &w, b.as_ref(), o),
        };
        assert_eq!(y.shape(), usizes(&rec["y_shape"]), "{}", rec["opts"]);
        close(&y, &floats(&rec["y"]), rec, "y");
        let gy = make(rec, "gy", y.shape());
        y.mul(&gy).sum().backward();
        close(&x.grad().unwrap(), &floats(&rec["gx"]), rec, "gx");
        close(&w.grad().unwrap(), &floats(&rec["gw"]), rec, "gw");
        if let Some(b) = &b {
            close(&b.grad().unwrap(), &floats(&rec["gb"]), rec, "gb");
        }
    }
}

fn module_for(rec: &Value) -> Box<dyn Module> {
    let args = rec["args"].as_array().unwrap();
    let kw = &rec["kw"];
    let (i, o) = (
        args[0].as_u64().unwrap() as usize,
        args[1].as_u64().unwrap() as usize,
    );
    let k = pair(&args[2], 1);
    let mut opts = conv_opts(kw);
    if let Some(s) = args.get(3) {
        opts = opts.stride(pair(s, 1));
    }
    let bias = kw["bias"].as_bool().unwrap_or(true);
    match rec["kind"].as_str().unwrap() {
        "Conv2d" => Box::new(Conv2d::with_options(i, o, k, opts, bias)),
        _ => Box::new(Conv1d::with_options(i, o, k.0, opts, bias)),
    }
}

#[test]
fn conv_modules_draw_and_print_like_pytorch() {
    let _rng = rng_lock();
    for rec in load()["init"].as_array().unwrap() {
        kiln::manual_seed(rec["seed"].as_u64().unwrap());
        let m = module_for(rec);
        assert_eq!(m.repr(), rec["repr"].as_str().unwrap());
        let state = rec["state"].as_object().unwrap();
        let params = m.named_parameters();
        assert_eq!(params.len(), state.len(), "{}", rec["repr"]);
        for (name, t) in params {
            let want = &state[&name];
            assert_eq!(t.shape(), usizes(&want["shape"]), "{name}");
            assert_eq!(t.dtype(), DType::F32);
            let got: Vec<f64> = t.to_vec::<f32>().iter().map(|&v| v as f64).collect();
            assert_eq!(got, floats(&want["data"]), "{} {name}", rec["repr"]);
        }
    }
}

#[test]
fn conv2d_module_forward_is_the_functional() {
    let _rng = rng_lock();
    kiln::manual_seed(0);
    let m = Conv2d::with_options(4, 6, 3, ConvOptions::new().padding(1).groups(2), true);
    let x = Tensor::randn(&[2, 4, 5, 5]);
    let want = F::conv2d(&x, &m.weight, m.bias.as_ref(), m.options);
    assert_eq!(m.forward(&x).to_vec::<f32>(), want.to_vec::<f32>());
    assert_eq!(m.forward(&x).shape(), [2, 6, 5, 5]);
}

/// A call expected to panic.
type Thunk = Box<dyn FnOnce() + std::panic::UnwindSafe>;

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let e = std::panic::catch_unwind(f).expect_err("expected a panic");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn conv_errors_read_like_pytorch() {
    let _rng = rng_lock();
    let r = |s: &[usize]| Tensor::zeros(s);
    let o = ConvOptions::new;
    let cases: Vec<(Thunk, &str)> = vec![
        (
            Box::new(move || drop(F::conv2d(&r(&[2, 1, 5, 5]), &r(&[4, 3, 3, 3]), None, o()))),
            "Given groups=1, weight of size [4, 3, 3, 3], expected input[2, 1, 5, 5] to have 3 channels, but got 1 channels instead",
        ),
        (
            Box::new(move || {
                drop(F::conv2d(
                    &r(&[2, 4, 5, 5]),
                    &r(&[3, 2, 3, 3]),
                    None,
                    o().groups(2),
                ))
            }),
            "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [[3, 2, 3, 3]] instead",
        ),
        (
            Box::new(move || drop(F::conv2d(&r(&[2, 3, 2, 2]), &r(&[4, 3, 3, 3]), None, o()))),
            "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size can't be greater than actual input size",
        ),
        (
            Box::new(move || {
                drop(F::conv2d(
                    &r(&[2, 3, 5, 5]),
                    &r(&[4, 3, 3, 3]),
                    Some(&r(&[5])),
                    o(),
                ))
            }),
            "Given weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 4 elements, but got bias of size [5] instead",
        ),
        (
            Box::new(move || {
                drop(F::conv2d(
                    &r(&[2, 3, 5, 5]),
                    &r(&[4, 3, 3, 3]),
                    None,
                    o().stride(2).padding("same"),
                ))
            }),
            "padding='same' is not supported for strided convolutions",
        ),
        (
            Box::new(move || {
                let _ = o().padding("foo");
            }),
            "Invalid padding string: 'foo'",
        ),
        (
            Box::new(move || drop(F::conv2d(&r(&[3, 5]), &r(&[4, 3, 3, 3]), None, o()))),
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 5]",
        ),
        (
            Box::new(move || {
                drop(F::conv2d(
                    &r(&[2, 3, 5, 5]),
                    &r(&[4, 3, 3, 3]),
                    None,
                    o().stride(0),
                ))
            }),
            "non-positive stride is not supported",
        ),
        (
            Box::new(move || drop(F::conv1d(&r(&[2, 1, 5]), &r(&[4, 3, 3]), None, o()))),
            "Given groups=1, weight of size [4, 3, 3], expected input[2, 1, 5] to have 3 channels, but got 1 channels instead",
        ),
        (
            Box::new(move || drop(F::conv1d(&r(&[5]), &r(&[4, 3, 3]), None, o()))),
            "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [5]",
        ),
    ];
    for (f, want) in cases {
        assert_eq!(panic_message(f), want);
    }
    let msg = panic_message(|| {
        drop(F::conv2d(
            &r(&[1, 3, 5, 5]).double(),
            &r(&[4, 3, 3, 3]),
            None,
            o(),
        ))
    });
    assert!(msg.contains("should be the same"), "{msg}");
}

fn rd(shape: &[usize]) -> Tensor {
    Tensor::randn(shape).double()
}

fn check(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    gradcheck(f, inputs, 1e-6, 1e-7, 1e-5).unwrap();
}

#[test]
fn conv_gradchecks() {
    let _rng = rng_lock();
    kiln::manual_seed(3);
    let families = [
        (ConvOptions::new(), [2, 3, 5, 6], [4, 3, 3, 3]),
        (
            ConvOptions::new().stride((2, 1)).padding((1, 2)),
            [2, 3, 5, 6],
            [4, 3, 3, 2],
        ),
        (
            ConvOptions::new().dilation(2).padding(2),
            [2, 3, 6, 5],
            [2, 3, 3, 3],
        ),
        (
            ConvOptions::new().padding("same").dilation((1, 2)),
            [1, 3, 5, 5],
            [2, 3, 2, 3],
        ),
        (
            ConvOptions::new().padding("valid"),
            [2, 2, 4, 4],
            [3, 2, 2, 2],
        ),
        (
            ConvOptions::new().groups(2).padding(1),
            [2, 4, 4, 5],
            [6, 2, 3, 3],
        ),
        (
            ConvOptions::new().groups(4).stride(2),
            [2, 4, 5, 5],
            [4, 1, 3, 3],
        ),
        (ConvOptions::new(), [3, 4, 3, 4], [5, 4, 1, 1]),
    ];
    for (o, xs, ws) in families {
        let (x, w, b) = (rd(&xs), rd(&ws), rd(&[ws[0]]));
        check(
            |t| F::conv2d(&t[0], &t[1], Some(&t[2]), o),
            &[x.shallow_clone(), w.shallow_clone(), b],
        );
        check(|t| F::conv2d(&t[0], &t[1], None, o), &[x, w]);
    }
    // A non-contiguous input, and conv1d.
    let x = rd(&[2, 3, 6, 5]).transpose(2, 3);
    check(
        |t| F::conv2d(&t[0], &t[1], None, ConvOptions::new().padding(1)),
        &[x, rd(&[2, 3, 3, 3])],
    );
    let o = ConvOptions::new()
        .stride(2)
        .padding(1)
        .dilation(2)
        .groups(2);
    check(
        |t| F::conv1d(&t[0], &t[1], Some(&t[2]), o),
        &[rd(&[2, 4, 9]), rd(&[4, 2, 3]), rd(&[4])],
    );
}

#[test]
fn conv2d_batches_split_across_threads_agree_with_one_thread() {
    let _rng = rng_lock();
    // Parallel-over-batch forward and weight-gradient partial sums must match the serial path.
    kiln::manual_seed(5);
    let x = Tensor::randn(&[7, 3, 9, 8]).double().requires_grad_(true);
    let w = Tensor::randn(&[5, 3, 3, 3]).double().requires_grad_(true);
    let run = || {
        let y = F::conv2d(&x, &w, None, ConvOptions::new().padding(1));
        let (gx, gw) = {
            let g = kiln::autograd::grad(
                &[y.sum()],
                &[x.shallow_clone(), w.shallow_clone()],
                None,
                false,
            );
            (g[0].clone().unwrap(), g[1].clone().unwrap())
        };
        (y.to_vec::<f64>(), gx.to_vec::<f64>(), gw.to_vec::<f64>())
    };
    let before = kiln::get_num_threads();
    kiln::set_num_threads(1);
    let one = run();
    kiln::set_num_threads(3);
    let many = run();
    kiln::set_num_threads(before);
    assert_eq!(one.0, many.0);
    assert_eq!(one.1, many.1);
    for (a, b) in one.2.iter().zip(&many.2) {
        assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()));
    }
}

fn opt_bool(o: &Value, key: &str, default: bool) -> bool {
    o[key].as_bool().unwrap_or(default)
}

#[test]
fn pooling_matches_pytorch() {
    let cases = load()["pool"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for rec in cases {
        let x = input(rec);
        let o = &rec["opts"];
        let y = match rec["kind"].as_str().unwrap() {
            "max_pool2d" => {
                let mut m = F::MaxPoolOptions::new(pair(&o["kernel_size"], 1))
                    .padding(pair(&o["padding"], 0))
                    .dilation(pair(&o["dilation"], 1))
                    .ceil_mode(opt_bool(o, "ceil_mode", false));
                if !o["stride"].is_null() {
                    m = m.stride(pair(&o["stride"], 1));
                }
                let (y, idx) = F::max_pool2d_with_indices(&x, m);
                assert_eq!(idx.dtype(), DType::I64);
                let want: Vec<i64> = floats(&rec["indices"]).iter().map(|&v| v as i64).collect();
                assert_eq!(idx.to_vec::<i64>(), want, "indices {o}");
                assert_eq!(
                    F::max_pool2d(&x.detach(), m).to_vec::<f64>(),
                    y.to_vec::<f64>()
                );
                y
            }
            "avg_pool2d" => {
                let mut a = F::AvgPoolOptions::new(pair(&o["kernel_size"], 1))
                    .padding(pair(&o["padding"], 0))
                    .ceil_mode(opt_bool(o, "ceil_mode", false))
                    .count_include_pad(opt_bool(o, "count_include_pad", true));
                if !o["stride"].is_null() {
                    a = a.stride(pair(&o["stride"], 1));
                }
                if let Some(d) = o["divisor_override"].as_u64() {
                    a = a.divisor_override(d as usize);
                }
                F::avg_pool2d(&x, a)
            }
            _ => F::adaptive_avg_pool2d(&x, pair(&o["output_size"], 1)),
        };
        assert_eq!(y.shape(), usizes(&rec["y_shape"]), "{o}");
        close(&y, &floats(&rec["y"]), rec, "y");
        let gy = make(rec, "gy", y.shape());
        y.mul(&gy).sum().backward();
        close(&x.grad().unwrap(), &floats(&rec["gx"]), rec, "gx");
    }
}

#[test]
fn pooling_modules_print_like_pytorch() {
    let _rng = rng_lock();
    use kiln::nn::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
    let want: Vec<&str> = load()["pool_repr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mp = F::MaxPoolOptions::new(3)
        .stride(2)
        .padding(1)
        .dilation(2)
        .ceil_mode(true);
    let ap = F::AvgPoolOptions::new(3)
        .stride(2)
        .padding(1)
        .ceil_mode(true)
        .count_include_pad(false)
        .divisor_override(2);
    let got = [
        MaxPool2d::new(2).repr(),
        MaxPool2d::with_options(mp, true).repr(),
        AvgPool2d::new(2).repr(),
        AvgPool2d::with_options(ap).repr(),
        AdaptiveAvgPool2d::new((5, 7)).repr(),
        AdaptiveAvgPool2d::new(1).repr(),
    ];
    assert_eq!(got.to_vec(), want);
    // Modules run their functional.
    let x = Tensor::randn(&[2, 3, 6, 6]);
    assert_eq!(
        MaxPool2d::with_options(mp, true)
            .forward_with_indices(&x)
            .1
            .to_vec::<i64>(),
        F::max_pool2d_with_indices(&x, mp).1.to_vec::<i64>()
    );
    assert_eq!(
        AvgPool2d::with_options(ap).forward(&x).to_vec::<f32>(),
        F::avg_pool2d(&x, ap).to_vec::<f32>()
    );
}

#[test]
fn pooling_errors_read_like_pytorch() {
    let x = || Tensor::zeros(&[1, 1, 5, 5]);
    assert_eq!(
        panic_message(move || drop(F::max_pool2d(&x(), F::MaxPoolOptions::new(3).padding(2)))),
        "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"
    );
    assert_eq!(
        panic_message(|| drop(F::max_pool2d(
            &Tensor::zeros(&[1, 1, 2, 2]),
            F::MaxPoolOptions::new(3)
        ))),
        "Given input size: (1x2x2). Calculated output size: (1x0x0). Output size is too small"
    );
    assert_eq!(
        panic_message(|| drop(F::avg_pool2d(
            &Tensor::zeros(&[1, 1, 2, 2]),
            F::AvgPoolOptions::new(3)
        ))),
        "Given input size: (1x2x2). Calculated output size: (1x0x0). Output size is too small"
    );
    assert_eq!(
        panic_message(move || drop(F::avg_pool2d(&x(), F::AvgPoolOptions::new(3).padding(2)))),
        "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"
    );
}

#[test]
fn max_pool_sends_the_gradient_to_the_first_maximum() {
    // Ties: PyTorch keeps the first maximum it meets (row-major), and overlapping
    // windows that share an argmax add their gradients there.
    let x = Tensor::from_vec(
        vec![1.0f64, 1.0, 0.0, 1.0, 5.0, 0.0, 0.0, 0.0, 0.0],
        &[1, 1, 3, 3],
    )
    .requires_grad_(true);
    let y = F::max_pool2d(&x, F::MaxPoolOptions::new(2).stride(1));
    assert_eq!(y.to_vec::<f64>(), [5.0, 5.0, 5.0, 5.0]);
    y.sum().backward();
    assert_eq!(
        x.grad().unwrap().to_vec::<f64>(),
        [0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0]
    );
    let x = Tensor::from_vec(vec![2.0f64, 2.0, 2.0, 2.0], &[1, 1, 2, 2]).requires_grad_(true);
    F::max_pool2d(&x, F::MaxPoolOptions::new(2))
        .sum()
        .backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), [1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn pooling_gradchecks() {
    let _rng = rng_lock();
    kiln::manual_seed(4);
    let mps = [
        F::MaxPoolOptions::new(2),
        F::MaxPoolOptions::new(3).stride(2).padding(1),
        F::MaxPoolOptions::new((3, 2))
            .stride((2, 1))
            .padding(1)
            .dilation((2, 1)),
        F::MaxPoolOptions::new(3).stride(2).ceil_mode(true),
    ];
    for m in mps {
        check(|t| F::max_pool2d(&t[0], m), &[rd(&[2, 2, 7, 6])]);
    }
    let aps = [
        F::AvgPoolOptions::new(2),
        F::AvgPoolOptions::new(3).stride(2).padding(1),
        F::AvgPoolOptions::new(3)
            .stride(2)
            .padding(1)
            .count_include_pad(false),
        F::AvgPoolOptions::new((3, 2))
            .stride(2)
            .padding(1)
            .ceil_mode(true),
        F::AvgPoolOptions::new(3)
            .stride(2)
            .padding(1)
            .divisor_override(2),
    ];
    for a in aps {
        check(|t| F::avg_pool2d(&t[0], a), &[rd(&[2, 2, 7, 6])]);
    }
    for os in [(3, 4), (1, 1), (7, 5)] {
        check(|t| F::adaptive_avg_pool2d(&t[0], os), &[rd(&[2, 2, 5, 6])]);
    }
    // Non-contiguous and unbatched inputs.
    let x = rd(&[2, 6, 7]).transpose(1, 2);
    check(
        |t| F::max_pool2d(&t[0], F::MaxPoolOptions::new(2)),
        std::slice::from_ref(&x),
    );
    check(
        |t| F::avg_pool2d(&t[0], F::AvgPoolOptions::new(2).stride(1)),
        std::slice::from_ref(&x),
    );
    check(|t| F::adaptive_avg_pool2d(&t[0], (2, 3)), &[x]);
}

fn vals(rec: &Value, key: &str, shape: &[usize]) -> Tensor {
    make(rec, key, shape)
}

#[test]
fn batchnorm2d_matches_pytorch_in_train_and_eval() {
    use kiln::nn::BatchNorm2d;
    for rec in load()["batchnorm2d"].as_array().unwrap() {
        let momentum = rec["momentum"].as_f64();
        let m = BatchNorm2d::with_options(3, 1e-5, momentum, true, true);
        assert_eq!(m.repr(), rec["repr"].as_str().unwrap());
        let (w, b) = (m.weight.as_ref().unwrap(), m.bias.as_ref().unwrap());
        kiln::no_grad(|| {
            w.copy_(&vals(rec, "weight", &[3]).to_dtype(DType::F32));
            b.copy_(&vals(rec, "bias", &[3]).to_dtype(DType::F32));
        });
        // Module parameters and buffers are f32 (kiln has no module dtype cast yet), so
        // only the f32 cases apply here; f64 is covered by the gradcheck below.
        let dt = dtype(rec);
        if dt == DType::F64 {
            continue;
        }
        let shape = [2, 3, 4, 5];
        for step in rec["steps"].as_array().unwrap() {
            let x = vals(step, "x", &shape).requires_grad_(true);
            let x = if dt == DType::F32 {
                x.detach().float().requires_grad_(true)
            } else {
                x
            };
            let (w, b) = (m.weight.clone().unwrap(), m.bias.clone().unwrap());
            w.set_grad(None);
            b.set_grad(None);
            let y = m.forward(&x);
            close(&y, &floats(&step["y"]), rec, "bn y");
            let gy = vals(rec_with_dtype(step, rec).as_ref().unwrap(), "gy", &shape);
            y.mul(&gy).sum().backward();
            close(&x.grad().unwrap(), &floats(&step["gx"]), rec, "bn gx");
            close(&w.grad().unwrap(), &floats(&step["gw"]), rec, "bn gw");
            close(&b.grad().unwrap(), &floats(&step["gb"]), rec, "bn gb");
            close(
                m.running_mean.as_ref().unwrap(),
                &floats(&step["running_mean"]),
                rec,
                "running_mean",
            );
            close(
                m.running_var.as_ref().unwrap(),
                &floats(&step["running_var"]),
                rec,
                "running_var",
            );
        }
        m.eval();
        let xe = vals(rec, "eval_x", &shape);
        close(&m.forward(&xe), &floats(&rec["eval_y"]), rec, "bn eval");
    }
}

/// `step` with the case's dtype tag, so `make` builds the right dtype.
fn rec_with_dtype(step: &Value, rec: &Value) -> Option<Value> {
    let mut s = step.clone();
    s["dtype"] = rec["dtype"].clone();
    Some(s)
}

#[test]
fn dropout2d_draws_pytorchs_channel_masks() {
    let _rng = rng_lock();
    use kiln::nn::Dropout2d;
    let _g = kiln::no_grad_guard();
    // The PyTorch that recorded the fixture drew with ATen's own Bernoulli kernel even on
    // this Intel CPU (kiln's host default there is MKL's), so pin that kernel: what is
    // checked here is how dropout2d draws its channel mask, not the kernel choice.
    set_bernoulli_scalar_kernel(Some(BernoulliScalarKernel::Generator));
    for rec in load()["dropout2d"].as_array().unwrap() {
        kiln::manual_seed(rec["seed"].as_u64().unwrap());
        let shape = usizes(&rec["shape"]);
        let y = F::dropout2d(&Tensor::ones(&shape), rec["p"].as_f64().unwrap(), true);
        // The fixture's 9 significant digits name each f32 exactly.
        let want: Vec<f32> = floats(&rec["y"]).iter().map(|&v| v as f32).collect();
        assert_eq!(y.to_vec::<f32>(), want, "seed {}", rec["seed"]);
    }
    set_bernoulli_scalar_kernel(None);
    let d = Dropout2d::default();
    assert_eq!(d.repr(), load()["dropout2d_repr"].as_str().unwrap());
    d.eval();
    let x = Tensor::randn(&[2, 3, 4, 4]);
    assert_eq!(d.forward(&x).to_vec::<f32>(), x.to_vec::<f32>());
}

#[test]
fn batchnorm2d_and_dropout2d_gradchecks() {
    let _rng = rng_lock();
    use kiln::nn::BatchNorm2d;
    kiln::manual_seed(8);
    let m = BatchNorm2d::new(3);
    check(|t| m.forward(&t[0]), &[rd(&[2, 3, 3, 4])]);
    m.eval();
    check(|t| m.forward(&t[0]), &[rd(&[2, 3, 3, 4])]);
    // The same mask for every evaluation: reseed inside.
    check(
        |t| {
            kiln::manual_seed(2);
            F::dropout2d(&t[0], 0.4, true)
        },
        &[rd(&[2, 4, 3, 3])],
    );
}

#[path = "conv/ops.rs"]
mod ops;
