#!/usr/bin/env bash
# docs/PERFORMANCE.md from the benchmarks' own output: every benchmark RUNS
# times (default 3), interleaved (store, lifecycle, network, stats, scale at
# 10/100/1,000 VMs, control socket; then again), each writing its figures as
# JSON into docs/perf/runs/ with machine.json (when, which commit, on what);
# then tools/dev/perf_doc.py renders the page's tables from them. The suite
# checks the page against those runs (performance_doc_matches_its_runs).
# Root (network namespaces, TAP devices, nft). ~25 minutes on 2 cores.
#   tools/dev/perf-doc.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-3}"
tools/dev/build.sh > /dev/null
out=docs/perf/runs
rm -rf "$out"
mkdir -p "$out"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- core plugins sdk tools bench tests || echo '+changes')"
python3 - "$commit" "$runs" > "$out/machine.json" <<'PY'
import json, os, platform, sys, datetime
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print(json.dumps({"date": datetime.date.today().isoformat(), "commit": sys.argv[1],
                  "runs": int(sys.argv[2]), "cpu": cpu, "cores": os.cpu_count(),
                  "memory_gib": round(mem / 1024 / 1024), "kernel": platform.release()}, indent=2))
PY
bench() {
  echo "perf-doc: $*" >&2
  "$@" > /dev/null 2> /tmp/perf-doc.err || { cat /tmp/perf-doc.err >&2; exit 1; }
}
for i in $(seq 1 "$runs"); do
  bench build/bench/store_bench "--json=$out/store-$i.json"
  bench build/bench/lifecycle_bench "--json=$out/lifecycle-$i.json"
  bench build/bench/network_bench "--json=$out/network-$i.json"
  bench build/bench/stats_bench "--json=$out/stats-$i.json"
  for n in 10 100 1000; do
    bench build/bench/scale_bench "--vms=$n" "--json=$out/scale-$n-$i.json"
  done
  bench build/bench/control_socket_bench "--json=$out/control_socket-$i.json"
done
python3 tools/dev/perf_doc.py render docs/PERFORMANCE.md "$out"
echo "perf-doc: docs/PERFORMANCE.md rendered from $out" >&2
