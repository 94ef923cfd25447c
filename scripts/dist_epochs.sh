#!/usr/bin/env bash
# 2 processes x 1 thread (`mpirun -np 2 kiln train`) against 1 process x 2 threads, back
# to back in rounds, for the MNIST MLP epoch and the CNN (docs/distributed.md). Prints
# train_seconds (from metrics.jsonl) per run and the median per setting.
#   scripts/dist_epochs.sh [rounds] [kiln binary]
# Env: CNN_LIMIT (training images for the CNN runs, default 12800 = 200 batches of 64 for
# one process, 100 steps of 2 x 64 for two), MLP_LIMIT (default: all 60,000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
KILN=${2:-${CARGO_TARGET_DIR:-target}/release/kiln}
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mpi_yield_when_idle=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

secs() { grep -o '"train_seconds":[0-9.e+-]*' "$1/metrics.jsonl" | tail -1 | cut -d: -f2; }
acc() { grep -o '"test_acc":[0-9.e+-]*' "$1/metrics.jsonl" | tail -1 | cut -d: -f2; }

run() { # name, then the command
    local name=$1; shift
    "$@" --out "$out/$name" --overwrite >"$out/$name.log" 2>&1 || { cat "$out/$name.log"; exit 1; }
    echo "$name $(secs "$out/$name") s, test acc $(acc "$out/$name")"
    echo "$(secs "$out/$name")" >>"$out/$name.all"
}

mlp=(train --data-dir data/mnist --epochs 1 --batch-size 64 ${MLP_LIMIT:+--limit $MLP_LIMIT})
cnn=(train --model cnn --data-dir data/mnist --epochs 1 --batch-size 64 --limit "${CNN_LIMIT:-12800}" --test-limit 2000)
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r, load $(cut -d' ' -f1-3 /proc/loadavg)"
    run mlp_1x2 env KILN_NUM_THREADS=2 "$KILN" "${mlp[@]}"
    run mlp_2x1 env KILN_NUM_THREADS=1 "${MPIRUN[@]}" -np 2 -x KILN_NUM_THREADS "$KILN" "${mlp[@]}"
    run cnn_1x2 env KILN_NUM_THREADS=2 "$KILN" "${cnn[@]}"
    run cnn_2x1 env KILN_NUM_THREADS=1 "${MPIRUN[@]}" -np 2 -x KILN_NUM_THREADS "$KILN" "${cnn[@]}"
done
for name in mlp_1x2 mlp_2x1 cnn_1x2 cnn_2x1; do
    echo "$name median $(sort -g "$out/$name.all" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') s of: $(tr '\n' ' ' <"$out/$name.all")"
done
