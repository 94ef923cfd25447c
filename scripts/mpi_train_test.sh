#!/usr/bin/env bash
# `mpirun -np N kiln train`: a data-parallel run on a slice of MNIST prints one log
# (rank 0), writes its files once, and resumes with a different number of processes.
# Called by scripts/mpi_tests.sh (Open MPI installed, OMPI_MCA_* set there).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${KILN_MPI_RELEASE:-0}" = 1 ]; then
    cargo build --release -p kiln -p kiln-cli --features kiln/mpi,kiln-cli/mpi --example dist_bench --bin kiln --test distributed 2>&1 | tail -1
    KILN=${CARGO_TARGET_DIR:-target}/release/kiln
else
    cargo build -p kiln-cli --features mpi 2>&1 | tail -1
    KILN=${CARGO_TARGET_DIR:-target}/debug/kiln
fi
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(train --data-dir data/mnist --limit 1200 --test-limit 300 --batch-size 32 --hidden 32 --batch-norm --out "$out/run")

# Each rank tests its share of the test set and the sums are reported: the epoch's
# test figures must be those of `kiln eval` (one process, the whole set) on the saved
# model, whose BatchNorm statistics are rank 0's.
same_as_eval() {
    local line want got
    line=$(tail -1 "$out/run/metrics.jsonl")
    want=$("$KILN" eval --model "$out/run/model.safetensors" --data-dir data/mnist --limit 300 2>&1 | grep -o 'Test Loss=[0-9.]*, Test Acc=[0-9.]*% ([0-9]*/300)')
    got=$(echo "$line" | grep -o '"test_loss":[0-9.e+-]*,"test_acc":[0-9.e+-]*' | awk -F'[:,]' '{printf "Test Loss=%.4f, Test Acc=%.2f%% (%d/300)", $2, 100 * $4, $4 * 300 + 0.5}')
    [ -n "$want" ] && [ "$want" = "$got" ] || { echo "test figures of the run ($got) differ from kiln eval ($want)"; exit 1; }
    echo "$1: $got, as kiln eval"
}

"${MPIRUN[@]}" -np 2 "$KILN" "${common[@]}" --epochs 1 >"$out/log1" 2>&1 || { cat "$out/log1"; exit 1; }
[ "$(grep -c '^Epoch 1:' "$out/log1")" -eq 1 ] || { echo "expected one 'Epoch 1:' line"; cat "$out/log1"; exit 1; }
grep -q "Data-parallel over 2 processes" "$out/log1" || { echo "no data-parallel banner"; cat "$out/log1"; exit 1; }
[ -f "$out/run/model.safetensors" ] && [ -f "$out/run/checkpoint.safetensors" ] || { echo "files missing"; exit 1; }
same_as_eval "-np 2"

# Resume the finished epoch with 3 processes.
"${MPIRUN[@]}" -np 3 "$KILN" "${common[@]}" --epochs 2 --resume >"$out/log2" 2>&1 || { cat "$out/log2"; exit 1; }
[ "$(grep -c '^Epoch 2:' "$out/log2")" -eq 1 ] || { echo "expected one 'Epoch 2:' line"; cat "$out/log2"; exit 1; }
[ "$(wc -l <"$out/run/metrics.jsonl")" -eq 2 ] || { echo "metrics.jsonl should hold 2 epochs"; cat "$out/run/metrics.jsonl"; exit 1; }
same_as_eval "-np 3 --resume"
grep "^Epoch" "$out/log1" "$out/log2"

# --grad-stats under mpirun records the averaged gradients (what `.grad` holds after a
# DDP backward), not rank 0's own: with one batch per epoch, 2 ranks x 32 samples and
# one process x the same 64 see the same mean gradient (no dropout: its masks differ),
# so every row's norms agree.
gs=(train --data-dir data/mnist --limit 64 --test-limit 100 --hidden 32 --dropout 0 --epochs 3 --grad-stats)
"${MPIRUN[@]}" -np 2 "$KILN" "${gs[@]}" --batch-size 32 --out "$out/gs2" >"$out/log3" 2>&1 || { cat "$out/log3"; exit 1; }
"$KILN" "${gs[@]}" --batch-size 64 --out "$out/gs1" >"$out/log4" 2>&1 || { cat "$out/log4"; exit 1; }
norms() { grep -o '"norms":\[[^]]*\]' "$1/grad_norms.jsonl" | tr -d '"norms:[]' | tr ',' ' '; }
paste -d'|' <(norms "$out/gs2") <(norms "$out/gs1") | awk -F'|' '
    { n = split($1, a, " "); m = split($2, b, " ")
      if (n != m || n == 0) { print "grad-stats: rows differ in length: " $0; bad = 1; exit }
      for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d; r = d / b[i]; if (r > worst) worst = r }
      rows++ }
    END { if (bad) exit 1
          if (rows != 3) { print "grad-stats: expected 3 rows, got " rows; exit 1 }
          printf "grad-stats -np 2 vs 1 process of the same 64 samples: %d rows, max relative difference %.2e\n", rows, worst
          exit !(worst <= 1e-5) }'
