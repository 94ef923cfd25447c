//! kiln's optimizers, schedulers and clipping against 100-step PyTorch trajectories.

mod fixture;

use fixture::{assert_close, assert_close_vals, floats, load, tensor};
use kiln::Tensor;
use kiln::nn::Reduction;
use kiln::nn::functional as F;
use kiln::optim::{
    Adagrad, AdagradOptions, Adam, AdamOptions, CosineAnnealingLR, ExponentialLR, LinearLR,
    LrScheduler, MultiStepLR, Optimizer, PlateauMode, RMSprop, RMSpropOptions, ReduceLROnPlateau,
    SGD, SgdOptions, StepLR, ThresholdMode, clip_grad_norm_,
};
use serde_json::Value;

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
    F::mse_loss(&pred, y, Reduction::Mean).add(&w.pow_scalar(4.0).sum().mul_scalar(0.01))
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
            let mut o = SGD::new(vec![w.clone()], 0.1);
            o.add_param_group(
                vec![b.clone()],
                SgdOptions {
                    lr: 0.01,
                    momentum: 0.9,
                    ..Default::default()
                },
            );
            Box::new(o)
        } else {
            build(name, &c["options"], vec![w.clone(), b.clone()])
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
    let mut opt = Adam::new(vec![w.clone(), b.clone()], 0.01);
    train(&mut opt, &w, &b, &x.float(), &y.float());
    assert_close(&w, &c["W"], 1e-4, 1e-5, "f32 Adam W");
}

#[test]
fn state_dict_round_trip_resumes_identically() {
    let (w, b, x, y) = problem();
    let mut a = Adam::new(vec![w.clone(), b.clone()], 0.01).amsgrad(true);
    train(&mut a, &w, &b, &x, &y);
    let sd = a.state_dict();
    assert_eq!(sd.state[&0]["step"].item(), 100.0);
    assert_eq!(sd.param_groups[0].params, vec![0, 1]);
    let (w2, b2) = (
        w.detach().deep_clone().requires_grad_(true),
        b.detach().deep_clone().requires_grad_(true),
    );
    let mut resumed = Adam::new(vec![w2.clone(), b2.clone()], 0.5);
    resumed.load_state_dict(&sd).unwrap();
    assert_eq!(resumed.lr(0), 0.01);
    train(&mut a, &w, &b, &x, &y);
    train(&mut resumed, &w2, &b2, &x, &y);
    assert_eq!(w.to_vec::<f64>(), w2.to_vec::<f64>());
    let mut wrong = Adam::new(vec![w2.clone()], 0.1);
    assert!(wrong.load_state_dict(&sd).is_err());
}

#[test]
fn schedulers_match_pytorch_lr_sequences() {
    for c in load()["schedulers"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let a = &c["args"];
        let p = Tensor::zeros(&[1]).requires_grad_(true);
        let mut opt = SGD::new(vec![p.clone()], 0.1);
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
