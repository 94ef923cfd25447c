//! kiln's optimizers, schedulers and clipping against 100-step PyTorch trajectories.

mod fixture;

use fixture::{assert_close, assert_close_vals, floats, load, tensor};
use kiln::Tensor;
use kiln::nn::Reduction;
use kiln::nn::functional as F;
use kiln::optim::{
    ASGD, Adadelta, AdadeltaOptions, Adagrad, AdagradOptions, Adam, AdamOptions, Adamax,
    AdamaxOptions, AsgdOptions, CosineAnnealingLR, ExponentialLR, GroupOptions, LinearLR,
    LrScheduler, MultiStepLR, NAdam, NAdamOptions, Optimizer, PlateauMode, RAdam, RAdamOptions,
    RMSprop, RMSpropOptions, ReduceLROnPlateau, Rprop, RpropOptions, SGD, SgdOptions, StepLR,
    ThresholdMode, clip_grad_norm_,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn problem() -> (Tensor, Tensor, Tensor, Tensor) {
    let p = &load()["optim_problem"];
    (
        tensor(&p["W0"]).requires_grad_(true),
        tensor(&p["b0"]).requires_grad_(true),
        tensor(&p["X"]),
        tensor(&p["Y"]),
    )
}

fn problem_loss(w: &Tensor, b: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    let pred = F::linear(x, w, Some(b)).tanh();
    F::mse_loss_with(&pred, y, Reduction::Mean).add(&w.pow_scalar(4.0).sum().mul_scalar(0.01))
}

fn num(o: &Value, k: &str, default: f64) -> f64 {
    o.get(k).map_or(default, |v| v.as_f64().unwrap())
}

fn flag(o: &Value, k: &str) -> bool {
    o.get(k).is_some_and(|v| v.as_bool().unwrap())
}

fn build(name: &str, o: &Value, params: Vec<Tensor>) -> Box<dyn Optimizer> {
    let lr = num(o, "lr", 1e-3);
    match name {
        "SGD" => Box::new(SGD::with_options(
            params,
            SgdOptions {
                lr,
                momentum: num(o, "momentum", 0.0),
                dampening: num(o, "dampening", 0.0),
                weight_decay: num(o, "weight_decay", 0.0),
                nesterov: flag(o, "nesterov"),
                maximize: flag(o, "maximize"),
            },
        )),
        "Adam" | "AdamW" => {
            let betas = o.get("betas").map_or(vec![0.9, 0.999], floats);
            let adamw = name == "AdamW";
            Box::new(Adam::with_options(
                params,
                AdamOptions {
                    lr,
                    beta1: betas[0],
                    beta2: betas[1],
                    eps: num(o, "eps", 1e-8),
                    weight_decay: num(o, "weight_decay", if adamw { 0.01 } else { 0.0 }),
                    amsgrad: flag(o, "amsgrad"),
                    maximize: false,
                    decoupled_weight_decay: adamw,
                },
            ))
        }
        "Adagrad" => Box::new(Adagrad::with_options(
            params,
            AdagradOptions {
                lr,
                lr_decay: num(o, "lr_decay", 0.0),
                weight_decay: num(o, "weight_decay", 0.0),
                initial_accumulator_value: num(o, "initial_accumulator_value", 0.0),
                ..Default::default()
            },
        )),
        "RMSprop" => Box::new(RMSprop::with_options(
            params,
            RMSpropOptions {
                lr,
                alpha: num(o, "alpha", 0.99),
                eps: num(o, "eps", 1e-8),
                weight_decay: num(o, "weight_decay", 0.0),
                momentum: num(o, "momentum", 0.0),
                centered: flag(o, "centered"),
                ..Default::default()
            },
        )),
        other => panic!("unknown optimizer {other}"),
    }
}

fn train(opt: &mut dyn Optimizer, w: &Tensor, b: &Tensor, x: &Tensor, y: &Tensor) -> Vec<f64> {
    (0..100)
        .map(|_| {
            opt.zero_grad();
            let loss = problem_loss(w, b, x, y);
            loss.backward();
            opt.step();
            loss.item()
        })
        .collect()
}

#[test]
fn optimizer_trajectories_match_pytorch() {
    let cases = load()["optim"].as_array().unwrap();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let ctx = format!("{name} {}", c["options"]);
        let (w, b, x, y) = problem();
        let mut opt: Box<dyn Optimizer> = if name == "SGD-groups" {
            let mut o = SGD::new(vec![w.shallow_clone()], 0.1);
            o.add_param_group(
                vec![b.shallow_clone()],
                SgdOptions {
                    lr: 0.01,
                    momentum: 0.9,
                    ..Default::default()
                },
            );
            Box::new(o)
        } else {
            build(
                name,
                &c["options"],
                vec![w.shallow_clone(), b.shallow_clone()],
            )
        };
        let losses = train(&mut *opt, &w, &b, &x, &y);
        // Same formulas in the same order: 100 steps agree far inside the 1e-5 target.
        assert_close_vals(
            &losses,
            &floats(&c["losses"]),
            1e-7,
            1e-12,
            &format!("{ctx} losses"),
        );
        assert_close(&w, &c["W"], 1e-8, 1e-12, &format!("{ctx} W"));
        assert_close(&b, &c["b"], 1e-8, 1e-12, &format!("{ctx} b"));
    }
}

#[test]
fn f32_adam_tracks_the_f64_trajectory() {
    let c = load()["optim"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Adam")
        .unwrap();
    let (w, b, x, y) = problem();
    let (w, b) = (
        w.detach().float().requires_grad_(true),
        b.detach().float().requires_grad_(true),
    );
    let mut opt = Adam::new(vec![w.shallow_clone(), b.shallow_clone()], 0.01);
    train(&mut opt, &w, &b, &x.float(), &y.float());
    assert_close(&w, &c["W"], 1e-4, 1e-5, "f32 Adam W");
}

#[test]
fn state_dict_round_trip_resumes_identically() {
    let (w, b, x, y) = problem();
    let mut a = Adam::new(vec![w.shallow_clone(), b.shallow_clone()], 0.01).amsgrad(true);
    train(&mut a, &w, &b, &x, &y);
    let sd = a.state_dict();
    assert_eq!(sd.state[&0]["step"].item(), 100.0);
    assert_eq!(sd.param_groups[0].params, vec![0, 1]);
    let (w2, b2) = (
        w.detach().clone().requires_grad_(true),
        b.detach().clone().requires_grad_(true),
    );
    let mut resumed = Adam::new(vec![w2.shallow_clone(), b2.shallow_clone()], 0.5);
    resumed.load_state_dict(&sd).unwrap();
    assert_eq!(resumed.lr(0), 0.01);
    train(&mut a, &w, &b, &x, &y);
    train(&mut resumed, &w2, &b2, &x, &y);
    assert_eq!(w.to_vec::<f64>(), w2.to_vec::<f64>());
    let mut wrong = Adam::new(vec![w2.shallow_clone()], 0.1);
    assert!(wrong.load_state_dict(&sd).is_err());
}

#[test]
fn schedulers_match_pytorch_lr_sequences() {
    for c in load()["schedulers"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let a = &c["args"];
        let p = Tensor::zeros(&[1]).requires_grad_(true);
        let mut opt = SGD::new(vec![p.shallow_clone()], 0.1);
        let want = floats(&c["lrs"]);
        if name == "ReduceLROnPlateau" {
            let mode = if a["mode"] == "max" {
                PlateauMode::Max
            } else {
                PlateauMode::Min
            };
            let tm = if a.get("threshold_mode").is_some_and(|v| v == "abs") {
                ThresholdMode::Abs
            } else {
                ThresholdMode::Rel
            };
            let mut s = ReduceLROnPlateau::new(&opt)
                .mode(mode)
                .factor(num(a, "factor", 0.1))
                .patience(num(a, "patience", 10.0) as usize)
                .threshold(num(a, "threshold", 1e-4), tm)
                .cooldown(num(a, "cooldown", 0.0) as usize)
                .min_lr(num(a, "min_lr", 0.0));
            let got: Vec<f64> = floats(&c["metrics"])
                .into_iter()
                .map(|m| {
                    s.step(&mut opt, m);
                    opt.lr(0)
                })
                .collect();
            assert_close_vals(&got, &want, 1e-12, 1e-15, &format!("{name} {a}"));
            continue;
        }
        let mut s: Box<dyn LrScheduler> = match name {
            "StepLR" => Box::new(StepLR::new(
                &mut opt,
                a["step_size"].as_u64().unwrap() as usize,
                num(a, "gamma", 0.1),
            )),
            "MultiStepLR" => {
                let ms: Vec<usize> = floats(&a["milestones"])
                    .iter()
                    .map(|&m| m as usize)
                    .collect();
                Box::new(MultiStepLR::new(&mut opt, &ms, num(a, "gamma", 0.1)))
            }
            "ExponentialLR" => Box::new(ExponentialLR::new(&mut opt, num(a, "gamma", 0.1))),
            "CosineAnnealingLR" => Box::new(CosineAnnealingLR::new(
                &mut opt,
                a["T_max"].as_u64().unwrap() as usize,
                num(a, "eta_min", 0.0),
            )),
            "LinearLR" => Box::new(LinearLR::new(
                &mut opt,
                num(a, "start_factor", 1.0 / 3.0),
                num(a, "end_factor", 1.0),
                a["total_iters"].as_u64().unwrap() as usize,
            )),
            other => panic!("unknown scheduler {other}"),
        };
        let mut got = vec![opt.lr(0)];
        for _ in 0..30 {
            opt.step();
            s.step(&mut opt);
            got.push(opt.lr(0));
        }
        assert_close_vals(&got, &want, 1e-12, 1e-15, &format!("{name} {a}"));
        assert_eq!(s.get_last_lr(), vec![opt.lr(0)]);
        assert_eq!(s.last_epoch(), 30);
    }
}

#[test]
fn clip_grad_norm_matches_pytorch() {
    for c in load()["clip_grad_norm"].as_array().unwrap() {
        let nt = if c["norm_type"] == "inf" {
            f64::INFINITY
        } else {
            c["norm_type"].as_f64().unwrap()
        };
        let params: Vec<Tensor> = c["grads_in"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let p = tensor(g).zeros_like().requires_grad_(true);
                p.set_grad(Some(tensor(g)));
                p
            })
            .collect();
        let total = clip_grad_norm_(&params, c["max_norm"].as_f64().unwrap(), nt);
        assert_close_vals(
            &[total],
            &[c["total"].as_f64().unwrap()],
            1e-12,
            0.0,
            "total norm",
        );
        for (p, want) in params.iter().zip(c["grads_out"].as_array().unwrap()) {
            assert_close(&p.grad().unwrap(), want, 1e-12, 1e-15, "clipped grad");
        }
    }
}

// ------------------------------------------- Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop

/// `tests/fixtures/optim.json`, made by `scripts/fixtures/gen_optim.py`.
fn optim_fixture() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/optim.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("read optim.json"))
            .expect("parse optim.json")
    })
}

/// The problem's parameters (as `dtype`) and data.
fn problem2(f32: bool) -> (Tensor, Tensor, Tensor, Tensor) {
    let p = &optim_fixture()["problem"];
    let cast = |t: Tensor| if f32 { t.float() } else { t };
    (
        cast(tensor(&p["W0"])).requires_grad_(true),
        cast(tensor(&p["b0"])).requires_grad_(true),
        cast(tensor(&p["X"])),
        cast(tensor(&p["Y"])),
    )
}

/// PyTorch's keyword options applied over kiln's defaults (pairs such as `betas` split
/// into their two fields); an option kiln lacks fails the test.
fn options_from<O: GroupOptions + Default>(o: &Value) -> O {
    let mut m = O::default().to_map();
    let mut set = |k: &str, v: f64| {
        assert!(m.contains_key(k), "kiln has no option {k}");
        m.insert(k.to_string(), v);
    };
    for (k, v) in o.as_object().unwrap() {
        let pair = match k.as_str() {
            "betas" => Some(("beta1", "beta2")),
            "etas" => Some(("etaminus", "etaplus")),
            "step_sizes" => Some(("step_size_min", "step_size_max")),
            _ => None,
        };
        match (pair, v) {
            (Some((a, b)), _) => {
                let f = floats(v);
                set(a, f[0]);
                set(b, f[1]);
            }
            (None, Value::Bool(on)) => set(k, if *on { 1.0 } else { 0.0 }),
            (None, _) => set(k, v.as_f64().unwrap()),
        }
    }
    let mut out = O::default();
    out.load_map(0, &m).unwrap();
    out
}

fn build_new(name: &str, o: &Value, params: Vec<Tensor>) -> Box<dyn Optimizer> {
    match name {
        "Adadelta" => Box::new(Adadelta::with_options(params, options_from(o))),
        "Adamax" => Box::new(Adamax::with_options(params, options_from(o))),
        "NAdam" => Box::new(NAdam::with_options(params, options_from(o))),
        "RAdam" => Box::new(RAdam::with_options(params, options_from(o))),
        "ASGD" => Box::new(ASGD::with_options(params, options_from(o))),
        "Rprop" => Box::new(Rprop::with_options(params, options_from(o))),
        other => panic!("unknown optimizer {other}"),
    }
}

/// Two groups: `w` under `first`, `b` under `second`.
fn build_groups(
    name: &str,
    first: &Value,
    second: &Value,
    w: &Tensor,
    b: &Tensor,
) -> Box<dyn Optimizer> {
    let (w, b) = (vec![w.shallow_clone()], vec![b.shallow_clone()]);
    match name {
        "Adadelta" => {
            let mut o = Adadelta::with_options(w, options_from(first));
            o.add_param_group(b, options_from(second));
            Box::new(o)
        }
        "NAdam" => {
            let mut o = NAdam::with_options(w, options_from(first));
            o.add_param_group(b, options_from(second));
            Box::new(o)
        }
        "ASGD" => {
            let mut o = ASGD::with_options(w, options_from(first));
            o.add_param_group(b, options_from(second));
            Box::new(o)
        }
        "Rprop" => {
            let mut o = Rprop::with_options(w, options_from(first));
            o.add_param_group(b, options_from(second));
            Box::new(o)
        }
        other => panic!("unknown optimizer {other}"),
    }
}

/// Compares `opt.state_dict()`'s per-parameter state with PyTorch's final `opt.state`.
fn assert_state(opt: &dyn Optimizer, want: &Value, rtol: f64, ctx: &str) {
    let sd = opt.state_dict();
    for (i, w) in want.as_array().unwrap().iter().enumerate() {
        let got = &sd.state[&i];
        let keys: Vec<&String> = got.keys().collect();
        let want_keys: Vec<&String> = w.as_object().unwrap().keys().collect();
        let mut sorted = want_keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{ctx}: state keys of parameter {i}");
        for (k, v) in w.as_object().unwrap() {
            let c = format!("{ctx} state[{i}].{k}");
            if let Some(x) = v.as_f64() {
                assert_eq!(got[k].shape(), Vec::<usize>::new(), "{c}: 0-D");
                assert_close_vals(&[got[k].item()], &[x], rtol, 0.0, &c);
            } else {
                assert_close(&got[k], v, rtol, 1e-12, &c);
            }
        }
    }
}

#[test]
fn new_optimizer_defaults_are_pytorchs() {
    let d = &optim_fixture()["defaults"];
    let check = |name: &str, got: BTreeMap<String, f64>| {
        let want: BTreeMap<String, f64> = d[name]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
            .collect();
        assert_eq!(got, want, "{name} defaults");
    };
    check("Adadelta", AdadeltaOptions::default().to_map());
    check("Adamax", AdamaxOptions::default().to_map());
    check("NAdam", NAdamOptions::default().to_map());
    check("RAdam", RAdamOptions::default().to_map());
    check("ASGD", AsgdOptions::default().to_map());
    check("Rprop", RpropOptions::default().to_map());
}

#[test]
fn new_optimizer_trajectories_match_pytorch() {
    let cases = optim_fixture()["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 18);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let ctx = format!("{name} {}", c["options"]);
        let (w, b, x, y) = problem2(false);
        let mut opt = build_new(
            name,
            &c["options"],
            vec![w.shallow_clone(), b.shallow_clone()],
        );
        let losses = train(&mut *opt, &w, &b, &x, &y);
        // The same tolerances as the older optimizers': same formulas, same order.
        assert_close_vals(
            &losses,
            &floats(&c["losses"]),
            1e-7,
            1e-12,
            &format!("{ctx} losses"),
        );
        assert_close(&w, &c["W"], 1e-8, 1e-12, &format!("{ctx} W"));
        assert_close(&b, &c["b"], 1e-8, 1e-12, &format!("{ctx} b"));
        assert_state(&*opt, &c["state"], 1e-8, &ctx);
    }
}

#[test]
fn new_optimizer_f32_trajectories_match_pytorch_f32() {
    let mut checked = 0;
    for c in optim_fixture()["cases"].as_array().unwrap() {
        // The generator leaves out cases whose float32 trajectory is chaotic in PyTorch.
        if c["f32"].is_null() {
            continue;
        }
        checked += 1;
        let name = c["name"].as_str().unwrap();
        let ctx = format!("f32 {name} {}", c["options"]);
        let (w, b, x, y) = problem2(true);
        let mut opt = build_new(
            name,
            &c["options"],
            vec![w.shallow_clone(), b.shallow_clone()],
        );
        let losses = train(&mut *opt, &w, &b, &x, &y);
        let want = &c["f32"];
        // kiln's f32 forward sums in its own order, so 100 steps drift apart by float32
        // rounding, not by formula.
        assert_close_vals(
            &losses,
            &floats(&want["losses"]),
            1e-4,
            1e-5,
            &format!("{ctx} losses"),
        );
        assert_close(&w, &want["W"], 1e-4, 1e-5, &format!("{ctx} W"));
        assert_close(&b, &want["b"], 1e-4, 1e-5, &format!("{ctx} b"));
        assert_eq!(w.dtype(), kiln::DType::F32);
    }
    assert_eq!(checked, 16);
}

#[test]
fn new_optimizer_param_groups_match_pytorch() {
    for c in optim_fixture()["groups"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let g = &c["groups"];
        let ctx = format!("{name} groups {g}");
        let (w, b, x, y) = problem2(false);
        let mut opt = build_groups(name, &g[0], &g[1], &w, &b);
        let losses = train(&mut *opt, &w, &b, &x, &y);
        assert_close_vals(
            &losses,
            &floats(&c["losses"]),
            1e-7,
            1e-12,
            &format!("{ctx} losses"),
        );
        assert_close(&w, &c["W"], 1e-8, 1e-12, &format!("{ctx} W"));
        assert_close(&b, &c["b"], 1e-8, 1e-12, &format!("{ctx} b"));
        assert_state(&*opt, &c["state"], 1e-8, &ctx);
    }
}

#[test]
fn adadelta_with_steplr_matches_mnist_examples_schedule() {
    let c = &optim_fixture()["adadelta_steplr"];
    let (w, b, x, y) = problem2(false);
    let mut opt = Adadelta::new(vec![w.shallow_clone(), b.shallow_clone()], 1.0);
    let mut sched = StepLR::new(&mut opt, 1, 0.7);
    let (mut losses, mut lrs) = (Vec::new(), Vec::new());
    for i in 0..100 {
        opt.zero_grad();
        let loss = problem_loss(&w, &b, &x, &y);
        loss.backward();
        opt.step();
        losses.push(loss.item());
        if (i + 1) % 10 == 0 {
            sched.step(&mut opt);
            lrs.push(opt.lr(0));
        }
    }
    assert_close_vals(&lrs, &floats(&c["lrs"]), 1e-15, 0.0, "StepLR lrs");
    assert_close_vals(
        &losses,
        &floats(&c["losses"]),
        1e-7,
        1e-12,
        "Adadelta+StepLR losses",
    );
    assert_close(&w, &c["W"], 1e-8, 1e-12, "Adadelta+StepLR W");
}

#[test]
fn scalar_state_round_trips_and_resumes_identically() {
    for (name, o, key) in [
        (
            "NAdam",
            serde_json::json!({"lr": 0.01, "weight_decay": 0.1}),
            "mu_product",
        ),
        ("ASGD", serde_json::json!({"lr": 0.05, "t0": 20}), "eta"),
        ("Rprop", serde_json::json!({"lr": 0.01}), "prev"),
        ("Adadelta", serde_json::json!({}), "acc_delta"),
    ] {
        let (w, b, x, y) = problem2(false);
        let mut a = build_new(name, &o, vec![w.shallow_clone(), b.shallow_clone()]);
        train(&mut *a, &w, &b, &x, &y);
        let sd = a.state_dict();
        let (w2, b2) = (
            w.detach().clone().requires_grad_(true),
            b.detach().clone().requires_grad_(true),
        );
        let mut resumed = build_new(
            name,
            &serde_json::json!({"lr": 0.5}),
            vec![w2.shallow_clone(), b2.shallow_clone()],
        );
        resumed.load_state_dict(&sd).unwrap();
        assert_eq!(resumed.lr(0), a.lr(0), "{name} lr restored");
        train(&mut *a, &w, &b, &x, &y);
        train(&mut *resumed, &w2, &b2, &x, &y);
        assert_eq!(w.to_vec::<f64>(), w2.to_vec::<f64>(), "{name} resumed W");
        // A state dict without one of the optimizer's state entries is refused.
        let mut broken = sd.clone();
        broken.state.get_mut(&1).unwrap().remove(key);
        let mut fresh = build_new(name, &o, vec![w2.shallow_clone(), b2.shallow_clone()]);
        // A scalar given as a tensor with several elements is refused too.
        if name == "NAdam" || name == "ASGD" {
            let mut wide = sd.clone();
            wide.state
                .get_mut(&0)
                .unwrap()
                .insert(key.to_string(), Tensor::zeros(&[3]));
            assert!(
                fresh.load_state_dict(&wide).is_err(),
                "{name} {key} of shape [3]"
            );
        }
        assert!(
            fresh.load_state_dict(&broken).is_err(),
            "{name} without {key}"
        );
    }
}

#[test]
fn asgd_averaged_is_the_ax_state() {
    let c = &optim_fixture()["cases"].as_array().unwrap()[14];
    assert_eq!(c["name"], "ASGD");
    let (w, b, x, y) = problem2(false);
    let mut opt = ASGD::with_options(
        vec![w.shallow_clone(), b.shallow_clone()],
        options_from(&c["options"]),
    );
    assert!(opt.averaged(0).is_none());
    train(&mut opt, &w, &b, &x, &y);
    assert_close(
        opt.averaged(0).unwrap(),
        &c["state"][0]["ax"],
        1e-8,
        1e-12,
        "ASGD ax",
    );
    // After t0 the average lags the parameter.
    assert_ne!(opt.averaged(0).unwrap().to_vec::<f64>(), w.to_vec::<f64>());
}

/// The message `f` panics with.
fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("should panic");
    e.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn new_optimizers_reject_invalid_hyperparameters_like_pytorch() {
    let p = || vec![Tensor::zeros(&[2]).requires_grad_(true)];
    let cases = [
        (
            panic_message(|| drop(Adadelta::new(p(), -1.0))),
            "Invalid learning rate: -1.0",
        ),
        (
            panic_message(|| drop(Adadelta::new(p(), 1.0).rho(1.5))),
            "Invalid rho value: 1.5",
        ),
        (
            panic_message(|| drop(Adadelta::new(p(), 1.0).eps(-1e-6))),
            "Invalid epsilon value: -1e-06",
        ),
        (
            panic_message(|| drop(Adamax::new(p(), f64::NAN))),
            "Invalid learning rate: nan",
        ),
        (
            panic_message(|| drop(Adamax::new(p(), 0.1).betas(1.0, 0.9))),
            "Invalid beta parameter at index 0: 1.0",
        ),
        (
            panic_message(|| drop(NAdam::new(p(), 0.1).betas(0.9, -0.1))),
            "Invalid beta parameter at index 1: -0.1",
        ),
        (
            panic_message(|| drop(NAdam::new(p(), 0.1).momentum_decay(-1.0))),
            "Invalid momentum_decay value: -1.0",
        ),
        (
            panic_message(|| drop(RAdam::new(p(), 0.1).weight_decay(-0.5))),
            "Invalid weight_decay value: -0.5",
        ),
        (
            panic_message(|| drop(ASGD::new(p(), 0.1).lambd(-1.0))),
            "Invalid lambd value: -1.0",
        ),
        (
            panic_message(|| drop(ASGD::new(p(), 0.1).alpha(-1.0))),
            "Invalid alpha value: -1.0",
        ),
        (
            panic_message(|| drop(Rprop::new(p(), 0.1).etas(0.5, 0.9))),
            "Invalid eta values: 0.5, 0.9",
        ),
        (
            panic_message(|| {
                let mut o = ASGD::new(p(), 0.1);
                let bad = AsgdOptions {
                    alpha: -2.0,
                    ..Default::default()
                };
                o.add_param_group(p(), bad);
            }),
            "Invalid alpha value: -2.0",
        ),
        (
            panic_message(|| drop(Rprop::new(p(), -0.1))),
            "Invalid learning rate: -0.1",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

/// Steps `make(params)` three times on one large parameter (the threaded, chunked
/// path) and on the same values as ten small ones (one pass each): the updates are
/// elementwise, so the results agree bit for bit, and every step writes into the same
/// parameter and state storage.
macro_rules! check_in_place_and_chunking {
    ($make:expr, $name:expr) => {{
        let n = 70_000;
        let pv: Vec<f64> = (0..n).map(|i| (i as f64 * 0.01).sin()).collect();
        let gv: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).cos() + 0.1).collect();
        let big = Tensor::from_vec(pv.clone(), &[n]).requires_grad_(true);
        let small: Vec<Tensor> = pv
            .chunks(n / 10)
            .map(|c| Tensor::from_vec(c.to_vec(), &[c.len()]).requires_grad_(true))
            .collect();
        let mut ob = $make(vec![big.shallow_clone()]);
        let mut os = $make(small.clone());
        let mut storages = Vec::new();
        for step in 0..3 {
            big.set_grad(Some(Tensor::from_vec(gv.clone(), &[n])));
            for (p, c) in small.iter().zip(gv.chunks(n / 10)) {
                p.set_grad(Some(Tensor::from_vec(c.to_vec(), &[c.len()])));
            }
            ob.step();
            os.step();
            let st = ob.param_state(0).unwrap();
            let now: Vec<kiln::Tensor> =
                st.buffers.iter().map(|(_, t)| t.shallow_clone()).collect();
            if step == 0 {
                storages = now;
            } else {
                for (a, b) in storages.iter().zip(&now) {
                    assert!(a.storage().same(b.storage()), "{} state reallocated", $name);
                }
            }
        }
        let got: Vec<f64> = small.iter().flat_map(|p| p.to_vec::<f64>()).collect();
        assert_eq!(big.to_vec::<f64>(), got, "{} chunked vs serial", $name);
        assert_ne!(big.to_vec::<f64>(), pv, "{} moved", $name);
    }};
}

#[test]
fn new_optimizers_update_in_place_and_chunk_exactly() {
    check_in_place_and_chunking!(|p| Adadelta::new(p, 1.0).weight_decay(0.01), "Adadelta");
    check_in_place_and_chunking!(|p| Adamax::new(p, 0.01), "Adamax");
    check_in_place_and_chunking!(
        |p| NAdam::new(p, 0.01)
            .weight_decay(0.1)
            .decoupled_weight_decay(true),
        "NAdam"
    );
    check_in_place_and_chunking!(|p| RAdam::new(p, 0.01), "RAdam");
    check_in_place_and_chunking!(|p| ASGD::new(p, 0.01).t0(1.0), "ASGD");
    check_in_place_and_chunking!(|p| Rprop::new(p, 0.01), "Rprop");
}

#[test]
fn scalar_state_survives_a_checkpoint_file() {
    use kiln::io::Checkpoint;
    use kiln::nn::{Linear, Module};
    let x = Tensor::from_vec((0..8).map(|i| i as f32 * 0.1).collect(), &[2, 4]);
    let dir = tempfile::tempdir().unwrap();
    for name in ["NAdam", "ASGD"] {
        let model = Linear::new(4, 3);
        let mut opt = build_new(name, &serde_json::json!({"lr": 0.01}), model.parameters());
        for _ in 0..3 {
            opt.zero_grad();
            model.forward(&x).pow_scalar(2.0).sum().backward();
            opt.step();
        }
        let path = dir.path().join(format!("{name}.safetensors"));
        Checkpoint::capture(&model, &*opt, None, 1)
            .save(&path)
            .unwrap();
        let fresh = Linear::new(4, 3);
        let mut opt2 = build_new(name, &serde_json::json!({"lr": 0.5}), fresh.parameters());
        Checkpoint::load(&path)
            .unwrap()
            .restore(&fresh, &mut *opt2, None)
            .unwrap();
        let (a, b) = (opt.state_dict(), opt2.state_dict());
        for (i, s) in &a.state {
            for (k, t) in s {
                assert_eq!(
                    t.to_vec::<f64>(),
                    b.state[i][k].to_vec::<f64>(),
                    "{name} {k}"
                );
            }
        }
        assert_eq!(opt2.lr(0), 0.01);
    }
}
