//! `conv_transpose2d` / `ConvTranspose2d`, `unfold` / `fold` / `Unfold` / `Fold` and
//! conv double backward against real PyTorch (`tests/fixtures/conv_ops.json`, made by
//! `scripts/fixtures/gen_conv_ops.py`), plus f64 finite-difference gradchecks (first and
//! second order). A module of `tests/conv.rs`, sharing its helpers.

use super::*;
use kiln::autograd::grad;
use kiln::nn::functional::{ConvTransposeOptions, FoldOptions};
use kiln::nn::{ConvTranspose2d, Fold, Unfold};

fn load_ops() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conv_ops.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("read conv_ops.json"))
            .expect("parse conv_ops.json")
    })
}

fn tconv_opts(o: &Value) -> ConvTransposeOptions {
    ConvTransposeOptions::new()
        .stride(pair(&o["stride"], 1))
        .padding(pair(&o["padding"], 0))
        .output_padding(pair(&o["output_padding"], 0))
        .dilation(pair(&o["dilation"], 1))
        .groups(o["groups"].as_u64().unwrap_or(1) as usize)
}

fn fold_opts(o: &Value) -> FoldOptions {
    FoldOptions::new(pair(&o["kernel_size"], 1))
        .dilation(pair(&o["dilation"], 1))
        .padding(pair(&o["padding"], 0))
        .stride(pair(&o["stride"], 1))
}

#[test]
fn conv_transpose2d_matches_pytorch() {
    let cases = load_ops()["conv_transpose2d"].as_array().unwrap();
    assert!(cases.len() >= 26);
    for rec in cases {
        let x = input(rec);
        let ws = usizes(&rec["w_shape"]);
        let w = make(rec, "w", &ws).requires_grad_(true);
        let groups = rec["opts"]["groups"].as_u64().unwrap_or(1) as usize;
        let b = rec
            .get("b")
            .map(|_| make(rec, "b", &[ws[1] * groups]).requires_grad_(true));
        let y = F::conv_transpose2d(&x, &w, b.as_ref(), tconv_opts(&rec["opts"]));
        assert_eq!(y.shape(), usizes(&rec["y_shape"]), "{}", rec["opts"]);
        if x.dim() == 4 {
            assert_eq!(y.grad_fn().unwrap().name(), "ConvolutionBackward0");
        }
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

/// The fold case's input: `[N, C*k*k, L]` or a non-contiguous view of one.
fn fold_input(rec: &Value) -> Tensor {
    input(rec)
}

#[test]
fn unfold_and_fold_match_pytorch() {
    let cases = load_ops()["fold"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for rec in cases {
        let x = fold_input(rec);
        let o = fold_opts(&rec["opts"]);
        let y = if rec["kind"] == "unfold" {
            let y = F::unfold(&x, o);
            if x.dim() == 4 {
                assert_eq!(y.grad_fn().unwrap().name(), "Im2ColBackward0");
            }
            y
        } else {
            let y = F::fold(&x, pair(&rec["output_size"], 0), o);
            if x.dim() == 3 {
                assert_eq!(y.grad_fn().unwrap().name(), "Col2ImBackward0");
            }
            y
        };
        assert_eq!(y.shape(), usizes(&rec["y_shape"]), "{}", rec["opts"]);
        close(&y, &floats(&rec["y"]), rec, "y");
        let gy = make(rec, "gy", y.shape());
        y.mul(&gy).sum().backward();
        close(&x.grad().unwrap(), &floats(&rec["gx"]), rec, "gx");
    }
}

#[test]
fn conv_double_backward_matches_pytorch() {
    let cases = load_ops()["double_backward"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for rec in cases {
        let (xs, ws) = (usizes(&rec["x_shape"]), usizes(&rec["w_shape"]));
        let x = make(rec, "x", &xs).requires_grad_(true);
        let w = make(rec, "w", &ws).requires_grad_(true);
        let y = if rec["kind"] == "conv2d" {
            F::conv2d(&x, &w, None, conv_opts(&rec["opts"]))
        } else {
            F::conv_transpose2d(&x, &w, None, tconv_opts(&rec["opts"]))
        };
        let gy = make(rec, "gy", y.shape()).requires_grad_(true);
        let g = grad(
            &[y.mul(&gy).sum()],
            &[x.shallow_clone(), w.shallow_clone()],
            None,
            true,
        );
        let (gx, gw) = (g[0].clone().unwrap(), g[1].clone().unwrap());
        assert_eq!(gx.grad_fn().unwrap().name(), "ConvolutionBackwardBackward0");
        close(&gx, &floats(&rec["gx"]), rec, "gx");
        close(&gw, &floats(&rec["gw"]), rec, "gw");
        let (vx, vw) = (make(rec, "vx", &xs), make(rec, "vw", &ws));
        let second = gx.mul(&vx).sum().add(&gw.mul(&vw).sum());
        let gg = grad(
            &[second],
            &[x.shallow_clone(), w.shallow_clone(), gy.shallow_clone()],
            None,
            false,
        );
        close(gg[0].as_ref().unwrap(), &floats(&rec["ggx"]), rec, "ggx");
        close(gg[1].as_ref().unwrap(), &floats(&rec["ggw"]), rec, "ggw");
        close(gg[2].as_ref().unwrap(), &floats(&rec["ggy"]), rec, "ggy");
    }
}

#[test]
fn conv_transpose2d_module_draws_and_prints_like_pytorch() {
    let _rng = rng_lock();
    for rec in load_ops()["init"].as_array().unwrap() {
        let args = rec["args"].as_array().unwrap();
        let kw = &rec["kw"];
        let (i, o) = (
            args[0].as_u64().unwrap() as usize,
            args[1].as_u64().unwrap() as usize,
        );
        kiln::manual_seed(rec["seed"].as_u64().unwrap());
        let bias = kw["bias"].as_bool().unwrap_or(true);
        let m = ConvTranspose2d::with_options(i, o, pair(&args[2], 1), tconv_opts(kw), bias);
        assert_eq!(m.repr(), rec["repr"].as_str().unwrap());
        let state = rec["state"].as_object().unwrap();
        let params = m.named_parameters();
        assert_eq!(params.len(), state.len(), "{}", rec["repr"]);
        for (name, t) in params {
            let want = &state[&name];
            assert_eq!(t.shape(), usizes(&want["shape"]), "{name}");
            let got: Vec<f64> = t.to_vec::<f32>().iter().map(|&v| v as f64).collect();
            assert_eq!(got, floats(&want["data"]), "{} {name}", rec["repr"]);
        }
        let x = Tensor::randn(&[2, i, 4, 3]);
        let want = F::conv_transpose2d(&x, &m.weight, m.bias.as_ref(), m.options);
        assert_eq!(m.forward(&x).to_vec::<f32>(), want.to_vec::<f32>());
    }
    let os = &load_ops()["output_size"];
    kiln::manual_seed(0);
    let m = ConvTranspose2d::with_options(
        3,
        4,
        3,
        ConvTransposeOptions::new().stride(2).padding(1),
        true,
    );
    let y = m.forward_with_output_size(&Tensor::zeros(&usizes(&os["x_shape"])), (10, 12));
    assert_eq!(y.shape(), usizes(&os["y_shape"]));
    let mr = std::panic::AssertUnwindSafe(&m);
    let msg = panic_message(move || {
        drop(mr.forward_with_output_size(&Tensor::zeros(&[2, 3, 5, 6]), (13, 12)))
    });
    assert!(
        msg.starts_with(
            "requested an output size of [13, 12], but valid sizes range from [9, 11] to [10, 12]"
        ),
        "{msg}"
    );
    let reprs: Vec<String> = vec![
        Unfold::new(FoldOptions::new(3)).repr(),
        Unfold::new(
            FoldOptions::new((2, 3))
                .dilation(2)
                .padding(1)
                .stride((1, 2)),
        )
        .repr(),
        Fold::new((4, 5), FoldOptions::new(3)).repr(),
        Fold::new(
            6,
            FoldOptions::new((2, 3))
                .dilation(2)
                .padding(1)
                .stride((1, 2)),
        )
        .repr(),
    ];
    let want: Vec<String> = load_ops()["fold_repr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(reprs, want);
    let x = Tensor::randn(&[2, 3, 5, 6]);
    let u = Unfold::new(FoldOptions::new(2));
    let f = Fold::new((5, 6), FoldOptions::new(2));
    let back = f.forward(&u.forward(&x));
    assert_eq!(back.shape(), &[2, 3, 5, 6]);
}

#[test]
fn conv_transpose_and_fold_errors_read_like_pytorch() {
    let r = |s: &[usize]| Tensor::zeros(s);
    let t = ConvTransposeOptions::new;
    let cases: Vec<(Thunk, &str)> = vec![
        (
            Box::new(move || {
                drop(F::conv_transpose2d(
                    &r(&[2, 4, 5, 5]),
                    &r(&[3, 2, 3, 3]),
                    None,
                    t(),
                ))
            }),
            "Given transposed=1, weight of size [3, 2, 3, 3], expected input[2, 4, 5, 5] to have 3 channels, but got 4 channels instead",
        ),
        (
            Box::new(move || {
                drop(F::conv_transpose2d(
                    &r(&[2, 4, 5, 5]),
                    &r(&[4, 2, 3, 3]),
                    None,
                    t().output_padding(1),
                ))
            }),
            "output padding must be smaller than either stride or dilation, but got output_padding_height: 1 output_padding_width: 1 stride_height: 1 stride_width: 1 dilation_height: 1 dilation_width: 1",
        ),
        (
            Box::new(move || {
                drop(F::conv_transpose2d(
                    &r(&[1, 4, 2, 2]),
                    &r(&[4, 2, 3, 3]),
                    None,
                    t().padding(3),
                ))
            }),
            "Given input size per channel: (2 x 2). Calculated output size per channel: (-2 x -2). Output size is too small",
        ),
        (
            Box::new(move || {
                drop(F::conv_transpose2d(
                    &r(&[5, 5]),
                    &r(&[4, 2, 3, 3]),
                    None,
                    t(),
                ))
            }),
            "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [5, 5]",
        ),
        (
            Box::new(move || {
                drop(F::conv_transpose2d(
                    &r(&[2, 4, 5, 5]),
                    &r(&[4, 2, 3, 3]),
                    None,
                    t().groups(3),
                ))
            }),
            "Given groups=3, expected weight to be divisible by 3 at dimension 0, but got weight of size [[4, 2, 3, 3]] instead",
        ),
        (
            Box::new(move || {
                drop(F::conv_transpose2d(
                    &r(&[2, 4, 5, 5]),
                    &r(&[4, 2, 3, 3]),
                    Some(&r(&[3])),
                    t(),
                ))
            }),
            "Given transposed=1, weight of size [4, 2, 3, 3], expected bias to be 1-dimensional with 2 elements, but got bias of size [3] instead",
        ),
        (
            Box::new(move || drop(F::unfold(&r(&[2, 4, 5, 5]), FoldOptions::new(6)))),
            "Given input with spatial size (5, 5), kernel_size=(6, 6), dilation=(1, 1), padding=(0, 0), calculated shape of the array of sliding blocks as (0, 0), but its components must be at least one.",
        ),
        (
            Box::new(move || drop(F::fold(&r(&[2, 16, 15]), (5, 5), FoldOptions::new(2)))),
            "Given output_size=(5, 5), kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), stride=(1, 1), expected size of input's dimension 2 to match the calculated number of sliding blocks 4 * 4 = 16, but got input.size(2)=15.",
        ),
        (
            Box::new(move || drop(F::fold(&r(&[2, 16, 15, 1]), (5, 5), FoldOptions::new(2)))),
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: [2, 16, 15, 1]",
        ),
        (
            Box::new(move || {
                drop(F::unfold(
                    &r(&[1, 4, 2, 2]).to_dtype(DType::I64),
                    FoldOptions::new(1),
                ))
            }),
            "im2col: \"im2col_out_cpu\" not implemented for 'Long'",
        ),
    ];
    for (f, want) in cases {
        assert_eq!(panic_message(f), want);
    }
}

#[test]
fn conv_transpose_and_fold_gradchecks() {
    let _rng = rng_lock();
    kiln::manual_seed(21);
    let families = [
        (t_(), [2, 3, 4, 5], [3, 2, 3, 3]),
        (
            t_().stride((2, 3)).padding((1, 2)).output_padding((1, 2)),
            [2, 3, 4, 3],
            [3, 2, 3, 3],
        ),
        (
            t_().dilation(2).padding(1).output_padding(1),
            [1, 3, 4, 4],
            [3, 2, 2, 3],
        ),
        (t_().groups(3).stride(2), [2, 3, 3, 4], [3, 1, 3, 3]),
        (
            t_().groups(2).stride(2).padding(1),
            [2, 4, 3, 3],
            [4, 3, 2, 2],
        ),
        (t_(), [2, 3, 4, 4], [3, 4, 1, 1]),
    ];
    for (o, xs, ws) in families {
        let c_out = ws[1] * o.groups;
        check(
            |t| F::conv_transpose2d(&t[0], &t[1], Some(&t[2]), o),
            &[rd(&xs), rd(&ws), rd(&[c_out])],
        );
    }
    // Non-contiguous and unbatched inputs.
    let x = rd(&[3, 5, 4]).transpose(1, 2);
    check(
        |t| F::conv_transpose2d(&t[0], &t[1], None, t_().stride(2)),
        &[x, rd(&[3, 2, 3, 3])],
    );
    for o in [
        FoldOptions::new(2),
        FoldOptions::new((2, 3))
            .stride((2, 1))
            .padding((1, 0))
            .dilation((1, 2)),
        FoldOptions::new(3).padding(2).dilation(2).stride(3),
    ] {
        check(|t| F::unfold(&t[0], o), &[rd(&[2, 2, 6, 7])]);
        let blocks = F::unfold(&Tensor::zeros(&[1, 2, 6, 7]), o).shape()[2];
        let rows = 2 * o.kernel_size.0 * o.kernel_size.1;
        check(|t| F::fold(&t[0], (6, 7), o), &[rd(&[2, rows, blocks])]);
    }
    let x = rd(&[2, 6, 5]).transpose(1, 2);
    check(
        |t| F::unfold(&t[0], FoldOptions::new(2)),
        std::slice::from_ref(&x),
    );
    check(
        |t| F::fold(&t[0], (3, 3), FoldOptions::new(2)),
        &[rd(&[2, 4, 4]).transpose(1, 2)],
    );
}

fn t_() -> ConvTransposeOptions {
    ConvTransposeOptions::new()
}

/// Finite differences of the first-order gradients (a gradgradcheck): the function
/// checked is `(x, w, gy) -> d<conv(x, w), gy>/d(x, w)`, flattened and joined.
#[test]
fn conv_second_order_gradchecks() {
    let _rng = rng_lock();
    kiln::manual_seed(22);
    let first = |t: &[Tensor], transpose: bool, o: ConvOptions, to: ConvTransposeOptions| {
        // gradcheck evaluates the function under no_grad with plain inputs for its
        // finite differences: make them leaves and record anyway.
        let t: Vec<Tensor> = t
            .iter()
            .map(|x| {
                if x.requires_grad() {
                    x.shallow_clone()
                } else {
                    x.detach().requires_grad_(true)
                }
            })
            .collect();
        kiln::enable_grad(|| {
            let y = if transpose {
                F::conv_transpose2d(&t[0], &t[1], Some(&t[3]), to)
            } else {
                F::conv2d(&t[0], &t[1], Some(&t[3]), o)
            };
            let g = grad(
                &[y.mul(&t[2]).sum()],
                &[
                    t[0].shallow_clone(),
                    t[1].shallow_clone(),
                    t[3].shallow_clone(),
                ],
                None,
                true,
            );
            let parts: Vec<Tensor> = g
                .into_iter()
                .map(|g| g.unwrap().reshape_infer(&[-1]))
                .collect();
            Tensor::cat(&parts, 0)
        })
    };
    let o = ConvOptions::new()
        .stride(2)
        .padding(1)
        .dilation((1, 2))
        .groups(2);
    let y = F::conv2d(
        &Tensor::zeros(&[2, 4, 5, 6]),
        &Tensor::zeros(&[4, 2, 3, 2]),
        None,
        o,
    );
    check(
        |t| first(t, false, o, t_()),
        &[
            rd(&[2, 4, 5, 6]),
            rd(&[4, 2, 3, 2]),
            rd(y.shape()),
            rd(&[4]),
        ],
    );
    let to = t_().stride(2).padding(1).output_padding(1);
    let y = F::conv_transpose2d(
        &Tensor::zeros(&[2, 3, 3, 4]),
        &Tensor::zeros(&[3, 2, 3, 3]),
        None,
        to,
    );
    check(
        |t| first(t, true, ConvOptions::new(), to),
        &[
            rd(&[2, 3, 3, 4]),
            rd(&[3, 2, 3, 3]),
            rd(y.shape()),
            rd(&[2]),
        ],
    );
}
