"""PyTorch's side of examples/conv_bench.rs: conv2d forward, input-gradient and
weight-gradient time (f32, median of 15 after 3 warm-ups) at the same shapes.

Run: ~/torchenv/bin/python scripts/bench/conv_bench.py [threads] [filter]   (default 2)
"""
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
filt = sys.argv[2] if len(sys.argv) > 2 else ""
torch.set_num_threads(threads)
print(f"torch {torch.__version__} threads={threads} mkldnn={torch.backends.mkldnn.is_available()}")

# (name, batch, c_in, c_out, kernel, size, padding, groups), as examples/conv_bench.rs.
SHAPES = [
    ("mnist_conv1_b64_1x32_3x3_28", 64, 1, 32, 3, 28, 0, 1),
    ("mnist_conv2_b64_32x64_3x3_26", 64, 32, 64, 3, 26, 0, 1),
    ("resnet_b8_64x64_3x3_56", 8, 64, 64, 3, 56, 1, 1),
    ("pointwise_b8_64x256_1x1_56", 8, 64, 256, 1, 56, 0, 1),
    ("depthwise_b8_64_3x3_56", 8, 64, 64, 3, 56, 1, 64),
]


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
    for name, n, ci, co, k, h, p, groups in SHAPES:
        if filt not in name:
            continue
        ho = h + 2 * p - k + 1
        x = torch.randn(n, ci, h, h)
        w = torch.randn(co, ci // groups, k, k)
        b = torch.randn(co)
        gy = torch.randn(n, co, ho, ho)
        args = ([co], [1, 1], [p, p], [1, 1], False, [0, 0], groups)
        fwd = median_ms(lambda: torch.nn.functional.conv2d(x, w, b, padding=p, groups=groups))
        gx = median_ms(lambda: conv_bw(gy, x, w, *args, [True, False, False]))
        gw = median_ms(lambda: conv_bw(gy, x, w, *args, [False, True, False]))
        print(f"torch {name}: forward {fwd:.3f} ms, input-grad {gx:.3f} ms, weight-grad {gw:.3f} ms")
