#!/usr/bin/env bash
# kiln::distributed under MPI: installs Open MPI from Debian if it is missing, builds the
# `distributed` test binary (feature `mpi`) and runs its scenarios under mpirun with 2 and
# 3 processes on this machine, then the fault tests (a stalled rank, a rank killed with
# kill -9) and the data-parallel `kiln train`. Called by .ci/run; `cargo test` alone stays
# free of MPI.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq libopenmpi-dev openmpi-bin clang libclang-dev >/dev/null
fi

# Containers often forbid the cross-memory attach Open MPI's shared-memory transport
# uses by default; plain copies work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# More ranks than free cores here: a waiting rank must yield, not spin (docs/distributed.md).
export OMPI_MCA_mpi_yield_when_idle=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)

# KILN_MPI_RELEASE=1 runs everything from one release build of kiln (with the features
# the `kiln` command unifies) instead of two debug builds: quicker on a slow machine.
BUILD=(--features mpi --test distributed)
if [ "${KILN_MPI_RELEASE:-0}" = 1 ]; then
    BUILD=(--release -p kiln -p kiln-cli --features kiln/mpi,kiln-cli/mpi --example dist_bench --bin kiln --test distributed)
fi
export KILN_MPI_RELEASE
[ "${KILN_MPI_SKIP_CLIPPY:-0}" = 1 ] || cargo clippy -p kiln --features mpi --lib --test distributed --example dist_bench -- -D warnings 2>&1 | tail -2
cargo build "${BUILD[@]}" 2>&1 | tail -2
BIN=$(cargo build "${BUILD[@]}" --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*distributed-[^"]*"' | head -1 | cut -d'"' -f4)
[ -x "$BIN" ] || { echo "mpi_tests: could not find the distributed test binary"; exit 1; }

passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAILED: $1"; failed=$((failed + 1)); }

for np in 2 3; do
    for scenario in collectives mismatch buffers unused buckets ddp_cnn; do
        if "${MPIRUN[@]}" -np "$np" "$BIN" "$scenario"; then ok "$scenario -np $np"; else bad "$scenario -np $np"; fi
    done
    h1=$("${MPIRUN[@]}" -np "$np" "$BIN" ddp | grep params-hash || true)
    h2=$("${MPIRUN[@]}" -np "$np" "$BIN" ddp | grep params-hash || true)
    if [ -n "$h1" ] && [ "$h1" = "$h2" ]; then ok "ddp -np $np (exact vs 1 process, two runs bit-identical: $h1)"; else bad "ddp -np $np ('$h1' vs '$h2')"; fi
done

# A rank that never joins: the watchdog stops the job with a clear message.
log=$(mktemp)
start=$(date +%s)
if KILN_DIST_TIMEOUT=3 timeout 90 "${MPIRUN[@]}" -np 2 "$BIN" stall >"$log" 2>&1; then
    bad "stall: the job succeeded"
else
    took=$(( $(date +%s) - start ))
    if grep -q "barrier has waited" "$log" && [ "$took" -lt 60 ]; then ok "stall stopped in ${took}s"; else bad "stall (${took}s): $(tail -5 "$log")"; fi
fi

# kill -9 of one rank while the others are in collectives.
dir=$(mktemp -d)
start=$(date +%s)
KILN_TEST_DIR=$dir timeout 90 "${MPIRUN[@]}" -np 3 "$BIN" spin >"$log" 2>&1 &
job=$!
for _ in $(seq 1 100); do [ -f "$dir/rank1.pid" ] && break; sleep 0.2; done
sleep 1
kill -9 "$(cat "$dir/rank1.pid")"
killed=$(date +%s)
if wait "$job"; then
    bad "kill -9: the job succeeded"
else
    took=$(( $(date +%s) - killed ))
    if [ "$took" -lt 60 ]; then ok "kill -9 of rank 1: the others stopped in ${took}s ($(grep -m1 -i "signal 9\|killed\|kiln.distributed" "$log" | head -c 160))"; else bad "kill -9 took ${took}s"; fi
fi
rm -rf "$dir" "$log"

if [ -x scripts/mpi_train_test.sh ]; then
    if scripts/mpi_train_test.sh; then ok "kiln train under mpirun"; else bad "kiln train under mpirun"; fi
fi

echo "mpi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
