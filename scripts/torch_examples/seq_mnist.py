"""Sequential MNIST in PyTorch, the twin of examples/seq_mnist.rs: each image as 28 steps
of 28 pixels through LSTM(28, 128, batch_first=True), the last hidden state into
Linear(128, 10), CrossEntropyLoss, Adam(1e-3), batch 64, shuffled, inputs normalised with
(0.1307, 0.3081), on the local data/mnist files. Prints per-epoch loss, test accuracy and
the training-loop seconds (and ms per batch).

Usage: ~/torchenv/bin/python scripts/torch_examples/seq_mnist.py [--epochs 1] [--threads 2]
       [--seed 0] [--batches N]   (N: stop each epoch after N batches, for timing)
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_pytorch import mnist  # noqa: E402


class SeqClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.fc(h_n[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = mnist(True)
    xt, yt = mnist(False)
    x, xt = x.reshape(-1, 28, 28), xt.reshape(-1, 28, 28)
    model = SeqClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    for epoch in range(a.epochs):
        model.train()
        t = time.perf_counter()
        total, n = 0.0, 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = crit(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()
            n += 1
            if a.batches and n >= a.batches:
                break
        secs = time.perf_counter() - t
        model.eval()
        with torch.no_grad():
            correct = sum((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item()
                          for i in range(0, len(xt), 1000))
        print(f"epoch {epoch + 1}: loss {total / n:.4f}, test accuracy {100 * correct / len(xt):.2f}%, "
              f"train {secs:.2f} s ({1000 * secs / n:.2f} ms/batch, {n} batches, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
