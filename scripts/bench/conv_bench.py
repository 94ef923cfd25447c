"""PyTorch's side of examples/conv_bench.rs: conv2d forward, input-gradient and
weight-gradient time (f32, median of 15 after 3 warm-ups) at the MNIST example's shapes.

Run: ~/torchenv/bin/python scripts/bench/conv_bench.py [threads]   (default 2)
"""
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
print(f"torch {torch.__version__} threads={threads} mkldnn={torch.backends.mkldnn.is_available()}")


def median_ms(f):
    for _ in range(3):
        f()
    ts = []
    for _ in range(15):
        s = time.perf_counter()
        f()
        ts.append((time.perf_counter() - s) * 1e3)
    return sorted(ts)[len(ts) // 2]


conv_bw = torch.ops.aten.convolution_backward
with torch.no_grad():
    for n, ci, co, h in [(64, 1, 32, 28), (64, 32, 64, 26)]:
        x = torch.randn(n, ci, h, h)
        w = torch.randn(co, ci, 3, 3)
        b = torch.randn(co)
        gy = torch.randn(n, co, h - 2, h - 2)
        args = ([co], [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        fwd = median_ms(lambda: torch.nn.functional.conv2d(x, w, b))
        gx = median_ms(lambda: conv_bw(gy, x, w, *args, [True, False, False]))
        gw = median_ms(lambda: conv_bw(gy, x, w, *args, [False, True, False]))
        print(f"torch conv2d {n}x{ci}->{co} 3x3 on {h}x{h}: forward {fwd:.3f} ms, "
              f"input-grad {gx:.3f} ms, weight-grad {gw:.3f} ms")
