#!/bin/sh
# kiln's examples/mnist_cnn.rs and its PyTorch twin scripts/torch_examples/mnist_cnn.py
# back to back for several rounds (kiln then PyTorch each round, 2 threads each): the
# training time each prints on stderr ("epoch 1: trained in X s"), and their ratio.
# Usage: scripts/bench/cnn_epoch.sh [rounds] [limit]   (limit: training images, default
# 6400 = 100 batches; 60000 is the whole epoch). Build first:
#   cargo build --release --example mnist_cnn
set -e
R=${1:-3}
L=${2:-6400}
BIN=${CARGO_TARGET_DIR:-target}/release/examples/mnist_cnn
cd "$(dirname "$0")/../.."
lscpu | grep 'Model name'
i=0
while [ "$i" -lt "$R" ]; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  k=$("$BIN" --epochs 1 --limit "$L" --test-limit 1000 2>&1 >/dev/null | sed -n 's/.*trained in \([0-9.]*\) s/\1/p')
  t=$(~/torchenv/bin/python scripts/torch_examples/mnist_cnn.py --epochs 1 --limit "$L" --test-limit 1000 2>&1 >/dev/null | sed -n 's/.*trained in \([0-9.]*\) s/\1/p')
  echo "round $((i + 1)): load $load  kiln ${k} s  pytorch ${t} s  kiln/pytorch $(echo "$k $t" | awk '{printf "%.3f", $1 / $2}')"
  i=$((i + 1))
done
