"""Runs `kiln bench` and scripts/bench_pytorch.py in alternating rounds on this machine
and prints a side-by-side table with kiln/PyTorch ratios (markdown).

Usage: python scripts/compare.py [--rounds 2] [--threads 2] [--quick]
(python must have torch and numpy; kiln is built with `cargo build --release`.)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ROWS = [
    ("mnist_epoch_b64_s", "MNIST training epoch, batch 64 (s)", "time"),
    ("mnist_epoch_b256_s", "MNIST training epoch, batch 256 (s)", "time"),
    ("inference_b1000_samples_per_s", "inference, batch 1000 (samples/s)", "rate"),
    ("gemm_64x784x256_gflops", "GEMM 64x784x256 (GFLOP/s)", "rate"),
    ("gemm_512x512x512_gflops", "GEMM 512 (GFLOP/s)", "rate"),
    ("gemm_1024x1024x1024_gflops", "GEMM 1024 (GFLOP/s)", "rate"),
    ("gemm_2048x2048x2048_gflops", "GEMM 2048 (GFLOP/s)", "rate"),
    ("elementwise_mul_16m_gbps", "in-place mul, 16M f32 (GB/s)", "rate"),
    ("sum_16m_gbps", "sum, 16M f32 (GB/s)", "rate"),
    ("memcpy_16m_gbps", "copy, 16M f32 (GB/s)", "rate"),
    ("deep_mlp_step_b256_s", "4x1024 MLP train step, batch 256 (s)", "time"),
    ("rnn_lstm_step_b64_s", "LSTM(28, 128) train step, 64 x 28 steps (s)", "time"),
    ("rnn_gru2_step_b64_s", "2-layer GRU(28, 128) train step, 64 x 28 steps (s)", "time"),
    ("rnn_bilstm_step_b64_s", "bidirectional LSTM(28, 128) train step, 64 x 28 steps (s)", "time"),
    ("peak_rss_mb", "peak resident memory (MB)", "time"),
]
# The conv rows (ms): forward, input gradient, weight gradient of each shape.
for _key, _label in [
    ("conv_mnist1_b64_1x32_3x3_28", "conv 1->32 3x3 28x28 b64"),
    ("conv_mnist2_b64_32x64_3x3_26", "conv 32->64 3x3 26x26 b64"),
    ("conv_resnet_b8_64x64_3x3_56", "conv 64->64 3x3 pad 1 56x56 b8"),
    ("conv_pointwise_b8_64x256_1x1_56", "conv 64->256 1x1 56x56 b8"),
    ("conv_depthwise_b8_64_3x3_56", "depthwise 64 3x3 pad 1 56x56 b8"),
]:
    for _pass, _name in [("fwd", "forward"), ("gx", "input grad"), ("gw", "weight grad")]:
        ROWS.append((f"{_key}_{_pass}_ms", f"{_label} {_name} (ms)", "time"))


def run(cmd):
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="only the workloads whose key starts with this")
    a = ap.parse_args()
    extra = ["--quick"] if a.quick else []
    if a.only:
        extra += ["--only", a.only]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    kiln_cmd = [os.path.join(target, "release", "kiln"), "bench", "--threads", str(a.threads)] + extra
    torch_cmd = [sys.executable, os.path.join(ROOT, "scripts", "bench_pytorch.py"), "--threads", str(a.threads)] + extra
    ks, ts = [], []
    for r in range(a.rounds):
        print(f"round {r + 1}/{a.rounds}: kiln", file=sys.stderr)
        ks.append(run(kiln_cmd))
        print(f"round {r + 1}/{a.rounds}: pytorch", file=sys.stderr)
        ts.append(run(torch_cmd))
    # Each round runs kiln and PyTorch back to back, so the per-round ratio cancels the
    # slow and fast phases a shared VM goes through; the table shows its median.
    print(f"| workload | kiln | {ts[0]['library']} | kiln / PyTorch | per round |")
    print("|---|---|---|---|---|")
    for key, label, kind in ROWS:
        if key not in ks[0] or key not in ts[0]:
            continue
        k = statistics.median(x[key] for x in ks)
        t = statistics.median(x[key] for x in ts)
        per_round = [kx[key] / tx[key] for kx, tx in zip(ks, ts)]
        ratio = statistics.median(per_round)
        note = "lower is better" if kind == "time" else "higher is better"
        rounds = " ".join(f"{r:.2f}" for r in per_round)
        print(f"| {label} | {k:.4g} | {t:.4g} | **{ratio:.2f}** {note} | {rounds} |")

if __name__ == "__main__":
    main()
