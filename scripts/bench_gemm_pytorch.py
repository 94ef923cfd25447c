#!/usr/bin/env python3
"""Times f32 `a @ b` in PyTorch on 2 threads and prints GFLOP/s per shape.

Timed like `examples/gemm_gflops.rs`: warm-up, then the median time of single calls
over at least `--reps` calls and ~0.3 s (robust to preemption on a shared machine).
Output: one `name<TAB>GFLOP/s` line per shape. By default the product is written into a preallocated output
(`torch.matmul(a, b, out=c)`, as kiln's kernel does); `--alloc` times plain `a @ b`.
Not a CI dependency: run it with a Python that has torch, e.g.
`/tmp/torchenv/bin/python scripts/bench_gemm_pytorch.py`.
"""

import argparse
import statistics
import sys
import time

import torch

BUDGET = 0.3  # seconds of timed calls per shape, at least

# (name, m, k, n, a_transposed, b_transposed); keep in sync with examples/gemm_gflops.rs
SHAPES = [
    ("sq512", 512, 512, 512, False, False),
    ("sq1024", 1024, 1024, 1024, False, False),
    ("sq2048", 2048, 2048, 2048, False, False),
    ("64x784x256", 64, 784, 256, False, False),
    ("64x784x256_NT", 64, 784, 256, False, True),
    ("784Tx64x256", 784, 64, 256, True, False),
    ("64x256x784_NT", 64, 256, 784, False, True),
    ("64x256x128", 64, 256, 128, False, False),
    ("256Tx64x128", 256, 64, 128, True, False),
    ("64x128x256_NT", 64, 128, 256, False, True),
    ("64x128x10", 64, 128, 10, False, False),
    ("128Tx64x10", 128, 64, 10, True, False),
    ("64x10x128_NT", 64, 10, 128, False, True),
    ("256Tx64x784", 256, 64, 784, True, False),
    ("128Tx64x256", 128, 64, 256, True, False),
    # The MNIST CNN's fc1 (9216 -> 128, batch 64): forward, weight and input gradient.
    ("64x9216x128_NT", 64, 9216, 128, False, True),
    ("128Tx64x9216", 128, 64, 9216, True, False),
    ("64x128x9216", 64, 128, 9216, False, False),
]


def operand(rows, cols, transposed):
    """A rows x cols f32 matrix; a transposed (column-major) view when asked."""
    if transposed:
        return torch.randn(cols, rows).t()
    return torch.randn(rows, cols)


def time_shape(m, k, n, ta, tb, reps, alloc):
    a, b = operand(m, k, ta), operand(k, n, tb)
    c = torch.empty(m, n)
    call = (lambda: a @ b) if alloc else (lambda: torch.matmul(a, b, out=c))
    start = time.perf_counter()
    while time.perf_counter() - start < 0.1:
        call()
    start, times = time.perf_counter(), []
    while len(times) < reps or (time.perf_counter() - start < BUDGET and len(times) < 5000):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=31)
    ap.add_argument("--only", help="comma-separated shape names")
    ap.add_argument("--alloc", action="store_true", help="time `a @ b` (new output)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    only = set(args.only.split(",")) if args.only else None
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}"
          f" cpu={torch.backends.cpu.get_cpu_capability()}", file=sys.stderr)
    with torch.inference_mode():
        for name, m, k, n, ta, tb in SHAPES:
            if only and name not in only:
                continue
            secs = time_shape(m, k, n, ta, tb, args.reps, args.alloc)
            print(f"{name}\t{2 * m * n * k / secs / 1e9:.2f}", flush=True)


if __name__ == "__main__":
    main()
