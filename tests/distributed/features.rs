//! DDP's `broadcast_buffers` and `find_unused_parameters` (scenarios `buffers` and
//! `unused` of tests/distributed.rs).

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use kiln::distributed::{self as dist, DdpOptions, DistributedDataParallel, ReduceOp};
use kiln::nn::{BatchNorm1d, Linear, Module};
use kiln::optim::{Optimizer, SGD};
use kiln::{Tensor, no_grad, seq};

use super::check;

fn values(ts: &[Tensor]) -> Vec<Vec<f64>> {
    ts.iter().map(|t| t.to_vec::<f64>()).collect()
}

/// Rank 0's copy of `ts` (cloned, so `ts` itself is untouched).
fn rank0(ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter()
        .map(|t| {
            let c = t.clone();
            dist::broadcast(&c, 0);
            c
        })
        .collect()
}

fn set(dst: &[Tensor], src: &[Tensor]) {
    no_grad(|| {
        for (d, s) in dst.iter().zip(src) {
            d.copy_(s);
        }
    });
}

/// Each rank's batch: different on every rank, so their running statistics differ.
fn batch(rank: usize, step: usize) -> Tensor {
    kiln::manual_seed(500 + 10 * rank as u64 + step as u64);
    Tensor::randn(&[8, 4])
        .mul_scalar(rank as f64 + 1.0)
        .add_scalar(rank as f64)
}

/// BatchNorm's running statistics with and without `broadcast_buffers`: before each
/// forward that follows a synchronised one, every rank's buffers become rank 0's (and the
/// forward then updates them from the rank's own batch); after a forward under
/// `no_grad` they do not. A lone BatchNorm1d fed the same input and buffers is the
/// reference, so the buffers must match bit for bit.
pub fn buffers() -> usize {
    let rank = dist::get_rank();
    let mut passed = 0;
    for broadcast in [true, false] {
        kiln::manual_seed(3);
        let ddp = DistributedDataParallel::with_options(
            seq![BatchNorm1d::new(4), Linear::new(4, 2)],
            DdpOptions::new().broadcast_buffers(broadcast),
        )
        .unwrap();
        let shadow = BatchNorm1d::new(4);
        let bufs = ddp.module().buffers();
        check(bufs.len() == 3, "BatchNorm1d has 3 buffers");
        let mut opt = SGD::new(ddp.parameters(), 0.1);
        let mut differed = false;
        for step in 0..4 {
            let x = batch(rank, step);
            let own: Vec<Tensor> = bufs.iter().map(|b| b.clone()).collect();
            let zero = rank0(&bufs);
            // The last step runs under no_grad: after the synchronised step before it, its
            // forward still broadcasts; the step after it (none here) would not.
            let expected_start = if broadcast { &zero } else { &own };
            differed |= values(&own) != values(&zero);
            set(&shadow.buffers(), expected_start);
            no_grad(|| shadow.forward(&x));
            opt.zero_grad();
            if step == 3 {
                no_grad(|| ddp.forward(&x));
            } else {
                let out = ddp.forward(&x);
                (&out * &out).mean().backward();
                opt.step();
            }
            check(
                values(&bufs) == values(&shadow.buffers()),
                &format!("broadcast_buffers={broadcast}: buffers after forward {step}"),
            );
        }
        // After the no_grad forward, the next forward must not broadcast.
        let x = batch(rank, 9);
        let own: Vec<Tensor> = bufs.iter().map(|b| b.clone()).collect();
        set(&shadow.buffers(), &own);
        no_grad(|| shadow.forward(&x));
        opt.zero_grad();
        let out = ddp.forward(&x);
        (&out * &out).mean().backward();
        check(
            values(&bufs) == values(&shadow.buffers()),
            &format!("broadcast_buffers={broadcast}: no broadcast after a no_grad forward"),
        );
        if rank > 0 {
            check(
                differed,
                "the ranks' running statistics drift apart between forwards",
            );
        }
        // An explicit broadcast makes every rank's buffers rank 0's.
        ddp.gradient_sync().broadcast_buffers();
        check(
            values(&bufs) == values(&rank0(&bufs)),
            "broadcast_buffers() copies rank 0's buffers",
        );
        passed += 1;
    }
    passed
}

/// A model whose forward leaves some parameters out: `extra` joins when `use_extra`
/// is set, `never` never does.
#[derive(Module)]
struct TwoHeads {
    trunk: Linear,
    head: Linear,
    extra: Linear,
    never: Linear,
    #[module(skip)]
    use_extra: AtomicBool,
}

impl TwoHeads {
    fn new() -> Self {
        TwoHeads {
            trunk: Linear::new(4, 6),
            head: Linear::new(6, 2),
            extra: Linear::new(6, 2),
            never: Linear::new(6, 2),
            use_extra: AtomicBool::new(false),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.trunk.forward(x).relu();
        let y = self.head.forward(&h);
        if self.use_extra.load(SeqCst) {
            &y + &self.extra.forward(&h)
        } else {
            y
        }
    }
}

fn loss(out: &Tensor) -> Tensor {
    (out * out).mean()
}

/// `find_unused_parameters`: parameters without a gradient on some or all ranks do not
/// stop the reduction; those some rank used get the average (zeros counted for the ranks
/// that did not use them), those no rank used keep `.grad` = None. Checked against each
/// rank's local gradients averaged by hand. Without the option, the next forward fails
/// with PyTorch's message naming the parameters.
pub fn unused() -> usize {
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    kiln::manual_seed(11);
    let ddp = DistributedDataParallel::with_options(
        TwoHeads::new(),
        DdpOptions::new().find_unused_parameters(true),
    )
    .unwrap();
    let local = TwoHeads::new();
    let names: Vec<String> = ddp
        .module()
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut opt = SGD::new(ddp.parameters(), 0.1);
    for step in 0..4 {
        // Step 0: no rank uses `extra`; step 1: only rank 0; then every rank.
        let use_extra = match step {
            0 => false,
            1 => rank == 0,
            _ => true,
        };
        ddp.module().use_extra.store(use_extra, SeqCst);
        local.use_extra.store(use_extra, SeqCst);
        set(&local.parameters(), &ddp.module().parameters());
        let x = batch(rank, step);
        for p in local.parameters() {
            p.set_grad(None);
        }
        loss(&local.forward(&x)).backward();
        opt.zero_grad();
        loss(&ddp.forward(&x)).backward();
        for ((name, got), mine) in names
            .iter()
            .zip(ddp.module().parameters())
            .zip(local.parameters())
        {
            let g = mine.grad();
            let used = Tensor::from_vec(vec![u8::from(g.is_some())], &[1]);
            dist::all_reduce(&used, ReduceOp::Max);
            let want = g.unwrap_or_else(|| mine.zeros_like()).clone();
            dist::all_reduce(&want, ReduceOp::Avg);
            match got.grad() {
                None => check(
                    used.to_vec::<u8>()[0] == 0,
                    &format!("step {step}: {name} used by some rank has no grad"),
                ),
                Some(gr) => {
                    check(
                        used.to_vec::<u8>()[0] == 1,
                        &format!("step {step}: {name} used by no rank got a grad"),
                    );
                    let (a, b) = (gr.to_vec::<f64>(), want.to_vec::<f64>());
                    let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
                    let diff = a
                        .iter()
                        .zip(&b)
                        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
                    check(
                        diff <= 1e-6 * scale,
                        &format!("step {step}: {name}'s grad is the ranks' average ({diff:e})"),
                    );
                }
            }
        }
        if step == 0 {
            check(
                ddp.module().extra.weight.grad().is_none()
                    && ddp.module().never.weight.grad().is_none(),
                "parameters no rank used keep grad None",
            );
        }
        if step == 1 {
            check(
                ddp.module().extra.weight.grad().is_some(),
                "a parameter only rank 0 used is averaged on every rank",
            );
        }
        opt.step();
    }

    // Without find_unused_parameters: the next forward refuses, naming `never`.
    kiln::manual_seed(11);
    let strict = DistributedDataParallel::new(TwoHeads::new()).unwrap();
    let x = batch(rank, 0);
    loss(&strict.forward(&x)).backward();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| strict.forward(&x)));
    std::panic::set_hook(hook);
    let msg = match err {
        Ok(_) => String::new(),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    };
    check(
        msg.contains("find_unused_parameters") && msg.contains("never.weight"),
        &format!("the error without find_unused_parameters: {msg:?}"),
    );
    if rank == 0 {
        eprintln!("unused: {world} ranks; without the option: {msg}");
    }
    2
}
