#!/usr/bin/env bash
# Times kiln built as a user's dependency (a throwaway cargo project outside the repo,
# default flags: none of the repo's .cargo/config.toml) against `kiln bench` built in the
# repo, in one run, alternating rounds. Prints one JSON line per run and a ratio table.
#
#   scripts/bench_as_dependency.sh [ROUNDS]        (default 3)
#   NATIVE=1 scripts/bench_as_dependency.sh        also times the user project built with
#                                                  RUSTFLAGS='-C target-cpu=native'
# Uses $CARGO_TARGET_DIR for the repo build and $DEP_TARGET_DIR (default
# /tmp/kiln-dep-target) for the user project. Needs the MNIST files `kiln bench` reads.
set -euo pipefail
rounds=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
proj=$(mktemp -d /tmp/kiln-as-dep.XXXXXX)
dep_target=${DEP_TARGET_DIR:-/tmp/kiln-dep-target}
trap 'rm -rf "$proj"' EXIT

mkdir -p "$proj/src"
cat > "$proj/Cargo.toml" <<TOML
[package]
name = "kiln-as-dep"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
kiln = { path = "$repo" }

[profile.release]
debug = 1
TOML
cat > "$proj/src/main.rs" <<'RS'
//! The `kiln bench` workloads a user would write, with kiln as a plain dependency.
use kiln::Tensor;
use std::time::Instant;

fn median_secs(repeats: usize, warmup: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut t: Vec<f64> = (0..repeats)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    kiln::set_num_threads(2);
    kiln::manual_seed(0);
    let big = Tensor::randn(&[16 * 1024 * 1024]);
    let dst = big.zeros_like();
    let bytes = (big.numel() * 4) as f64;
    let t_copy = median_secs(10, 1, || {
        dst.copy_(&big);
    });
    let t_mul = median_secs(10, 1, || {
        dst.mul_scalar_(1.0);
    });
    let t_sum = median_secs(10, 1, || {
        std::hint::black_box(big.sum());
    });
    // Batch-1000 inference of the MNIST classifier over 10,000 inputs.
    let model = kiln::nn::models::digit_classifier();
    use kiln::nn::Module;
    model.eval();
    let xt = Tensor::randn(&[10_000, 784]);
    let t_inf = median_secs(9, 1, || {
        kiln::no_grad(|| {
            for i in (0..10_000).step_by(1000) {
                std::hint::black_box(model.forward(&xt.narrow(0, i as isize, 1000)));
            }
        })
    });
    println!(
        "{{\"library\": \"kiln as a dependency\", \"elementwise_mul_16m_gbps\": {}, \"sum_16m_gbps\": {}, \"memcpy_16m_gbps\": {}, \"inference_b1000_samples_per_s\": {}}}",
        2.0 * bytes / t_mul / 1e9,
        bytes / t_sum / 1e9,
        2.0 * bytes / t_copy / 1e9,
        10_000.0 / t_inf
    );
}
RS

echo "building kiln bench in the repo..." >&2
(cd "$repo" && cargo build --release --quiet --bin kiln)
repo_bin="${CARGO_TARGET_DIR:-$repo/target}/release/kiln"
echo "building the user project (default flags)..." >&2
(cd "$proj" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS CARGO_TARGET_DIR="$dep_target" \
    cargo build --release --quiet)
cp "$dep_target/release/kiln-as-dep" "$proj/dep-default"
bins=("$proj/dep-default")
if [[ "${NATIVE:-0}" == 1 ]]; then
    echo "building the user project (target-cpu=native)..." >&2
    (cd "$proj" && RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR="$dep_target-native" \
        cargo build --release --quiet)
    cp "$dep_target-native/release/kiln-as-dep" "$proj/dep-native"
    bins+=("$proj/dep-native")
fi

out="$proj/results.jsonl"
cd "$repo"  # `kiln bench` reads data/mnist
for r in $(seq "$rounds"); do
    "$repo_bin" bench --threads 2 --only inference | sed 's/^{/{"who": "repo",/' >> "$out"
    "$repo_bin" bench --threads 2 --only elementwise | sed 's/^{/{"who": "repo",/' >> "$out"
    for b in "${bins[@]}"; do
        "$b" | sed "s/^{/{\"who\": \"$(basename "$b")\",/" >> "$out"
    done
    echo "round $r done" >&2
done
cat "$out"
python3 - "$out" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = ["elementwise_mul_16m_gbps", "sum_16m_gbps", "memcpy_16m_gbps",
        "inference_b1000_samples_per_s"]
who = sorted({r["who"] for r in rows}, key=lambda w: (w != "repo", w))
med = {w: {k: statistics.median([r[k] for r in rows if r["who"] == w and k in r])
           for k in keys} for w in who}
print(f"{'workload':34}" + "".join(f"{w:>14}" for w in who) + "   ratio to repo")
for k in keys:
    line = f"{k:34}" + "".join(f"{med[w][k]:14.1f}" for w in who)
    line += "   " + " ".join(f"{med[w][k] / med['repo'][k]:.2f}" for w in who[1:])
    print(line)
PY
