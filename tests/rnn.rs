//! Recurrent layers against real PyTorch (`tests/fixtures/rnn.json`, made by
//! `scripts/fixtures/gen_rnn.py`): RNN / LSTM / GRU and the cells over their options,
//! padded and packed, f32 and f64 — parameter draws after `manual_seed` (bit for bit),
//! reprs, outputs, final states and the gradients of input, initial states and every
//! parameter. Plus f64 finite-difference gradchecks of the fused layer op, the packing
//! utilities, and a 2,000-step sequence that trains with flat memory.

use kiln::autograd::gradcheck;
use kiln::nn::functional::{self as F, LayerWeights, Mode};
use kiln::nn::utils::rnn::{pack_padded_sequence, pad_packed_sequence, pad_sequence};
use kiln::nn::{GRU, GRUCell, LSTM, LSTMCell, Module, Nonlinearity, RNN, RNNCell, RnnOptions};
use kiln::optim::Optimizer;
use kiln::{DType, Tensor};
use serde_json::Value;
use std::sync::OnceLock;

mod fixture;
use fixture::{fixture_dtype as dtype, floats, rng_lock, usizes};

fn load() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| fixture::read_json("rnn.json"))
}

fn make(rec: &Value, key: &str) -> Tensor {
    let t = Tensor::from_vec(floats(&rec[key]), &usizes(&rec[&format!("{key}_shape")]));
    t.to_dtype(dtype(rec))
}

fn close(got: &Tensor, want: &[f64], f32: bool, ctx: &str) {
    let (rtol, atol) = if f32 { (2e-4, 2e-5) } else { (1e-9, 1e-11) };
    let g = got.to_vec::<f64>();
    assert_eq!(g.len(), want.len(), "{ctx}: length ({:?})", got.shape());
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "{ctx}[{i}]: got {a}, PyTorch {b}"
        );
    }
}

enum Layer {
    Rnn(RNN),
    Lstm(LSTM),
    Gru(GRU),
    RnnCell(RNNCell),
    LstmCell(LSTMCell),
    GruCell(GRUCell),
}

impl Layer {
    fn module(&self) -> &dyn Module {
        match self {
            Layer::Rnn(m) => m,
            Layer::Lstm(m) => m,
            Layer::Gru(m) => m,
            Layer::RnnCell(m) => m,
            Layer::LstmCell(m) => m,
            Layer::GruCell(m) => m,
        }
    }
}

fn build(rec: &Value) -> Layer {
    let o = &rec["opts"];
    let (i, h) = (
        rec["I"].as_u64().unwrap() as usize,
        rec["H"].as_u64().unwrap() as usize,
    );
    let dt = dtype(rec);
    let bias = o["bias"].as_bool().unwrap_or(true);
    let nl = if o["nonlinearity"] == "relu" {
        Nonlinearity::Relu
    } else {
        Nonlinearity::Tanh
    };
    let opts = RnnOptions::new()
        .num_layers(o["num_layers"].as_u64().unwrap_or(1) as usize)
        .bias(bias)
        .batch_first(o["batch_first"].as_bool().unwrap_or(false))
        .dropout(o["dropout"].as_f64().unwrap_or(0.0))
        .bidirectional(o["bidirectional"].as_bool().unwrap_or(false))
        .proj_size(o["proj_size"].as_u64().unwrap_or(0) as usize)
        .nonlinearity(nl)
        .dtype(dt);
    match rec["kind"].as_str().unwrap() {
        "RNN" => Layer::Rnn(RNN::with_options(i, h, opts)),
        "LSTM" => Layer::Lstm(LSTM::with_options(i, h, opts)),
        "GRU" => Layer::Gru(GRU::with_options(i, h, opts)),
        "RNNCell" => Layer::RnnCell(RNNCell::with_options(i, h, bias, nl, dt)),
        "LSTMCell" => Layer::LstmCell(LSTMCell::with_options(i, h, bias, dt)),
        "GRUCell" => Layer::GruCell(GRUCell::with_options(i, h, bias, dt)),
        k => panic!("unknown kind {k}"),
    }
}

fn ctx_of(rec: &Value) -> String {
    format!(
        "{} {} {} h0={} packed={}",
        rec["kind"], rec["dtype"], rec["opts"], rec["h0"], rec["packed"]
    )
}

/// Runs the case; returns `[(out | None), h_n, (c_n)]` in the fixture's order.
fn run(
    layer: &Layer,
    rec: &Value,
    x: &Tensor,
    h0: Option<&Tensor>,
    c0: Option<&Tensor>,
) -> Vec<Tensor> {
    let packed = &rec["packed"];
    let bf = rec["opts"]["batch_first"].as_bool().unwrap_or(false);
    let pack = || {
        pack_padded_sequence(
            x,
            &usizes(&packed["lengths"]),
            bf,
            packed["enforce_sorted"].as_bool().unwrap(),
        )
    };
    let unpack = |p| pad_packed_sequence(p, bf, 0.0, None).0;
    let hc = h0.zip(c0);
    match layer {
        Layer::Rnn(m) if !packed.is_null() => {
            let p = pack();
            assert_eq!(p.batch_sizes, usizes(&rec["batch_sizes"]));
            let (o, h) = m.forward_packed(&p, h0);
            vec![unpack(&o), h]
        }
        Layer::Gru(m) if !packed.is_null() => {
            let (o, h) = m.forward_packed(&pack(), h0);
            vec![unpack(&o), h]
        }
        Layer::Lstm(m) if !packed.is_null() => {
            let (o, (h, c)) = m.forward_packed(&pack(), hc);
            vec![unpack(&o), h, c]
        }
        Layer::Rnn(m) => {
            let (o, h) = m.forward_with(x, h0);
            vec![o, h]
        }
        Layer::Gru(m) => {
            let (o, h) = m.forward_with(x, h0);
            vec![o, h]
        }
        Layer::Lstm(m) => {
            let (o, (h, c)) = m.forward_with(x, hc);
            vec![o, h, c]
        }
        Layer::RnnCell(m) => vec![m.forward_with(x, h0)],
        Layer::GruCell(m) => vec![m.forward_with(x, h0)],
        Layer::LstmCell(m) => {
            let (h, c) = m.forward_with(x, hc);
            vec![h, c]
        }
    }
}

#[test]
fn layers_match_pytorch() {
    let _g = rng_lock();
    for rec in load()["cases"].as_array().unwrap() {
        let ctx = ctx_of(rec);
        let f32 = dtype(rec) == DType::F32;
        kiln::manual_seed(rec["seed"].as_u64().unwrap());
        let layer = build(rec);
        let m = layer.module();
        // Same names, shapes and bits as torch.manual_seed + the PyTorch constructor.
        let params = m.named_parameters();
        let want = rec["params"].as_object().unwrap();
        assert_eq!(
            params.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            rec["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect::<Vec<_>>(),
            "{ctx}: parameter names"
        );
        for (name, p) in &params {
            assert_eq!(
                p.shape(),
                usizes(&rec["shapes"][name]).as_slice(),
                "{ctx} {name}"
            );
            assert_eq!(p.dtype(), dtype(rec), "{ctx} {name}");
            assert_eq!(
                p.to_vec::<f64>(),
                floats(&want[name]),
                "{ctx}: {name} draws"
            );
        }
        assert_eq!(m.repr(), rec["repr"].as_str().unwrap(), "{ctx}: repr");
        let x = make(rec, "x").requires_grad_(true);
        let h0 = rec
            .get("h0")
            .filter(|v| v.is_array())
            .map(|_| make(rec, "h0").requires_grad_(true));
        let c0 = rec
            .get("c0")
            .filter(|v| v.is_array())
            .map(|_| make(rec, "c0").requires_grad_(true));
        if let Some(s) = rec["train_seed"].as_u64() {
            kiln::manual_seed(s);
        }
        let outs = run(&layer, rec, &x, h0.as_ref(), c0.as_ref());
        let names: Vec<&str> = ["out", "h_n", "c_n"]
            .into_iter()
            .filter(|k| rec[*k].is_array())
            .collect();
        assert_eq!(outs.len(), names.len(), "{ctx}: outputs");
        let mut loss: Option<Tensor> = None;
        for (t, name) in outs.iter().zip(&names) {
            assert_eq!(
                t.shape(),
                usizes(&rec[&format!("{name}_shape")]).as_slice(),
                "{ctx} {name} shape"
            );
            close(t, &floats(&rec[*name]), f32, &format!("{ctx} {name}"));
            let g = Tensor::from_vec(floats(&rec[&format!("g_{name}")]), t.shape())
                .to_dtype(dtype(rec));
            let term = t.mul(&g).sum();
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term),
            });
        }
        loss.unwrap().backward();
        close(
            &x.grad().expect("x grad"),
            &floats(&rec["grad_x"]),
            f32,
            &format!("{ctx} grad x"),
        );
        if let Some(h0) = &h0 {
            close(
                &h0.grad().expect("h0 grad"),
                &floats(&rec["grad_h0"]),
                f32,
                &format!("{ctx} grad h0"),
            );
        }
        if let Some(c0) = &c0 {
            close(
                &c0.grad().expect("c0 grad"),
                &floats(&rec["grad_c0"]),
                f32,
                &format!("{ctx} grad c0"),
            );
        }
        for (name, p) in &params {
            let g = p
                .grad()
                .unwrap_or_else(|| panic!("{ctx}: no grad for {name}"));
            close(
                &g,
                &floats(&rec["grad_params"][name]),
                f32,
                &format!("{ctx} grad {name}"),
            );
        }
    }
}

#[test]
fn state_dict_from_pytorch_loads() {
    // Layers draw from the shared default generator: one seeded test at a time.
    let _g = rng_lock();
    let rec = load()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "LSTM" && r["opts"]["proj_size"] == 3)
        .unwrap();
    let layer = build(rec);
    let m = layer.module();
    let mut sd = kiln::nn::StateDict::new();
    for (name, vals) in rec["params"].as_object().unwrap() {
        let shape = usizes(&rec["shapes"][name]);
        sd.insert(
            name.clone(),
            Tensor::from_vec(floats(vals), &shape).to_dtype(dtype(rec)),
        );
    }
    m.load_state_dict(&sd).unwrap();
    for (name, p) in m.named_parameters() {
        assert_eq!(p.to_vec::<f64>(), floats(&rec["params"][&name]), "{name}");
    }
}

#[test]
fn packing_utilities_match_pytorch() {
    // Layers draw from the shared default generator: one seeded test at a time.
    let _g = rng_lock();
    let u = &load()["utils"];
    let seqs: Vec<Tensor> = u["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(usizes(&u["lens"]))
        .map(|(v, n)| Tensor::from_vec(floats(v), &[n, 2]).float())
        .collect();
    close(
        &pad_sequence(&seqs, false, 0.0),
        &floats(&u["pad_tb"]),
        true,
        "pad_sequence",
    );
    close(
        &pad_sequence(&seqs, true, -1.5),
        &floats(&u["pad_bt"]),
        true,
        "pad_sequence batch_first",
    );
    let p = pack_padded_sequence(
        &pad_sequence(&seqs, false, 0.0),
        &usizes(&u["lens"]),
        false,
        false,
    );
    close(&p.data, &floats(&u["packed_data"]), true, "packed data");
    assert_eq!(p.batch_sizes, usizes(&u["batch_sizes"]));
    assert_eq!(
        p.sorted_indices.as_ref().unwrap().to_vec::<i64>(),
        vec![1, 0, 2]
    );
    assert_eq!(
        p.unsorted_indices.as_ref().unwrap().to_vec::<i64>(),
        vec![1, 0, 2]
    );
    let (up, lens) = pad_packed_sequence(&p, true, 9.0, Some(6));
    assert_eq!(up.shape(), usizes(&u["unpacked_shape"]).as_slice());
    close(&up, &floats(&u["unpacked_bt"]), true, "pad_packed_sequence");
    assert_eq!(lens, usizes(&u["unpacked_lengths"]));
}

#[test]
#[should_panic(expected = "must be sorted in decreasing order when `enforce_sorted` is True")]
fn enforce_sorted_rejects_unsorted_lengths() {
    // Layers draw from the shared default generator: one seeded test at a time.
    let _g = rng_lock();
    pack_padded_sequence(&Tensor::zeros(&[4, 2, 1]), &[2, 4], false, true);
}

#[test]
#[should_panic(expected = "LSTM: input.size(-1) must be equal to input_size. Expected 3, got 4")]
fn wrong_input_size_names_the_layer() {
    // Layers draw from the shared default generator: one seeded test at a time.
    let _g = rng_lock();
    LSTM::new(3, 2).forward(&Tensor::zeros(&[2, 1, 4]));
}

fn weights(mode: Mode, input: usize, hidden: usize, proj: usize, n: usize) -> Vec<Tensor> {
    let g = mode.gates() * hidden;
    let ho = if proj > 0 { proj } else { hidden };
    let r = |s: &[usize]| Tensor::randn(s).double().mul_scalar(0.6);
    let mut v = vec![
        r(&[n, input]),
        r(&[3, ho]),
        r(&[g, input]),
        r(&[g, ho]),
        r(&[g]),
        r(&[g]),
    ];
    if mode == Mode::Lstm {
        v.push(r(&[3, hidden]));
    }
    if proj > 0 {
        v.push(r(&[proj, hidden]));
    }
    v
}

#[test]
fn fused_layer_op_passes_gradcheck() {
    let _g = rng_lock();
    kiln::manual_seed(5);
    // A packed batch (3, 3, 2, 1 rows per step), both directions, every mode.
    let bs = [3usize, 3, 2, 1];
    let n: usize = bs.iter().sum();
    for (mode, proj) in [
        (Mode::Tanh, 0),
        (Mode::Relu, 0),
        (Mode::Lstm, 0),
        (Mode::Lstm, 2),
        (Mode::Gru, 0),
    ] {
        for reverse in [false, true] {
            let inputs = weights(mode, 2, 3, proj, n);
            let f = |t: &[Tensor]| {
                let lstm = mode == Mode::Lstm;
                let c0 = lstm.then(|| &t[6]);
                let w_hr = (proj > 0).then(|| &t[7]);
                let w = LayerWeights {
                    w_ih: &t[2],
                    w_hh: &t[3],
                    b_ih: Some(&t[4]),
                    b_hh: Some(&t[5]),
                    w_hr,
                };
                let r = F::rnn_layer(mode, &t[0], &bs, reverse, &t[1], c0, w);
                // Weigh the outputs so every one matters.
                let mut l = r
                    .output
                    .mul(&r.output.sin())
                    .sum()
                    .add(&r.h_n.mul_scalar(0.7).exp().sum());
                if let Some(c) = r.c_n {
                    l = l.add(&c.pow_scalar(2.0).sum());
                }
                l
            };
            gradcheck(f, &inputs, 1e-6, 1e-7, 1e-5)
                .unwrap_or_else(|e| panic!("{mode:?} proj={proj} reverse={reverse}: {e:?}"));
        }
    }
}

#[test]
fn cells_and_modules_pass_gradcheck_without_bias() {
    let _g = rng_lock();
    kiln::manual_seed(6);
    let inputs = weights(Mode::Gru, 2, 3, 0, 6);
    let f = |t: &[Tensor]| {
        let w = LayerWeights {
            w_ih: &t[2],
            w_hh: &t[3],
            b_ih: None,
            b_hh: None,
            w_hr: None,
        };
        let r = F::rnn_layer(Mode::Gru, &t[0], &[3, 3], false, &t[1], None, w);
        r.output.tanh().sum().add(&r.h_n.sum())
    };
    gradcheck(f, &inputs[..4], 1e-6, 1e-7, 1e-5).unwrap();
}

fn resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[test]
fn a_2000_step_sequence_trains_and_frees_its_graph() {
    let _g = rng_lock();
    kiln::manual_seed(11);
    let lstm = LSTM::new(4, 16);
    let head = kiln::nn::Linear::new(16, 1);
    let mut params = lstm.parameters();
    params.extend(head.parameters());
    let mut opt = kiln::optim::Adam::new(params, 1e-2);
    // Predict a slow sine from a noisy copy of it, over 2,000 steps of 2 sequences.
    let t = Tensor::arange(0.0, 2000.0, 1.0).mul_scalar(0.01);
    let target = t
        .sin()
        .reshape(&[2000, 1, 1])
        .expand(&[2000, 2, 1])
        .contiguous();
    let x = Tensor::cat(
        &[
            target.shallow_clone(),
            Tensor::randn(&[2000, 2, 3]).mul_scalar(0.1),
        ],
        2,
    );
    let mut losses = Vec::new();
    let mut weak = Vec::new();
    let mut rss_after_2 = None;
    for step in 0..12 {
        let (out, _) = lstm.forward_with(&x, None);
        let loss = F::mse_loss_with(&head.forward(&out), &target, kiln::nn::Reduction::Mean);
        weak.push(std::sync::Arc::downgrade(&loss.grad_fn().unwrap()));
        opt.zero_grad();
        loss.backward();
        opt.step();
        losses.push(loss.item());
        if step == 2 {
            rss_after_2 = resident_kb();
        }
    }
    assert!(
        weak.iter().all(|n| n.upgrade().is_none()),
        "a graph outlived its loss"
    );
    assert!(
        losses[11] < losses[0] * 0.7,
        "loss did not fall: {losses:?}"
    );
    if let (Some(before), Some(after)) = (rss_after_2, resident_kb()) {
        assert!(
            after < before + 16 * 1024,
            "RSS grew from {before} kB to {after} kB"
        );
    }
    // The same sequence one LSTMCell step at a time: a 2,000-node graph, freed after backward.
    let cell = LSTMCell::new(4, 8);
    let (mut h, mut c) = (Tensor::zeros(&[2, 8]), Tensor::zeros(&[2, 8]));
    for s in 0..2000 {
        let (h2, c2) = cell.forward_with(&x.select(0, s), Some((&h, &c)));
        (h, c) = (h2, c2);
    }
    let loss = h.sum();
    let node = std::sync::Arc::downgrade(&loss.grad_fn().unwrap());
    loss.backward();
    drop((loss, h, c));
    assert!(node.upgrade().is_none());
    assert!(cell.parameters().iter().all(|p| p.grad().is_some()));
}
