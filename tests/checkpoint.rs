//! Full training checkpoints: a run interrupted halfway, saved, and resumed in fresh
//! objects ends bit-identical to an uninterrupted run; hostile checkpoint bytes give a
//! typed error and never a panic.

use kiln::io::{Checkpoint, IoError};
use kiln::nn::{Dropout, Linear, Module, ReLU, Sequential, functional as F};
use kiln::optim::{Adam, LrScheduler, Optimizer, SGD, StepLR};
use kiln::tensor::random::{get_rng_state, set_rng_state};
use kiln::{Tensor, seq};
use proptest::prelude::*;
use std::sync::Mutex;

/// The default generator is process-wide: tests that seed it take turns.
static RNG: Mutex<()> = Mutex::new(());

fn mlp() -> Sequential {
    seq![
        Linear::new(4, 16),
        ReLU::new(),
        Dropout::new(0.3),
        Linear::new(16, 3)
    ]
}

struct Run {
    model: Sequential,
    opt: Adam,
    sched: StepLR,
}

impl Run {
    fn new() -> Self {
        let model = mlp();
        let mut opt = Adam::new(model.parameters(), 0.05);
        let sched = StepLR::new(&mut opt, 3, 0.5);
        Run { model, opt, sched }
    }

    fn train(&mut self, x: &Tensor, y: &Tensor, steps: usize) {
        self.model.train();
        for _ in 0..steps {
            let loss = F::cross_entropy(&self.model.forward(x), y);
            self.opt.zero_grad();
            loss.backward();
            self.opt.step();
            self.sched.step(&mut self.opt);
        }
    }

    fn weights(&self) -> Vec<Vec<u32>> {
        self.model
            .parameters()
            .iter()
            .map(|p| p.to_vec::<f32>().iter().map(|v| v.to_bits()).collect())
            .collect()
    }
}

fn data() -> (Tensor, Tensor) {
    (Tensor::randn(&[32, 4]), Tensor::randint(0, 3, &[32]))
}

const N: usize = 12;

#[test]
fn resumed_training_is_bit_identical() {
    let _g = lock();
    // Uninterrupted.
    kiln::manual_seed(0);
    let (x, y) = data();
    let mut a = Run::new();
    a.train(&x, &y, N);
    let rng_a = get_rng_state();

    // Interrupted halfway and saved.
    kiln::manual_seed(0);
    let (x2, y2) = data();
    let mut b = Run::new();
    b.train(&x2, &y2, N / 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    Checkpoint::capture(&b.model, &b.opt, Some(&b.sched), N / 2)
        .with_extra("run", "resume-test")
        .save(&path)
        .unwrap();
    let lr_at_save = b.opt.lr(0);
    drop(b);

    // Fresh objects, a different random state, then resume from the file.
    kiln::manual_seed(999);
    let _ = Tensor::randn(&[7]);
    let mut c = Run::new();
    assert_ne!(c.weights(), a.weights());
    assert_ne!(c.opt.lr(0), lr_at_save);
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(ck.epoch, N / 2);
    assert_eq!(ck.extra["run"], "resume-test");
    ck.restore(&c.model, &mut c.opt, Some(&mut c.sched))
        .unwrap();
    assert_eq!(c.opt.lr(0), lr_at_save);
    assert_eq!(c.sched.last_epoch(), (N / 2) as i64);
    c.train(&x2, &y2, N - N / 2);

    assert_eq!(c.weights(), a.weights(), "final weights differ");
    assert_eq!(c.opt.lr(0), a.opt.lr(0));
    assert_eq!(c.sched.get_last_lr(), a.sched.get_last_lr());
    let (sa, sc) = (a.opt.state_dict(), c.opt.state_dict());
    for (i, m) in &sa.state {
        for (k, t) in m {
            assert_eq!(t.to_vec::<f64>(), sc.state[i][k].to_vec::<f64>(), "{i}.{k}");
        }
    }
    assert_eq!(
        get_rng_state(),
        rng_a,
        "both runs drew the same random numbers"
    );
}

#[test]
fn resume_without_restoring_rng_differs() {
    // The RNG really matters here (dropout): skipping it changes the result, so the
    // test above is not passing by accident.
    let _g = lock();
    kiln::manual_seed(0);
    let (x, y) = data();
    let mut a = Run::new();
    a.train(&x, &y, N);

    kiln::manual_seed(0);
    let (x2, y2) = data();
    let mut b = Run::new();
    b.train(&x2, &y2, N / 2);
    let ck = Checkpoint::capture(&b.model, &b.opt, Some(&b.sched), N / 2);
    let bytes = ck.to_bytes().unwrap();
    kiln::manual_seed(1);
    let mut c = Run::new();
    let back = Checkpoint::from_bytes(&bytes).unwrap();
    let rng_now = get_rng_state();
    back.restore(&c.model, &mut c.opt, Some(&mut c.sched))
        .unwrap();
    set_rng_state(rng_now);
    c.train(&x2, &y2, N - N / 2);
    assert_ne!(c.weights(), a.weights());
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// A checkpoint after two training steps, made once.
fn sample_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let _g = lock();
            kiln::manual_seed(3);
            let (x, y) = data();
            let mut r = Run::new();
            r.train(&x, &y, 2);
            Checkpoint::capture(&r.model, &r.opt, Some(&r.sched), 2)
                .to_bytes()
                .unwrap()
        })
        .clone()
}

#[test]
fn restore_refuses_what_does_not_fit_and_names_it() {
    let bytes = sample_bytes();
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    let _g = lock();

    // A model with other shapes: typed, keys named, nothing changed.
    let other = seq![
        Linear::new(4, 8),
        ReLU::new(),
        Dropout::new(0.3),
        Linear::new(8, 3)
    ];
    let before = other.parameters()[0].to_vec::<f32>();
    let mut opt = Adam::new(other.parameters(), 0.05);
    let err = ck.restore(&other, &mut opt, None).unwrap_err();
    assert!(matches!(err, IoError::Model(_)), "{err:?}");
    assert!(
        err.to_string().contains("size mismatch for 0.weight"),
        "{err}"
    );
    assert_eq!(other.parameters()[0].to_vec::<f32>(), before);
    assert!(opt.state_dict().state.is_empty());

    // An optimizer with other groups.
    let model = mlp();
    let mut two = SGD::new(model.parameters()[..2].to_vec(), 0.1);
    two.add_param_group(model.parameters()[2..].to_vec(), Default::default());
    let err = ck.restore(&model, &mut two, None).unwrap_err();
    assert!(matches!(err, IoError::Optimizer(_)), "{err:?}");

    // A scheduler asked for, but none saved.
    let mut opt = Adam::new(model.parameters(), 0.05);
    let mut sched = StepLR::new(&mut opt, 3, 0.5);
    let mut no_sched = ck.clone();
    no_sched.scheduler = None;
    let err = no_sched
        .restore(&model, &mut opt, Some(&mut sched))
        .unwrap_err();
    assert!(matches!(err, IoError::Mismatch(_)), "{err:?}");
}

#[test]
fn other_files_are_typed_errors() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    // A plain weights file is not a checkpoint.
    let p = dir.path().join("weights.safetensors");
    kiln::io::save_state_dict(&p, &mlp().state_dict()).unwrap();
    let err = Checkpoint::load(&p).unwrap_err();
    assert!(matches!(err, IoError::Checkpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("kiln.checkpoint"), "{err}");
    // Garbage, empty, missing.
    assert!(matches!(
        Checkpoint::from_bytes(b"not a checkpoint"),
        Err(IoError::Format { .. })
    ));
    assert!(matches!(
        Checkpoint::from_bytes(&[]),
        Err(IoError::Format { .. })
    ));
    assert!(matches!(
        Checkpoint::load(&dir.path().join("missing")),
        Err(IoError::Io { .. })
    ));
}

#[test]
fn failed_save_keeps_the_previous_checkpoint() {
    let bytes = sample_bytes();
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ck.safetensors");
    ck.save(&p).unwrap();
    // Encoding is deterministic: the same checkpoint gives the same bytes.
    assert!(std::fs::read(&p).unwrap() == bytes);
    let blocked = dir.path().join("sub");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("x"), b"occupied").unwrap();
    assert!(ck.save(&blocked).is_err());
    assert!(std::fs::read(&p).unwrap() == bytes, "previous file changed");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn header_round_trips_non_finite_scheduler_values() {
    let _g = lock();
    let model = mlp();
    let mut opt = SGD::new(model.parameters(), 0.1);
    let plateau = kiln::optim::ReduceLROnPlateau::new(&opt);
    let mut ck = Checkpoint::capture(&model, &opt, None, 0);
    ck.scheduler = Some(plateau.state_dict());
    let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
    let s = back.scheduler.unwrap();
    assert_eq!(s.values["best"], f64::INFINITY);
    let mut fresh = kiln::optim::ReduceLROnPlateau::new(&opt);
    fresh.load_state_dict(&s).unwrap();
    fresh.step(&mut opt, 1.0);
}

/// Loading any mutation of a valid checkpoint returns Ok or a typed error; when it is
/// Ok, restoring it into matching objects returns Ok or a typed error too, and a
/// restored run takes a training step. A panic fails.
fn load_and_restore(bytes: &[u8]) {
    if let Ok(ck) = Checkpoint::from_bytes(bytes) {
        let _g = lock();
        let model = mlp();
        let mut opt = Adam::new(model.parameters(), 0.05);
        let mut sched = StepLR::new(&mut opt, 3, 0.5);
        let rng = get_rng_state();
        if ck.restore(&model, &mut opt, Some(&mut sched)).is_ok() {
            // Whatever was accepted must also train without panicking.
            let x = Tensor::ones(&[2, 4]);
            let loss = F::cross_entropy(&model.forward(&x), &Tensor::from_vec(vec![0i64, 2], &[2]));
            opt.zero_grad();
            loss.backward();
            opt.step();
            sched.step(&mut opt);
        }
        set_rng_state(rng);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn mutated_checkpoints_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = sample_bytes();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        load_and_restore(&bytes);
    }

    #[test]
    fn mutated_headers_never_panic(
        pos in any::<prop::sample::Index>(),
        text in "[\\[\\]{}\",:0-9a-z._\\-]{0,12}",
        del in 0usize..16,
    ) {
        // Edit the checkpoint's JSON header (a string in the safetensors metadata) and
        // re-encode, so the edit reaches the checkpoint parser rather than safetensors'.
        let (tensors, mut meta) =
            kiln::io::parse_safetensors(std::path::Path::new("x"), &sample_bytes()).unwrap();
        let header = meta.get_mut("kiln.checkpoint").unwrap();
        let mut chars: Vec<char> = header.chars().collect();
        let at = pos.index(chars.len());
        let end = (at + del).min(chars.len());
        chars.splice(at..end, text.chars());
        *header = chars.into_iter().collect();
        let bytes = kiln::io::serialize_safetensors(&tensors, Some(meta)).unwrap();
        load_and_restore(&bytes);
    }
}

/// Every scheduler resumed from its `state_dict` (with the optimizer's) continues the
/// uninterrupted run's learning rates exactly.
#[test]
fn schedulers_resume_from_state_dict() {
    use kiln::optim::{CosineAnnealingLR, ExponentialLR, LinearLR, MultiStepLR, ReduceLROnPlateau};
    type Make = fn(&mut SGD) -> Box<dyn LrScheduler>;
    let makers: Vec<(&str, Make)> = vec![
        ("StepLR", |o| Box::new(StepLR::new(o, 3, 0.5))),
        ("MultiStepLR", |o| {
            Box::new(MultiStepLR::new(o, &[2, 5, 5], 0.3))
        }),
        ("ExponentialLR", |o| Box::new(ExponentialLR::new(o, 0.9))),
        ("CosineAnnealingLR", |o| {
            Box::new(CosineAnnealingLR::new(o, 4, 0.01))
        }),
        ("LinearLR", |o| Box::new(LinearLR::new(o, 0.25, 1.0, 6))),
    ];
    let p = Tensor::zeros(&[2]).requires_grad_(true);
    for (name, make) in makers {
        let mut opt = SGD::new(vec![p.shallow_clone()], 0.1);
        let mut s = make(&mut opt);
        let mut want = Vec::new();
        for _ in 0..12 {
            s.step(&mut opt);
            want.push(opt.lr(0).to_bits());
        }
        let mut opt = SGD::new(vec![p.shallow_clone()], 0.1);
        let mut s = make(&mut opt);
        let mut got = Vec::new();
        for _ in 0..5 {
            s.step(&mut opt);
            got.push(opt.lr(0).to_bits());
        }
        let (opt_state, sched_state) = (opt.state_dict(), s.state_dict());
        let mut opt2 = SGD::new(vec![p.shallow_clone()], 0.7);
        let mut s2 = make(&mut opt2);
        opt2.load_state_dict(&opt_state).unwrap();
        s2.load_state_dict(&sched_state).unwrap();
        assert_eq!(s2.last_epoch(), 5, "{name}");
        for _ in 0..7 {
            s2.step(&mut opt2);
            got.push(opt2.lr(0).to_bits());
        }
        assert_eq!(got, want, "{name}");
        let mut wrong = sched_state.clone();
        wrong.base_lrs.push(1.0);
        assert!(s2.load_state_dict(&wrong).is_err(), "{name}");
    }

    let metrics = [
        1.0, 0.9, 0.95, 0.96, 0.97, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5,
    ];
    let make = |o: &SGD| {
        ReduceLROnPlateau::new(o)
            .patience(1)
            .factor(0.5)
            .cooldown(1)
    };
    let mut opt = SGD::new(vec![p.shallow_clone()], 0.1);
    let mut s = make(&opt);
    let want: Vec<u64> = metrics
        .iter()
        .map(|&m| {
            s.step(&mut opt, m);
            opt.lr(0).to_bits()
        })
        .collect();
    let mut opt = SGD::new(vec![p.shallow_clone()], 0.1);
    let mut s = make(&opt);
    let mut got = Vec::new();
    for &m in &metrics[..4] {
        s.step(&mut opt, m);
        got.push(opt.lr(0).to_bits());
    }
    let mut opt2 = SGD::new(vec![p.shallow_clone()], 0.1);
    opt2.load_state_dict(&opt.state_dict()).unwrap();
    let mut s2 = make(&opt2);
    s2.load_state_dict(&s.state_dict()).unwrap();
    for &m in &metrics[4..] {
        s2.step(&mut opt2, m);
        got.push(opt2.lr(0).to_bits());
    }
    assert_eq!(got, want, "ReduceLROnPlateau");
    let mut bad = s.state_dict();
    bad.values.insert("num_bad_epochs".into(), -1.0);
    assert!(s2.load_state_dict(&bad).is_err());
}

/// An optimizer state that its step could not use (a missing or foreign buffer, a
/// non-scalar step) is refused at load time, not discovered by a panic in `step`.
#[test]
fn optimizers_refuse_state_their_step_cannot_use() {
    let _g = lock();
    let p = Tensor::ones(&[3]).requires_grad_(true);
    let train = |opt: &mut dyn Optimizer| {
        p.sum().backward();
        opt.step();
        opt.zero_grad();
    };
    let mut adam = Adam::new(vec![p.shallow_clone()], 0.1);
    train(&mut adam);
    let good = adam.state_dict();

    // AMSGrad needs max_exp_avg_sq, which a plain Adam state lacks.
    let mut ams = good.clone();
    ams.param_groups[0].options.insert("amsgrad".into(), 1.0);
    let err = Adam::new(vec![p.shallow_clone()], 0.1)
        .load_state_dict(&ams)
        .unwrap_err();
    assert!(err.to_string().contains("max_exp_avg_sq"), "{err}");

    let mut renamed = good.clone();
    let m = renamed.state.get_mut(&0).unwrap();
    let t = m.remove("exp_avg").unwrap();
    m.insert("exp_avgg".into(), t);
    assert!(
        Adam::new(vec![p.shallow_clone()], 0.1)
            .load_state_dict(&renamed)
            .is_err()
    );

    let mut bad_step = good.clone();
    bad_step
        .state
        .get_mut(&0)
        .unwrap()
        .insert("step".into(), Tensor::ones(&[2]));
    assert!(
        Adam::new(vec![p.shallow_clone()], 0.1)
            .load_state_dict(&bad_step)
            .is_err()
    );

    // SGD: momentum needs its buffer; without momentum there is no state to load.
    let mut sgd = SGD::new(vec![p.shallow_clone()], 0.1).momentum(0.9);
    train(&mut sgd);
    let mut plain = sgd.state_dict();
    plain.param_groups[0].options.insert("momentum".into(), 0.0);
    assert!(
        SGD::new(vec![p.shallow_clone()], 0.1)
            .load_state_dict(&plain)
            .is_err()
    );
    let mut fresh = SGD::new(vec![p.shallow_clone()], 0.1).momentum(0.9);
    fresh.load_state_dict(&sgd.state_dict()).unwrap();
    train(&mut fresh);
}
