#!/usr/bin/env bash
# Many VMs under one agent, at 10, 100 and 1,000 VMs (bench/scale_bench.cc),
# then memory across 3 rounds of 400 starts and stops. Writes the figures to
# docs/perf/scale.tsv and plots them to docs/perf/scale.png (gnuplot; Debian:
# gnuplot-nox). About 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v gnuplot > /dev/null || apt-get install -y gnuplot-nox > /dev/null
tools/dev/build.sh > /dev/null
out=docs/perf/scale.tsv
fields=(vms start_all_ms starts_per_s rss_running_mib stats_round_ms ls_idle_p50_ms ls_idle_p99_ms
        ls_under_load_p50_ms ls_under_load_p99_ms restart_until_serving_ms stop_all_ms)
(IFS=$'\t'; echo "${fields[*]}") > "$out"
for n in 10 100 1000; do
  line=$(build/bench/scale_bench --vms=$n --clients=16)
  echo "$line" >&2
  python3 - "$line" "${fields[@]}" >> "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print("\t".join(f"{d[f]:.6g}" if isinstance(d[f], float) else str(d[f]) for f in sys.argv[2:]))
PY
done
build/bench/scale_bench --rounds=3 --vms=400 --clients=16 | tee docs/perf/rounds.json
gnuplot <<'GP'
set terminal pngcairo size 1100,420 font ",10" noenhanced
set output "docs/perf/scale.png"
set datafile separator "\t"
set key autotitle columnhead left top
set logscale x
set xlabel "VMs under one agent (fc-sim)"
set grid
set xrange [7:1400]
set multiplot layout 1,3 title "bangerd with N VMs (bench/scale_bench.cc, 16 clients, 2 cores)"
set ylabel "ms (log)"
set logscale y
set title "time"
plot "docs/perf/scale.tsv" using 1:2 with linespoints title "start all", \
     "" using 1:11 with linespoints title "stop all", \
     "" using 1:10 with linespoints title "restart: reconcile, serving"
set title "GET /v1/vms (all VMs)"
plot "" using 1:6 with linespoints title "p50 idle", "" using 1:7 with linespoints title "p99 idle", \
     "" using 1:8 with linespoints title "p50 during the starts", "" using 1:9 with linespoints title "p99 during the starts", \
     "" using 1:5 with linespoints title "stats round"
set title "agent RSS"
unset logscale y
set ylabel "MiB"
plot "" using 1:4 with linespoints title "RSS, all running"
unset multiplot
GP
cat "$out"
