#!/usr/bin/env bash
# The benchmark gate, run by .ci/run (through tools/dev/test.sh): the
# benchmarks, briefly, each writing its figures as JSON, then
# tools/dev/bench_check.py, which fails when a ratio measured within this one
# run falls below its floor (absolute figures are printed, never gated).
# Root (network namespaces, TAP devices, nft, iptables). About 30 s on 2
# cores. BANGER_BENCH_OUT=DIR keeps the JSON there.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/build.sh > /dev/null
out="${BANGER_BENCH_OUT:-$(mktemp -d /var/tmp/banger-bench-check.XXXXXX)}"
mkdir -p "$out"
run() {
  local name=$1
  shift
  echo "bench-check: $name: $*" >&2
  if ! "$@" "--json=$out/$name.json" > "$out/$name.txt" 2> "$out/$name.err"; then
    echo "bench-check: $name failed:" >&2
    cat "$out/$name.err" >&2
    exit 1
  fi
}
run network build/bench/network_bench --counts=1,1000 --rounds=200 --exec-rounds=6 --cni-max=1
run lifecycle build/bench/lifecycle_bench --vms=60 --rounds=60
run stats build/bench/stats_bench --ticks=10
run scale build/bench/scale_bench --vms=1000
for f in network lifecycle stats; do cat "$out/$f.txt"; echo; done
python3 tools/dev/bench_check.py "$out"
