"""The tutorial's MNIST program in PyTorch, with the same settings as `kiln train`
(Flatten, 784-256-128-10 with ReLU and Dropout 0.2, CrossEntropyLoss, Adam 1e-3, batch 64,
shuffled, inputs normalised with (0.1307, 0.3081)). Prints the same epoch lines and the
training-loop seconds per epoch, for the accuracy and time comparisons in BENCHMARKS.md.

Usage: python scripts/train_pytorch.py [--dataset mnist|fashion-mnist] [--epochs 10]
       [--threads 2] [--seed 0]
"""
import argparse
import os
import resource
import time

import torch
import torch.nn as nn

from bench_pytorch import DigitClassifier, read_idx

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DIRS = {"mnist": [os.path.join(ROOT, "data", "mnist")],
        "fashion-mnist": [os.path.join(ROOT, "data", "fashion-mnist"), "/usr/share/datasets/fashion-mnist"]}


def load(name, train):
    prefix = "train" if train else "t10k"
    for d in DIRS[name]:
        p = os.path.join(d, f"{prefix}-images-idx3-ubyte.gz")
        if os.path.exists(p):
            x = torch.from_numpy(read_idx(p).copy()).float().div(255).sub(0.1307).div(0.3081)
            y = torch.from_numpy(read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz")).copy()).long()
            return x.reshape(len(x), 784), y
    raise SystemExit(f"no {name} data in {DIRS[name]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = load(a.dataset, True)
    xt, yt = load(a.dataset, False)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    for epoch in range(a.epochs):
        model.train()
        t = time.perf_counter()
        total, correct, seen = 0.0, 0, 0
        for xb, yb in loader:
            opt.zero_grad()
            out = model(xb)
            loss = crit(out, yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
            correct += (out.argmax(1) == yb).sum().item()
            seen += len(xb)
        secs = time.perf_counter() - t
        model.eval()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        print(f"Epoch {epoch + 1}: Loss={total / seen:.4f}, Train Acc={100 * correct / seen:.2f}%, "
              f"Test Acc={100 * acc:.2f}%  ({secs:.2f} s training loop)", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
