#!/usr/bin/env bash
# `mpirun -np N kiln train`: a data-parallel run on a slice of MNIST prints one log
# (rank 0), writes its files once, and resumes with a different number of processes.
# Called by scripts/mpi_tests.sh (Open MPI installed, OMPI_MCA_* set there).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p kiln-cli --features mpi 2>&1 | tail -1
KILN=${CARGO_TARGET_DIR:-target}/debug/kiln
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(train --data-dir data/mnist --limit 1200 --test-limit 300 --batch-size 32 --hidden 32 --out "$out/run")

"${MPIRUN[@]}" -np 2 "$KILN" "${common[@]}" --epochs 1 >"$out/log1" 2>&1 || { cat "$out/log1"; exit 1; }
[ "$(grep -c '^Epoch 1:' "$out/log1")" -eq 1 ] || { echo "expected one 'Epoch 1:' line"; cat "$out/log1"; exit 1; }
grep -q "Data-parallel over 2 processes" "$out/log1" || { echo "no data-parallel banner"; cat "$out/log1"; exit 1; }
[ -f "$out/run/model.safetensors" ] && [ -f "$out/run/checkpoint.safetensors" ] || { echo "files missing"; exit 1; }

# Resume the finished epoch with 3 processes.
"${MPIRUN[@]}" -np 3 "$KILN" "${common[@]}" --epochs 2 --resume >"$out/log2" 2>&1 || { cat "$out/log2"; exit 1; }
[ "$(grep -c '^Epoch 2:' "$out/log2")" -eq 1 ] || { echo "expected one 'Epoch 2:' line"; cat "$out/log2"; exit 1; }
[ "$(wc -l <"$out/run/metrics.jsonl")" -eq 2 ] || { echo "metrics.jsonl should hold 2 epochs"; cat "$out/run/metrics.jsonl"; exit 1; }
grep "^Epoch" "$out/log1" "$out/log2"
