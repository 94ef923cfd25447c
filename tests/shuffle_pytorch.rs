//! Data order and dropout against PyTorch: `DataLoader(shuffle=True)` batch order over
//! several epochs (default generator and explicit generator), `random_split`, the
//! draws dropout makes, and the tutorial's first training epochs end to end.
//! Fixture: `tests/fixtures/init_shuffle.json` from `scripts/fixtures/gen_init_shuffle.py`;
//! `DistributedSampler` (alone and under a `DataLoader`) against
//! `tests/fixtures/distributed_sampler.json` from `scripts/fixtures/gen_distributed_sampler.py`.

mod rng_fixture;

use kiln::data::{
    DataLoader, Dataset, DistributedSampler, Sampler, TensorDataset, index_row, random_split,
    random_split_fractions,
};
use kiln::nn::functional::{cross_entropy, dropout};
use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::optim::{Optimizer, SGD};
use kiln::tensor::random::{BernoulliScalarKernel, set_bernoulli_scalar_kernel, with_global};
use kiln::{DType, Generator, Tensor, seq};
use rng_fixture::{assert_after, assert_bits, float, floats, global_rng, load, usizes};
use serde_json::Value;

/// Sample `i` is the i64 `i`, so a batch names its samples.
fn indexed(n: usize) -> TensorDataset<Tensor> {
    TensorDataset::new(Tensor::from_vec((0..n as i64).collect(), &[n]))
}

fn recorded_epochs(v: &Value) -> Vec<Vec<Vec<i64>>> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn dataloader_order_matches_pytorch() {
    let _g = global_rng();
    for case in load()["shuffle"].as_array().unwrap() {
        let u = |k: &str| case[k].as_u64().unwrap();
        let (seed, n, bs) = (u("seed"), u("n") as usize, u("batch_size") as usize);
        let drop_last = case["drop_last"].as_bool().unwrap();
        let shuffle = case["shuffle"].as_bool().unwrap_or(true);
        let want = recorded_epochs(&case["epochs"]);
        let first_epoch_batches = case["first_epoch_batches"].as_u64().map(|k| k as usize);
        kiln::manual_seed(seed);
        let mut loader = DataLoader::new(indexed(n))
            .batch_size(bs)
            .shuffle(shuffle)
            .drop_last(drop_last);
        if let Some(gs) = case["generator_seed"].as_u64() {
            loader = loader.seed(gs);
        }
        let mut got = Vec::new();
        for e in 0..want.len() {
            let take = match first_epoch_batches {
                Some(k) if e == 0 => k,
                _ => usize::MAX,
            };
            got.push(
                loader
                    .iter()
                    .take(take)
                    .map(|b| b.to_vec::<i64>())
                    .collect::<Vec<_>>(),
            );
        }
        let ctx = format!(
            "seed {seed} n {n} batch {bs} drop_last {drop_last} shuffle {shuffle} mode {}",
            case["mode"]
        );
        assert_eq!(got, want, "{ctx}");
        assert_after(&case["after"], &ctx);
    }
}

/// The loader's own generator ends each case in PyTorch's state: checked by a loader
/// that keeps drawing from it (one more epoch) against a replay with `Generator`.
#[test]
fn explicit_generator_consumption_matches_pytorch() {
    for case in load()["shuffle"].as_array().unwrap() {
        let Some(gs) = case["generator_seed"].as_u64() else {
            continue;
        };
        let u = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n, bs) = (u("n"), u("batch_size"));
        let shuffle = case["shuffle"].as_bool().unwrap_or(true);
        let drop_last = case["drop_last"].as_bool().unwrap();
        let epochs = recorded_epochs(&case["epochs"]).len();
        let first = case["first_epoch_batches"].as_u64();
        // Replay PyTorch's draws on a bare generator: per epoch a base seed, the
        // permutation, and the sampler's trailing permutation when the epoch ran out.
        let mut g = Generator::new(gs);
        for e in 0..epochs {
            g.next_u64();
            if shuffle {
                g.randperm(n);
                if !(e == 0 && first.is_some()) {
                    g.randperm(n);
                }
            }
        }
        let want: Vec<f64> = floats(&case["generator_after"]);
        let got: Vec<f64> = Tensor::rand_with(&[3], DType::F32, &mut g)
            .to_vec::<f32>()
            .into_iter()
            .map(f64::from)
            .collect();
        assert_eq!(
            got, want,
            "replay of seed {gs} n {n} batch {bs} drop_last {drop_last}"
        );
    }
}

#[test]
fn random_split_matches_pytorch() {
    let _g = global_rng();
    for case in load()["random_split"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let n = case["n"].as_u64().unwrap() as usize;
        let want: Vec<Vec<usize>> = serde_json::from_value(case["indices"].clone()).unwrap();
        let lengths = case["lengths"].as_array().unwrap();
        let fractions = lengths.iter().any(|l| l.is_f64());
        let split = |g: &mut Generator| {
            if fractions {
                let f: Vec<f64> = lengths.iter().map(|l| l.as_f64().unwrap()).collect();
                random_split_fractions(indexed(n), &f, g)
            } else {
                random_split(indexed(n), &usizes(&case["lengths"]), g)
            }
        };
        let parts = if case["mode"] == "global" {
            kiln::manual_seed(seed);
            with_global(split)
        } else {
            split(&mut Generator::new(seed))
        };
        let got: Vec<Vec<usize>> = parts.iter().map(|p| p.indices().to_vec()).collect();
        assert_eq!(got, want, "random_split seed {seed} n {n} {lengths:?}");
        // A Subset serves the samples at its indices.
        for (p, idx) in parts.iter().zip(&want) {
            if let Some(&first) = idx.first() {
                assert_eq!(p.get(0).item() as usize, first);
            }
        }
        if let Some(after) = case.get("after") {
            assert_after(after, "after random_split");
        }
    }
}

fn dropout_input(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (0.37 * i as f64).sin() + 0.1).collect();
    Tensor::from_vec(v, shape).to_dtype(dtype)
}

/// The fixture's PyTorch ran on `cpu_vendor`: its dropout used MKL's kernel only on Intel.
fn fixture_kernel() -> BernoulliScalarKernel {
    if load()["cpu_vendor"] == "GenuineIntel" {
        BernoulliScalarKernel::Mkl
    } else {
        BernoulliScalarKernel::Generator
    }
}

#[test]
fn dropout_matches_pytorch() {
    let _g = global_rng();
    set_bernoulli_scalar_kernel(Some(fixture_kernel()));
    for case in load()["dropout"].as_array().unwrap() {
        let p = case["p"].as_f64().unwrap();
        let dtype = match case["dtype"].as_str().unwrap() {
            "float32" => DType::F32,
            _ => DType::F64,
        };
        kiln::manual_seed(case["seed"].as_u64().unwrap());
        let mut x = dropout_input(&usizes(&case["shape"]), dtype);
        if case["transposed"].as_bool().unwrap() {
            x = x.t();
        }
        let y = dropout(&x, p, true);
        let ctx = format!("dropout p={p} {:?} {dtype:?}", x.shape());
        assert_bits(&y, &case["out"], &ctx);
        assert_after(&case["after"], &ctx);
    }
    set_bernoulli_scalar_kernel(None);
}

/// MKL's Bernoulli stream (what PyTorch's dropout uses on Intel CPUs), recorded from
/// MKL's own `viRngBernoulli` seeded as ATen seeds it.
#[test]
fn mkl_bernoulli_kernel_matches_mkl() {
    let cases = load()["mkl_bernoulli"]
        .as_array()
        .expect("fixture made with KILN_MKL_RT set");
    for case in cases {
        let seed = case["seed"].as_u64().unwrap();
        let p = case["p"].as_f64().unwrap();
        let n = case["n"].as_u64().unwrap() as usize;
        let mut g = Generator::new(seed);
        assert_eq!(
            g.clone().next_u32() as u64,
            case["mkl_seed"].as_u64().unwrap()
        );
        let mut bits = vec![false; n];
        g.fill_bernoulli_scalar(&mut bits, p, BernoulliScalarKernel::Mkl);
        let got: String = bits.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(got, case["bits"].as_str().unwrap(), "seed {seed} p {p}");
        // One 32-bit draw seeds the whole stream.
        let mut replay = Generator::new(seed);
        replay.next_u32();
        assert_eq!(g, replay);
    }
}

/// Dropout on the MKL kernel, as PyTorch computes it on an Intel CPU: MKL's recorded bits
/// for the same seed, scaled by `1/(1-p)` rounded in the input's dtype.
#[test]
fn dropout_on_the_mkl_kernel_uses_mkls_stream() {
    let _g = global_rng();
    let case = load()["mkl_bernoulli"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["seed"] == 21 && c["p"] == 0.8)
        .expect("mkl case seed 21 p 0.8");
    let bits = case["bits"].as_str().unwrap().as_bytes();
    let x = dropout_input(&[bits.len()], DType::F32);
    set_bernoulli_scalar_kernel(Some(BernoulliScalarKernel::Mkl));
    kiln::manual_seed(21);
    let y = dropout(&x, 0.2, true);
    let mut replay = Generator::new(21);
    replay.next_u32();
    assert_eq!(
        kiln::tensor::random::get_rng_state(),
        replay,
        "one 32-bit draw"
    );
    set_bernoulli_scalar_kernel(None);
    let scale = 1.0f32 / 0.8f32;
    let want: Vec<f32> = x
        .to_vec::<f32>()
        .iter()
        .zip(bits)
        .map(|(v, &b)| if b == b'1' { v * scale } else { v * 0.0 })
        .collect();
    let got = y.to_vec::<f32>();
    let same = got
        .iter()
        .zip(&want)
        .all(|(g, w)| g.to_bits() == w.to_bits());
    assert!(same, "kiln {got:?}\nwant {want:?}");
}

/// The tutorial's dataset, written as a user would.
struct ToyDataset {
    features: Tensor,
    labels: Tensor,
}

impl Dataset for ToyDataset {
    type Item = (Tensor, Tensor);

    fn get(&self, index: usize) -> (Tensor, Tensor) {
        (
            index_row(&self.features, index),
            index_row(&self.labels, index),
        )
    }

    fn len(&self) -> usize {
        self.labels.shape()[0]
    }
}

/// The tutorial's network.
fn neural_network(num_inputs: usize, num_outputs: usize) -> Sequential {
    seq![
        Linear::new(num_inputs, 30),
        ReLU::new(),
        Linear::new(30, 20),
        ReLU::new(),
        Linear::new(20, num_outputs),
    ]
}

#[test]
fn tutorial_training_epochs_match_pytorch() {
    let _g = global_rng();
    let rec = &load()["tutorial"];
    let x_train = kiln::tensor(&[
        [-1.2, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5],
    ]);
    let y_train = kiln::tensor(&[0, 0, 0, 1, 1]);
    kiln::manual_seed(123);
    let train_loader = DataLoader::new(ToyDataset {
        features: x_train,
        labels: y_train,
    })
    .batch_size(2)
    .shuffle(true)
    .num_workers(0);
    kiln::manual_seed(123);
    let model = neural_network(2, 2);
    for (name, t) in model.named_parameters() {
        // Named as PyTorch's `layers.*` parameters.
        assert_bits(&t, &rec["initial"][format!("layers.{name}")], &name);
    }
    let mut optimizer = SGD::new(model.parameters(), 0.5);
    let (mut losses, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        model.train();
        for (features, y) in &train_loader {
            let logits = model.forward(&features);
            let loss = cross_entropy(&logits, &y);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            losses.push(loss.item());
            labels.push(y.to_vec::<i64>());
        }
    }
    let want_labels: Vec<Vec<i64>> = serde_json::from_value(rec["labels"].clone()).unwrap();
    assert_eq!(labels, want_labels, "batch order");
    let want: Vec<f64> = rec["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(float)
        .collect();
    assert_eq!(losses.len(), want.len());
    for (k, (g, w)) in losses.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-6, "batch {k}: kiln loss {g} torch {w}");
    }
    assert_after(&rec["after"], "after training");
}

/// A dropout large enough to be split across threads draws the same mask as the
/// element-by-element Bernoulli fill (which the fixtures above pin to PyTorch's).
#[test]
fn large_dropout_keeps_the_generator_stream() {
    let _g = global_rng();
    set_bernoulli_scalar_kernel(Some(BernoulliScalarKernel::Generator));
    let (rows, cols, p) = (128, 300, 0.3);
    let x = Tensor::ones(&[rows, cols]);
    kiln::manual_seed(11);
    let y = dropout(&x, p, true).to_vec::<f32>();
    kiln::manual_seed(11);
    let mut kept = vec![false; rows * cols];
    with_global(|g| g.fill_bernoulli_scalar(&mut kept, 1.0 - p, BernoulliScalarKernel::Generator));
    let scale = 1.0f32 / (1.0 - p) as f32;
    let want: Vec<f32> = kept.iter().map(|&k| if k { scale } else { 0.0 }).collect();
    assert_eq!(y, want);
    assert!(
        kept.iter().filter(|&&k| !k).count() > 10_000,
        "about 30% dropped"
    );
    set_bernoulli_scalar_kernel(None);
}

fn distributed_fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/distributed_sampler.json"))
        .expect("parse distributed_sampler.json")
}

#[test]
fn distributed_sampler_matches_pytorch() {
    let data = distributed_fixture();
    let cases = data["samplers"].as_array().unwrap();
    assert!(cases.len() > 900);
    for case in cases {
        let u = |k: &str| case[k].as_u64().unwrap();
        let b = |k: &str| case[k].as_bool().unwrap();
        let sampler = DistributedSampler::new(
            u("n") as usize,
            u("num_replicas") as usize,
            u("rank") as usize,
        )
        .shuffle(b("shuffle"))
        .seed(u("seed"))
        .drop_last(b("drop_last"));
        sampler.set_epoch(u("epoch"));
        assert_eq!(sampler.len() as u64, u("len"), "{case}");
        assert_eq!(sampler.indices(), usizes(&case["indices"]), "{case}");
    }
}

#[test]
fn dataloader_over_distributed_sampler_matches_pytorch() {
    let _g = global_rng();
    for case in distributed_fixture()["loaders"].as_array().unwrap() {
        let u = |k: &str| case[k].as_u64().unwrap() as usize;
        kiln::manual_seed(u("manual_seed") as u64);
        let sampler =
            DistributedSampler::new(u("n"), u("num_replicas"), u("rank")).seed(u("seed") as u64);
        let loader = DataLoader::new(indexed(u("n")))
            .batch_size(u("batch_size"))
            .drop_last(case["drop_last"].as_bool().unwrap())
            .sampler(sampler.clone());
        let want = recorded_epochs(&case["epochs"]);
        for (epoch, want) in want.iter().enumerate() {
            sampler.set_epoch(epoch as u64);
            assert_eq!(loader.len(), want.len());
            let got: Vec<Vec<i64>> = loader.iter().map(|b| b.to_vec::<i64>()).collect();
            assert_eq!(&got, want, "{case}");
        }
        // The loader drew its base seeds from the default generator as PyTorch's does.
        let after: Vec<f32> = serde_json::from_value(case["rand_after"].clone()).unwrap();
        assert_eq!(Tensor::rand(&[3]).to_vec::<f32>(), after);
    }
}

#[test]
#[should_panic(expected = "sampler option is mutually exclusive with shuffle")]
fn sampler_and_shuffle_are_exclusive() {
    let loader = DataLoader::new(indexed(4))
        .shuffle(true)
        .sampler(DistributedSampler::new(4, 2, 0));
    let _ = loader.iter();
}

#[test]
#[should_panic(expected = "Invalid rank 2")]
fn distributed_sampler_rejects_a_rank_out_of_range() {
    let _ = DistributedSampler::new(4, 2, 2);
}
