"""PyTorch side of kiln's benchmark suite: the same workloads `kiln bench` runs, timed
the same way (median of repeats after warm-up), printed as one JSON object.

Usage: python scripts/bench_pytorch.py [--threads 2] [--quick] [--only PREFIX]
Needs torch and numpy (never a CI dependency).
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist(train):
    prefix = "train" if train else "t10k"
    d = os.path.join(ROOT, "data", "mnist")
    x = read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x - 0.1307) / 0.3081
    return torch.from_numpy(x.reshape(len(x), 784)), torch.from_numpy(y)


class DigitClassifier(nn.Module):
    """The tutorial's network."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.layers = nn.Sequential(
            nn.Linear(28 * 28, 256), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.layers(self.flatten(x))


def time_it(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_epoch(model, opt, x, y, batch, gen):
    model.train()
    crit = nn.CrossEntropyLoss()
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        opt.zero_grad()
        loss = crit(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def rnn_rows():
    """The `rnn_*` rows: one training step over a [64, 28, 28] batch of 28-step sequences."""
    x, y = torch.randn(64, 28, 28), torch.randint(0, 10, (64,))
    rows = {}
    for key, rnn, width in (
        ("rnn_lstm_step_b64_s", nn.LSTM(28, 128, batch_first=True), 128),
        ("rnn_gru2_step_b64_s", nn.GRU(28, 128, num_layers=2, batch_first=True), 128),
        ("rnn_bilstm_step_b64_s", nn.LSTM(28, 128, batch_first=True, bidirectional=True), 256),
    ):
        head = nn.Linear(width, 10)
        opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)

        def step():
            opt.zero_grad()
            nn.functional.cross_entropy(head(rnn(x)[0][:, -1]), y).backward()
            opt.step()

        rows[key] = time_it(step, 20, warmup=3)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--only", default="", help="only the workloads whose key starts with this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    reps = 1 if args.quick else 3
    out = {"library": f"pytorch {torch.__version__}", "threads": args.threads}
    wants = lambda key: key.startswith(args.only)
    if any(wants(k) for k in ("mnist", "inference", "gemm", "elementwise", "sum", "memcpy", "deep")):
        general(args, reps, out)
    conv_passes(wants, out)
    if wants("rnn"):
        out.update(rnn_rows())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# (key, batch, c_in, c_out, kernel, size, padding, groups), as kiln-cli/src/cli/bench.rs.
CONV_SHAPES = [
    ("conv_mnist1_b64_1x32_3x3_28", 64, 1, 32, 3, 28, 0, 1),
    ("conv_mnist2_b64_32x64_3x3_26", 64, 32, 64, 3, 26, 0, 1),
    ("conv_resnet_b8_64x64_3x3_56", 8, 64, 64, 3, 56, 1, 1),
    ("conv_pointwise_b8_64x256_1x1_56", 8, 64, 256, 1, 56, 0, 1),
    ("conv_depthwise_b8_64_3x3_56", 8, 64, 64, 3, 56, 1, 64),
]


def conv_passes(wants, out):
    """Forward, input-gradient and weight-gradient ms (f32, median of 15 after 3 warm-ups)."""
    conv_bw = torch.ops.aten.convolution_backward
    with torch.no_grad():
        for key, n, ci, co, k, h, p, groups in CONV_SHAPES:
            if not wants(key):
                continue
            ho = h + 2 * p - k + 1
            x = torch.randn(n, ci, h, h)
            w = torch.randn(co, ci // groups, k, k)
            b = torch.randn(co)
            gy = torch.randn(n, co, ho, ho)
            a = ([co], [1, 1], [p, p], [1, 1], False, [0, 0], groups)
            ms = lambda f: 1e3 * time_it(f, 15, warmup=3)
            out[f"{key}_fwd_ms"] = ms(lambda: nn.functional.conv2d(x, w, b, padding=p, groups=groups))
            out[f"{key}_gx_ms"] = ms(lambda: conv_bw(gy, x, w, *a, [True, False, False]))
            out[f"{key}_gw_ms"] = ms(lambda: conv_bw(gy, x, w, *a, [False, True, False]))


def general(args, reps, out):
    x, y = mnist(True)
    xt, _ = mnist(False)
    gen = torch.Generator().manual_seed(0)
    for batch in (64, 256):
        model = DigitClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        out[f"mnist_epoch_b{batch}_s"] = time_it(lambda: train_epoch(model, opt, x, y, batch, gen), reps)
    model.eval()

    def infer():
        with torch.no_grad():
            for i in range(0, len(xt), 1000):
                model(xt[i:i + 1000])
    t = time_it(infer, reps * 3)
    out["inference_b1000_samples_per_s"] = len(xt) / t
    for (m, k, n) in [(64, 784, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        t = time_it(lambda: a @ b, 5 if m < 2048 else 3)
        out[f"gemm_{m}x{k}x{n}_gflops"] = 2 * m * k * n / t / 1e9
    big = torch.randn(16 * 1024 * 1024)
    dst = torch.empty_like(big)
    dst.copy_(big)
    t = time_it(lambda: dst.mul_(1.0), 10)
    out["elementwise_mul_16m_gbps"] = 2 * big.numel() * 4 / t / 1e9
    t = time_it(lambda: big.sum(), 10)
    out["sum_16m_gbps"] = big.numel() * 4 / t / 1e9
    t = time_it(lambda: dst.copy_(big), 10)
    out["memcpy_16m_gbps"] = 2 * big.numel() * 4 / t / 1e9
    deep = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 10))
    dopt = torch.optim.Adam(deep.parameters(), lr=1e-3)
    xb, yb = x[:256], y[:256]

    def deep_step():
        dopt.zero_grad()
        nn.functional.cross_entropy(deep(xb), yb).backward()
        dopt.step()
    out["deep_mlp_step_b256_s"] = time_it(deep_step, 10, warmup=2)


if __name__ == "__main__":
    main()
