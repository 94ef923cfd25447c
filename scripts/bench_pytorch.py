"""PyTorch side of kiln's benchmark suite: the same workloads `kiln bench` runs, timed
the same way (median of repeats after warm-up), printed as one JSON object.

Usage: python scripts/bench_pytorch.py [--threads 2] [--quick]
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
    ap.add_argument("--only", default="", help="'rnn': only the recurrent rows (as `kiln bench --only rnn`)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    reps = 1 if args.quick else 3
    out = {"library": f"pytorch {torch.__version__}", "threads": args.threads}
    if args.only == "rnn":
        out.update(rnn_rows())
        print(json.dumps(out))
        return
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
    out.update(rnn_rows())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
