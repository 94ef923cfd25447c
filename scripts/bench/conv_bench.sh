#!/bin/sh
# kiln and PyTorch conv2d timings in one run (same machine, same thread count), for
# several rounds (kiln then PyTorch each round), so the ratios come from the same phase
# of a shared machine. Usage: scripts/bench/conv_bench.sh [threads] [rounds] [filter]
set -e
T=${1:-2}
R=${2:-1}
F=${3:-}
lscpu | grep 'Model name'
cargo build --release --quiet --example conv_bench
BIN=${CARGO_TARGET_DIR:-target}/release/examples/conv_bench
i=0
while [ "$i" -lt "$R" ]; do
  "$BIN" "$T" "$F"
  ~/torchenv/bin/python "$(dirname "$0")/conv_bench.py" "$T" "$F"
  i=$((i + 1))
done
