#!/usr/bin/env python3
"""The benchmark gate's judge: reads the JSON the benchmarks wrote (--json=)
into one directory and checks ratios measured within that one run against
floors. A ratio compares banger with something the same run measured on the
same machine (an iptables exec, a CNI plugin, `ps`, a plain GET /v1/info, the
VMM's own part of a start), so a machine twice as slow moves both sides; an
absolute figure is printed, never gated.

Each floor is set well below what the ratio reads today (PERFORMANCE.md) so
noise does not trip it, and above a tenth of it, so a 10x regression of the
banger side always does.

    bench_check.py DIR        exit 0: every ratio at or above its floor
                              exit 1: one or more below (listed), or a
                                      benchmark's file missing
"""
import json
import os
import sys


def load(d, name):
    path = os.path.join(d, name + ".json")
    with open(path) as f:
        return json.load(f)["figures"]


def row(rows, present):
    return next(r for r in rows if r["present"] == present)


# name, what it says, floor, today (PERFORMANCE.md), how it is computed
def checks(d):
    net = load(d, "network")
    fewest, most = net["rows"][0], net["rows"][-1]
    life = load(d, "lifecycle")
    stats = load(d, "stats")
    scale = load(d, "scale")
    out = [
        ("network: banger vs iptables, %d VM" % fewest["present"],
         "iptables add+delete (3 execs each) / banger prepare+cleanup", 25,
         fewest["vs_iptables"],
         "%.2f+%.2f ms vs %.3f+%.3f ms" % (fewest["iptables_add_ms"], fewest["iptables_del_ms"],
                                          fewest["prepare_ms"], fewest["cleanup_ms"])),
        ("network: banger vs iptables, %d VMs" % most["present"],
         "the same with that many VMs present", 40, most["vs_iptables"],
         "%.2f+%.2f ms vs %.3f+%.3f ms" % (most["iptables_add_ms"], most["iptables_del_ms"],
                                          most["prepare_ms"], most["cleanup_ms"])),
        ("network: flat in the VMs present",
         "prepare at %d VM / prepare at %d" % (fewest["present"], most["present"]), 0.33,
         fewest["prepare_ms"] / most["prepare_ms"],
         "%.3f ms vs %.3f ms" % (fewest["prepare_ms"], most["prepare_ms"])),
        ("start: the VMM's own vs the agent's",
         "ready+configure+boot / the agent's stages (median)", 1.0,
         life["start_vmm_ms"]["median"] / life["start_overhead_ms"]["median"],
         "%.2f ms vs %.2f ms" % (life["start_vmm_ms"]["median"],
                                 life["start_overhead_ms"]["median"])),
        ("stop: the VMM's own vs the agent's",
         "vmm.stop / stopping+cleanup+stopped (median)", 0.25,
         life["stop_vmm_ms"]["median"] / life["stop_overhead_ms"]["median"],
         "%.2f ms vs %.2f ms" % (life["stop_vmm_ms"]["median"],
                                 life["stop_overhead_ms"]["median"])),
        ("stats: a sample vs ps", "one `ps` exec / one sample", 300, stats["ps_vs_sample"],
         "%.0f us vs %.2f us" % (stats["ps_us"], stats["sample_us"])),
        ("stats: the tick vs its samples",
         "%d samples / a %d-VM tick (no new lines)" % (stats["vms"], stats["vms"]), 0.1,
         stats["vms"] * stats["sample_us"] / 1000 / stats["quiet_tick_ms"],
         "%.2f ms of samples vs %.2f ms" % (stats["vms"] * stats["sample_us"] / 1000,
                                            stats["quiet_tick_ms"])),
        ("list: GET /v1/vms vs GET /v1/info",
         "%d GET /v1/info / one GET /v1/vms of %d VMs (p50)" % (scale["vms"], scale["vms"]), 5,
         scale["vms"] * scale["info_p50_ms"] / scale["ls_idle_p50_ms"],
         "%.2f ms vs %.3f ms" % (scale["ls_idle_p50_ms"], scale["info_p50_ms"])),
        ("list: bangerctl vm ls vs GET /v1/info",
         "%d GET /v1/info / one `bangerctl vm ls` process (p50)" % scale["vms"], 3,
         scale["vms"] * scale["info_p50_ms"] / scale["bangerctl_ls_p50_ms"],
         "%.2f ms vs %.3f ms" % (scale["bangerctl_ls_p50_ms"], scale["info_p50_ms"])),
        ("restart: until serving vs a GET / per VMM",
         "%d VMMs' GET / one after another / the restart until serving" % scale["vms"], 1.0,
         scale["vms"] * scale["vmm_get_p50_ms"] / scale["restart_until_serving_ms"],
         "%.1f ms vs %.3f ms a VMM" % (scale["restart_until_serving_ms"],
                                       scale["vmm_get_p50_ms"])),
    ]
    if "vs_ptp" in fewest:
        out.insert(2, ("network: banger vs CNI ptp, %d VM" % fewest["present"],
                       "ptp ADD+DEL / banger prepare+cleanup", 40, fewest["vs_ptp"],
                       "%.2f+%.2f ms vs %.3f+%.3f ms" % (fewest["ptp_add_ms"],
                                                        fewest["ptp_del_ms"],
                                                        fewest["prepare_ms"],
                                                        fewest["cleanup_ms"])))
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-4])
        return 2
    try:
        results = checks(sys.argv[1])
    except (OSError, KeyError, StopIteration, ValueError, ZeroDivisionError) as e:
        print("bench-check: cannot read the benchmarks' figures in %s: %r" % (sys.argv[1], e))
        return 1
    failed = [r for r in results if not r[3] >= r[2]]
    width = max(len(r[0]) for r in results)
    print("%-*s  %9s  %7s   %s" % (width, "ratio", "measured", "floor", "from"))
    for name, _, floor, ratio, figures in results:
        mark = "ok" if ratio >= floor else "BELOW"
        print("%-*s  %8.2fx  %6.2fx   %-5s %s" % (width, name, ratio, floor, mark, figures))
    print()
    for name, what, floor, ratio, _ in results:
        print("  %s: %s" % (name, what))
    if failed:
        print("\nbench-check: %d ratio(s) below their floor: %s" %
              (len(failed), "; ".join("%s %.2fx < %.2fx" % (r[0], r[3], r[2]) for r in failed)))
        return 1
    print("\nbench-check: every ratio at or above its floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
