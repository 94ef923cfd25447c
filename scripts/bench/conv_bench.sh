#!/bin/sh
# kiln and PyTorch conv2d timings in one run (same machine, same thread count).
# Usage: scripts/bench/conv_bench.sh [threads]   (default 2)
set -e
T=${1:-2}
lscpu | grep 'Model name'
cargo run --release --quiet --example conv_bench -- "$T"
~/torchenv/bin/python "$(dirname "$0")/conv_bench.py" "$T"
