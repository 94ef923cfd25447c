//! DDP of a convolutional network against one process (scenario `ddp_cnn` of
//! tests/distributed.rs), as the MLP's `ddp` scenario does.

use kiln::data::{DataLoader, DistributedSampler, TensorDataset};
use kiln::distributed::{self as dist, DistributedDataParallel};
use kiln::nn::functional::cross_entropy;
use kiln::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use kiln::optim::{Optimizer, SGD};
use kiln::{Tensor, seq};

use super::{check, flat, max_rel_diff};

/// The `kiln train --model cnn` net (PyTorch's mnist/main.py) without its dropouts
/// (their masks would differ between the runs): conv 1->32 and 32->64 (3x3), a 2x2 max
/// pool, fc1 9216->128, fc2 128->10, on 1 x 28 x 28 images. Its gradients make two
/// buckets: fc2 with fc1 (which reaches 1 MiB), then the convolutions.
fn cnn() -> Sequential {
    seq![
        Conv2d::new(1, 32, 3),
        ReLU::new(),
        Conv2d::new(32, 64, 3),
        ReLU::new(),
        MaxPool2d::new(2),
        Flatten::new(),
        Linear::new(9216, 128),
        ReLU::new(),
        Linear::new(128, 10),
    ]
}

const SAMPLES: usize = 480;
const STEPS: usize = 20;
/// The MLP's 0.05 makes this net's training unstable on random images (its parameters
/// move by twice their scale in 20 steps), which amplifies rounding differences
/// chaotically (5e-4 with 3 ranks, against 3e-7 by 10 steps); at 0.01 it trains smoothly.
const LR: f64 = 0.01;

fn images() -> TensorDataset<(Tensor, Tensor)> {
    kiln::manual_seed(4321);
    let x = Tensor::randn(&[SAMPLES, 1, 28, 28]);
    let y = Tensor::from_vec(
        (0..SAMPLES as i64).map(|i| (i * 3 + 1) % 10).collect(),
        &[SAMPLES],
    );
    TensorDataset::new((x, y))
}

fn train(model: &dyn Module, params: Vec<Tensor>, batch: usize, replicas: usize, rank: usize) {
    let sampler = DistributedSampler::new(SAMPLES, replicas, rank).seed(5);
    let loader = DataLoader::new(images()).batch_size(batch).sampler(sampler);
    let mut opt = SGD::new(params, LR).momentum(0.9);
    for (x, y) in loader.iter().take(STEPS) {
        opt.zero_grad();
        cross_entropy(&model.forward(&x), &y).backward();
        opt.step();
    }
}

/// N ranks of batch B against one process of batch N * B on the same permutation, for
/// STEPS SGD-with-momentum steps: every parameter tensor within 1e-5 relative.
pub fn ddp_cnn() -> usize {
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    const B: usize = 8;
    kiln::manual_seed(11);
    let single = cnn();
    train(&single, single.parameters(), world * B, 1, 0);
    let want = flat(&single);

    kiln::manual_seed(11 + rank as u64 * 1000);
    let model = DistributedDataParallel::new(cnn()).expect("same model on every rank");
    check(
        model.bucket_sizes() == [1_181_066, 18_816],
        "the CNN's two buckets: fc2 and fc1, then the convolutions",
    );
    train(&model, model.parameters(), B, world, rank);
    let got = flat(model.module());
    let rel = max_rel_diff(&got, &want);
    let moved = max_rel_diff(
        &got,
        &flat(&{
            kiln::manual_seed(11);
            cnn()
        }),
    );
    if rank == 0 {
        eprintln!(
            "ddp_cnn: {world} ranks x batch {B} vs 1 x {}: after {STEPS} steps max relative \
             difference {rel:.3e} per tensor (the parameters moved {moved:.3e} from their start)",
            world * B
        );
    }
    check(moved > 1e-3, "the CNN trained");
    check(
        rel <= 1e-5,
        "DDP of the CNN equals single-process training within 1e-5 per tensor",
    );
    1
}
