//! kiln against PyTorch: linear, softmax, every loss, norm layers, embedding, init.

mod fixture;

use fixture::{assert_close, assert_close_vals, load, tensor};
use kiln::Tensor;
use kiln::nn::functional as F;
use kiln::nn::{BatchNorm1d, CrossEntropyOptions, Embedding, LayerNorm, Module, Reduction};
use serde_json::Value;

const RTOL: f64 = 1e-9;
const ATOL: f64 = 1e-11;

fn leaf(v: &Value) -> Tensor {
    tensor(v).requires_grad_(true)
}

#[test]
fn linear_forward_backward() {
    let c = &load()["linear"];
    let (x, w, b) = (leaf(&c["x"]), leaf(&c["w"]), leaf(&c["b"]));
    let y = F::linear(&x, &w, Some(&b));
    assert_close(&y, &c["out"], RTOL, ATOL, "linear out");
    y.backward_with(&tensor(&c["g"]));
    assert_close(&x.grad().unwrap(), &c["gx"], RTOL, ATOL, "linear gx");
    assert_close(&w.grad().unwrap(), &c["gw"], RTOL, ATOL, "linear gw");
    assert_close(&b.grad().unwrap(), &c["gb"], RTOL, ATOL, "linear gb");
    let x3 = leaf(&c["x3"]);
    let y3 = F::linear(&x3, &w.detach(), Some(&b.detach()));
    assert_close(&y3, &c["out3"], RTOL, ATOL, "linear out3");
    y3.backward_with(&tensor(&c["g3"]));
    assert_close(&x3.grad().unwrap(), &c["gx3"], RTOL, ATOL, "linear gx3");
}

#[test]
fn softmax_values_and_gradients() {
    for (k, c) in load()["softmax"].as_array().unwrap().iter().enumerate() {
        let dim = c["dim"].as_i64().unwrap() as isize;
        let g = tensor(&c["g"]);
        let x = leaf(&c["x"]);
        let s = x.softmax(dim);
        assert_close(&s, &c["softmax"], RTOL, ATOL, &format!("softmax {k}"));
        s.backward_with(&g);
        assert_close(
            &x.grad().unwrap(),
            &c["grad_softmax"],
            RTOL,
            ATOL,
            "softmax grad",
        );
        let x = leaf(&c["x"]);
        let l = x.log_softmax(dim);
        assert_close(
            &l,
            &c["log_softmax"],
            RTOL,
            ATOL,
            &format!("log_softmax {k}"),
        );
        l.backward_with(&g);
        assert_close(
            &x.grad().unwrap(),
            &c["grad_log_softmax"],
            RTOL,
            ATOL,
            "log_softmax grad",
        );
    }
}

fn opt_tensor(o: &Value, key: &str) -> Option<Tensor> {
    o.get(key).map(|v| {
        let f = fixture::floats(v);
        let n = f.len();
        Tensor::from_vec(f, &[n])
    })
}

fn ce_options(o: &Value, reduction: Reduction) -> CrossEntropyOptions {
    CrossEntropyOptions {
        weight: opt_tensor(o, "weight"),
        ignore_index: o.get("ignore_index").map_or(-100, |v| v.as_i64().unwrap()),
        reduction,
        label_smoothing: o
            .get("label_smoothing")
            .map_or(0.0, |v| v.as_f64().unwrap()),
    }
}

fn run_loss(name: &str, o: &Value, i: &Tensor, t: &Tensor, r: Reduction) -> Tensor {
    let num = |k: &str| o[k].as_f64().unwrap();
    match name {
        "mse_loss" => F::mse_loss_with(i, t, r),
        "l1_loss" => F::l1_loss_with(i, t, r),
        "smooth_l1_loss" => F::smooth_l1_loss(i, t, r, num("beta")),
        "huber_loss" => F::huber_loss(i, t, r, num("delta")),
        "cross_entropy" => F::cross_entropy_with(i, t, &ce_options(o, r)),
        "nll_loss" => F::nll_loss_with(&i.log_softmax(1), t, &ce_options(o, r)),
        "binary_cross_entropy" => {
            F::binary_cross_entropy_with(i, t, opt_tensor(o, "weight").as_ref(), r)
        }
        "binary_cross_entropy_with_logits" => F::binary_cross_entropy_with_logits_with(
            i,
            t,
            opt_tensor(o, "weight").as_ref(),
            opt_tensor(o, "pos_weight").as_ref(),
            r,
        ),
        other => panic!("unknown loss {other}"),
    }
}

#[test]
fn every_loss_value_and_gradient_matches_pytorch() {
    let cases = load()["losses"].as_array().unwrap();
    assert!(cases.len() > 80);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let red = match c["reduction"].as_str().unwrap() {
            "none" => Reduction::None,
            "sum" => Reduction::Sum,
            _ => Reduction::Mean,
        };
        let ctx = format!("{name} {} {:?}", c["opts"], red);
        let i = leaf(&c["input"]);
        let mut t = tensor(&c["target"]);
        let grad_target = c.get("grad_target").is_some();
        if grad_target {
            t = t.requires_grad_(true);
        }
        let loss = run_loss(name, &c["opts"], &i, &t, red);
        assert_close(&loss, &c["loss"], RTOL, ATOL, &format!("{ctx} value"));
        loss.backward_with(&tensor(&c["grad_out"]));
        assert_close(
            &i.grad().unwrap(),
            &c["grad_input"],
            1e-8,
            1e-10,
            &format!("{ctx} grad input"),
        );
        if grad_target {
            assert_close(
                &t.grad().unwrap(),
                &c["grad_target"],
                1e-8,
                1e-10,
                &format!("{ctx} grad target"),
            );
        }
    }
}

#[test]
fn bce_clamps_log_at_minus_100() {
    let c = &load()["bce_edge"];
    let i = leaf(&c["input"]);
    let loss = F::binary_cross_entropy_with(&i, &tensor(&c["target"]), None, Reduction::None);
    assert_close(&loss, &c["loss"], RTOL, ATOL, "bce edge loss");
    loss.backward_with(&loss.ones_like());
    assert_close(&i.grad().unwrap(), &c["grad"], RTOL, ATOL, "bce edge grad");
}

/// A BatchNorm1d whose parameters and buffers are f64 (the fields are public).
fn bn64(c: usize, weight: Option<&Value>, bias: Option<&Value>) -> BatchNorm1d {
    let mut bn = BatchNorm1d::new(c);
    bn.weight = Some(
        weight
            .map_or(Tensor::ones(&[c]).double(), tensor)
            .requires_grad_(true),
    );
    bn.bias = Some(
        bias.map_or(Tensor::zeros(&[c]).double(), tensor)
            .requires_grad_(true),
    );
    bn.running_mean = Some(Tensor::zeros(&[c]).double());
    bn.running_var = Some(Tensor::ones(&[c]).double());
    bn
}

#[test]
fn batchnorm1d_train_eval_and_running_stats() {
    let c = &load()["batchnorm1d"];
    let bn = bn64(4, Some(&c["weight"]), Some(&c["bias"]));
    let (w, b) = (bn.weight.clone().unwrap(), bn.bias.clone().unwrap());
    for (k, step) in c["train"].as_array().unwrap().iter().enumerate() {
        let x = leaf(&step["x"]);
        let y = bn.forward(&x);
        assert_close(&y, &step["out"], RTOL, ATOL, &format!("bn out {k}"));
        w.set_grad(None);
        b.set_grad(None);
        y.backward_with(&tensor(&step["g"]));
        assert_close(&x.grad().unwrap(), &step["gx"], 1e-8, 1e-10, "bn gx");
        assert_close(&w.grad().unwrap(), &step["gw"], 1e-8, 1e-10, "bn gw");
        assert_close(&b.grad().unwrap(), &step["gb"], 1e-8, 1e-10, "bn gb");
    }
    assert_close(
        bn.running_mean.as_ref().unwrap(),
        &c["running_mean"],
        RTOL,
        ATOL,
        "running_mean",
    );
    assert_close(
        bn.running_var.as_ref().unwrap(),
        &c["running_var"],
        RTOL,
        ATOL,
        "running_var",
    );
    assert_eq!(
        bn.num_batches_tracked.as_ref().unwrap().item() as i64,
        c["num_batches_tracked"].as_i64().unwrap()
    );
    bn.eval();
    assert_close(
        &bn.forward(&tensor(&c["eval_x"])),
        &c["eval_out"],
        RTOL,
        ATOL,
        "bn eval",
    );
}

#[test]
fn batchnorm1d_three_dimensional_input() {
    let c = &load()["batchnorm1d_3d"];
    let bn = bn64(3, None, None);
    let x = leaf(&c["x"]);
    let y = bn.forward(&x);
    assert_close(&y, &c["out"], RTOL, ATOL, "bn3d out");
    y.backward_with(&tensor(&c["g"]));
    assert_close(&x.grad().unwrap(), &c["gx"], 1e-8, 1e-10, "bn3d gx");
    assert_close(
        bn.running_mean.as_ref().unwrap(),
        &c["running_mean"],
        RTOL,
        ATOL,
        "bn3d rm",
    );
    assert_close(
        bn.running_var.as_ref().unwrap(),
        &c["running_var"],
        RTOL,
        ATOL,
        "bn3d rv",
    );
}

#[test]
fn layernorm_forward_backward() {
    for c in load()["layernorm"].as_array().unwrap() {
        let ns: Vec<usize> = c["normalized_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let mut ln = LayerNorm::new(&ns);
        ln.weight = Some(leaf(&c["weight"]));
        ln.bias = Some(leaf(&c["bias"]));
        let x = leaf(&c["x"]);
        let y = ln.forward(&x);
        assert_close(&y, &c["out"], RTOL, ATOL, "ln out");
        y.backward_with(&tensor(&c["g"]));
        assert_close(&x.grad().unwrap(), &c["gx"], 1e-8, 1e-10, "ln gx");
        assert_close(
            &ln.weight.as_ref().unwrap().grad().unwrap(),
            &c["gw"],
            1e-8,
            1e-10,
            "ln gw",
        );
        assert_close(
            &ln.bias.as_ref().unwrap().grad().unwrap(),
            &c["gb"],
            1e-8,
            1e-10,
            "ln gb",
        );
    }
}

#[test]
fn embedding_lookup_and_gradient() {
    for c in load()["embedding"].as_array().unwrap() {
        let pad = c["padding_idx"].as_u64().map(|p| p as usize);
        let mut e = Embedding::with_padding(5, 3, pad);
        e.weight = leaf(&c["weight"]);
        let y = e.forward(&tensor(&c["indices"]));
        assert_close(&y, &c["out"], RTOL, ATOL, "embedding out");
        y.backward_with(&tensor(&c["g"]));
        assert_close(
            &e.weight.grad().unwrap(),
            &c["gw"],
            RTOL,
            ATOL,
            "embedding grad",
        );
    }
}

#[test]
fn init_gains_fans_and_statistics() {
    use kiln::nn::init;
    let c = &load()["init"];
    for (key, want) in c["gains"].as_object().unwrap() {
        let (nl, param) = match key.split_once(':') {
            Some((n, p)) => (n, Some(p.parse::<f64>().unwrap())),
            None => (key.as_str(), None),
        };
        assert_close_vals(
            &[init::calculate_gain(nl, param)],
            &[want.as_f64().unwrap()],
            1e-12,
            0.0,
            key,
        );
    }
    for f in c["fans"].as_array().unwrap() {
        let shape: Vec<usize> = f["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let (fi, fo) = init::calculate_fan_in_and_fan_out(&Tensor::zeros(&shape));
        assert_eq!(fi as u64, f["fan_in"].as_u64().unwrap());
        assert_eq!(fo as u64, f["fan_out"].as_u64().unwrap());
    }
    kiln::manual_seed(7);
    for s in c["stats"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let t = Tensor::zeros(&[300, 400]);
        let t = match name {
            "uniform" => init::uniform_(&t, -0.5, 1.5),
            "normal" => init::normal_(&t, 0.3, 2.0),
            "xavier_uniform" => init::xavier_uniform_(&t, 1.5),
            "xavier_normal" => init::xavier_normal_(&t, 1.0),
            "kaiming_uniform" => init::kaiming_uniform_(&t, 0.0, init::FanMode::FanIn, "relu"),
            "kaiming_normal" => init::kaiming_normal_(&t, 0.0, init::FanMode::FanOut, "relu"),
            "linear_default" => kiln::nn::Linear::new(400, 300).weight.detach(),
            other => panic!("{other}"),
        };
        let v = t.to_vec::<f64>();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
        let (want_mean, want_std) = (s["mean"].as_f64().unwrap(), s["std"].as_f64().unwrap());
        // Same distribution, different random streams: statistics within sampling error.
        assert!(
            (std - want_std).abs() < 0.02 * want_std,
            "{name}: std {std} vs {want_std}"
        );
        assert!(
            (mean - want_mean).abs() < 0.02 * want_std,
            "{name}: mean {mean} vs {want_mean}"
        );
        if name.contains("uniform") || name == "linear_default" {
            let (lo, hi) = (s["min"].as_f64().unwrap(), s["max"].as_f64().unwrap());
            let bound = lo.abs().max(hi.abs()) * 1.001;
            let (klo, khi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            if name == "uniform" {
                assert!(klo >= -0.5 && khi < 1.5);
            } else {
                assert!(
                    klo >= -bound && khi <= bound,
                    "{name}: [{klo}, {khi}] vs ±{bound}"
                );
            }
        }
    }
}
