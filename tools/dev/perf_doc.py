#!/usr/bin/env python3
"""docs/PERFORMANCE.md's tables, rendered from the benchmarks' own output.

tools/dev/perf-doc.sh runs every benchmark a few times with --json=, into
docs/perf/runs/ (NAME-RUN.json, scale-VMS-RUN.json, and machine.json: when,
which commit, on what), then:

    perf_doc.py render DOC RUNS   rewrites each generated block of DOC
    perf_doc.py check DOC RUNS    exit 1 when DOC is not what render writes
                                  (a test runs this: the page cannot drift
                                  from the runs it shows)

A generated block is the lines between "<!-- perf:NAME -->" and
"<!-- perf:end -->"; NAME is one of the renderers below. A figure over
several runs is shown as the range of the runs ("0.52-0.66").
"""
import glob
import json
import os
import re
import sys


def runs(d, name):
    out = []
    for path in sorted(glob.glob(os.path.join(d, name + "-[0-9]*.json"))):
        with open(path) as f:
            out.append(json.load(f)["figures"])
    if not out:
        raise SystemExit("perf_doc: no runs of %s in %s (tools/dev/perf-doc.sh makes them)" %
                         (name, d))
    return out


def fmt(v, digits):
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def span(values, digits=2, unit=""):
    lo, hi = fmt(min(values), digits), fmt(max(values), digits)
    text = lo if lo == hi else lo + "–" + hi
    return text + (" " + unit if unit else "")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def human_ns(values):
    m = max(values)
    if m < 1e3:
        return span(values, 0, "ns")
    if m < 1e6:
        return span([v / 1e3 for v in values], 2, "µs")
    return span([v / 1e6 for v in values], 2, "ms")


def render_run(d):
    with open(os.path.join(d, "machine.json")) as f:
        m = json.load(f)
    return ["Figures from `tools/dev/perf-doc.sh` on %s, commit `%s`, %d runs of each benchmark; "
            "machine: %s, %d cores, %s GiB, kernel %s. Ranges are over the runs." %
            (m["date"], m["commit"], m["runs"], m["cpu"], m["cores"], m["memory_gib"],
             m["kernel"])]


def render_store(d):
    rs = runs(d, "store")
    rows = []
    for key, label in [("DurableUpsert", "durable upsert, 1 record"),
                       ("Batch1000Upsert", "batch upsert, 1,000 in one transaction"),
                       ("GetByName", "get by name"),
                       ("ListAll", "list all 10,000 (with each VM's figures)")]:
        rows.append([label, human_ns([r[key]["banger_ns"] for r in rs]),
                     human_ns([r[key]["sqlite_ns"] for r in rs]),
                     span([r[key]["sqlite_vs_banger"] for r in rs], 1) + "x"])
    rows.append(["open with 10,000 records (agent start)",
                 human_ns([r["OpenWith10000"]["banger_ns"] for r in rs]), "—", "—"])
    return table(["operation (10,000 records)", "banger (LMDB + msgpack)", "SQLite WAL",
                  "SQLite/banger"], rows)


def render_lifecycle(d):
    rs = runs(d, "lifecycle")

    def med(k):
        return span([r[k]["median"] for r in rs], 2, "ms")

    def p95(k):
        return span([r[k]["p95"] for r in rs], 2, "ms")

    rows = [
        ["start: agent overhead (reserve + record.starting + prepare + vmm.spawn + "
         "record.running)", med("start_overhead_ms"), p95("start_overhead_ms"), "≤ 1 ms median"],
        ["start: the VMM's own part (ready + configure + boot), for scale", med("start_vmm_ms"),
         p95("start_vmm_ms"), "—"],
        ["start as the client sees it (HTTP, stages streamed)", med("start_client_ms"),
         p95("start_client_ms"), "—"],
        ["stop: agent overhead (record.stopping + cleanup + record.stopped)",
         med("stop_overhead_ms"), p95("stop_overhead_ms"), "≤ 2 ms median"],
        ["stop: the VMM's own shutdown (vmm.stop), for scale", med("stop_vmm_ms"),
         p95("stop_vmm_ms"), "—"],
        ["start + stop, %d parallel clients, %d VMs" % (rs[0]["clients"], rs[0]["vms"]),
         span([r["start_stop_per_s"] for r in rs], 0, "VMs/s"), "—", "≥ 50 VMs/s"],
    ]
    lines = table(["measure", "median", "p95", "target"], rows)
    lines.append("")
    stage_rows = []
    for op in ("start", "stop"):
        for stage in rs[0]["stages"][op]:
            stage_rows.append([op, "`" + stage + "`",
                               span([r["stages"][op][stage] for r in rs], 3, "ms")])
    return lines + table(["operation", "stage", "median"], stage_rows)


def render_network(d):
    rs = runs(d, "network")
    rows = []
    for i, first in enumerate(rs[0]["rows"]):
        rr = [r["rows"][i] for r in rs]

        def s(k, digits=2):
            vals = [x[k] for x in rr if k in x]
            return span(vals, digits) if vals else "—"

        rows.append(["{:,}".format(first["present"]), s("prepare_ms", 3), s("hooks_ms", 3),
                     s("cleanup_ms", 3), s("iptables_add_ms", 1), s("iptables_del_ms", 1),
                     s("ptp_add_ms", 1), s("ptp_del_ms", 1), s("vs_iptables", 0) + "x",
                     (s("vs_ptp", 0) + "x") if "vs_ptp" in first else "—"])
    lines = table(["VMs present", "banger prepare (reserve + commit + prepare)",
                   "of which the hooks", "banger cleanup", "iptables add (3 execs)",
                   "iptables delete (3 execs)", "ptp ADD", "ptp DEL", "banger vs iptables",
                   "banger vs ptp"], rows)
    lines.append("")
    hook_rows = []
    for i, first in enumerate(rs[0]["rows"]):
        rr = [r["rows"][i]["hook_means"] for r in rs]
        hook_rows.append(["{:,}".format(first["present"])] +
                         [span([x[k] for x in rr], 3) for k in
                          ("tap_reserve_ms", "tap_prepare_ms", "nat_reserve_ms", "nat_prepare_ms",
                           "tap_cleanup_ms", "nat_cleanup_ms")])
    return lines + table(["VMs present", "tap reserve", "tap prepare", "nat reserve",
                          "nat prepare", "tap cleanup", "nat cleanup"], hook_rows)


def render_stats(d):
    rs = runs(d, "stats")
    vms = rs[0]["vms"]
    rows = [
        ["one VM sample (fds kept, one pread; warm), median",
         span([r["sample_us"] for r in rs], 2, "µs"), "—"],
        ["`ps -o %cpu=,rss=,vsz= -p PID`, median",
         span([r["ps_us"] / 1000 for r in rs], 1, "ms"), "—"],
        ["ps / sample", span([r["ps_vs_sample"] for r in rs], 0) + "x", "≥ 1000x"],
        ["%s-VM tick with its store transaction, no new metrics lines" % "{:,}".format(vms),
         span([r["quiet_tick_ms"] for r in rs], 2, "ms"), "≤ 10 ms"],
        ["%s-VM tick when every VM has a new Firecracker metrics line (%s bytes)" %
         ("{:,}".format(vms), "{:,}".format(rs[0]["metrics_line_bytes"])),
         span([r["line_tick_ms"] for r in rs], 2, "ms"), "—"],
    ]
    return table(["measure", "figure", "target"], rows)


def render_scale(d):
    counts = sorted({int(re.match(r"scale-(\d+)-\d+\.json", os.path.basename(p)).group(1))
                     for p in glob.glob(os.path.join(d, "scale-*-*.json"))})
    if not counts:
        raise SystemExit("perf_doc: no scale runs in %s" % d)
    rows = []
    for n in counts:
        rs = runs(d, "scale-%d" % n)

        def s(k, digits=2, unit=""):
            return span([r[k] for r in rs], digits, unit)

        rows.append(["{:,}".format(n),
                     "%s ms (%s/s)" % (s("start_all_ms", 0), s("starts_per_s", 0)),
                     s("rss_running_mib", 1, "MiB"), s("stats_round_ms", 1, "ms"),
                     "%s / %s ms" % (s("ls_idle_p50_ms"), s("ls_idle_p99_ms")),
                     s("ls_fields_p50_ms", 2, "ms"), s("bangerctl_ls_p50_ms", 1, "ms"),
                     "%s / %s ms" % (s("ls_under_load_p50_ms", 1), s("ls_under_load_p99_ms", 1)),
                     s("restart_until_serving_ms", 0, "ms"), s("stop_all_ms", 0, "ms")])
    return table(["VMs", "start all (16 clients)", "agent RSS, all running", "stats round",
                  "`GET /v1/vms` p50 / p99 idle", "with `?fields=` (vm ls's)",
                  "`bangerctl vm ls` (a process)", "`GET /v1/vms` p50 / p99 during the starts",
                  "restart until serving (re-adopt all)", "stop all"], rows)


def render_control_socket(d):
    rs = runs(d, "control_socket")
    r0 = rs[0]
    rows = [["alone", span([r["alone_p50_ms"] for r in rs], 2, "ms"),
             span([r["alone_p99_ms"] for r in rs], 2, "ms")],
            ["with %d idle and %d slow connections" % (r0["idle"], r0["slow"]),
             span([r["crowded_p50_ms"] for r in rs], 2, "ms"),
             span([r["crowded_p99_ms"] for r in rs], 2, "ms")]]
    return table(["`GET /v1/vms` (10 VMs), 200 calls", "p50", "p99"], rows)


RENDERERS = {
    "run": render_run,
    "store": render_store,
    "lifecycle": render_lifecycle,
    "network": render_network,
    "stats": render_stats,
    "scale": render_scale,
    "control_socket": render_control_socket,
}

BLOCK = re.compile(r"(<!-- perf:(\w+) -->\n)(.*?)(<!-- perf:end -->)", re.S)


def render(doc, d):
    def one(m):
        name = m.group(2)
        if name not in RENDERERS:
            raise SystemExit("perf_doc: no renderer for block '%s'" % name)
        return m.group(1) + "\n".join(RENDERERS[name](d)) + "\n" + m.group(4)
    return BLOCK.sub(one, doc)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("render", "check"):
        print("usage: perf_doc.py render|check DOC RUNS_DIR", file=sys.stderr)
        return 2
    _, mode, doc_path, d = sys.argv
    try:
        with open(doc_path) as f:
            doc = f.read()
        new = render(doc, d)
    except (OSError, KeyError, ValueError, IndexError) as e:
        print("perf_doc: cannot render %s from %s: %s (tools/dev/perf-doc.sh makes the runs)" %
              (doc_path, d, e))
        return 1
    if mode == "render":
        with open(doc_path, "w") as f:
            f.write(new)
        return 0
    if new != doc:
        print("perf_doc: %s is not what its runs in %s render; run tools/dev/perf-doc.sh "
              "(or perf_doc.py render)" % (doc_path, d))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
