#!/usr/bin/env python3
"""Turns run.sh's results.tsv file(s) into the Markdown table of README.md (runs shown as a / b)."""
import collections, csv, sys

rows = [r for f in sys.argv[1:] for r in csv.DictReader(open(f), delimiter="\t")]
groups = collections.OrderedDict()
for r in rows:
    key = (r["lib"], r["variant"], r["threads"], r["mode"], r["load"], r["conns"])
    groups.setdefault(key, []).append(r)

def runs(rs, col, fmt):
    return " / ".join(fmt(float(r[col])) for r in rs)

k = lambda v: f"{v/1000:.1f}k"
ms = lambda v: f"{v:.2f}"
print("| library (config) | mode | load | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server cores | client cores | all cores busy | other load (cores) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (lib, var, thr, mode, load, conns), rs in groups.items():
    load_s = f"wrk c{conns}" if load == "wrk" else f"{load[4:]}/s fixed, c{conns}"
    mode_s = "immediate" if mode == "imm" else "deferred"
    errs = sum(int(float(r["errors"])) for r in rs)
    print(f"| {lib} ({var}, {thr} thr) | {mode_s} | {load_s} | {runs(rs, 'rps', k)} | {runs(rs, 'p50_ms', ms)} | "
          f"{runs(rs, 'p90_ms', ms)} | {runs(rs, 'p99_ms', ms)} | {runs(rs, 'max_ms', ms)} | {errs} | "
          f"{runs(rs, 'srv_cores', ms)} | {runs(rs, 'cli_cores', ms)} | {runs(rs, 'all_cores', ms)} | {runs(rs, 'other_cores', ms)} |")

# Condensed view: median over runs (and the range), the least disturbed half of the story.
def med(v):
    v = sorted(v); n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

print()
print("| library (config) | mode | load | runs | req/s median (min-max) | p99 ms median (min-max) | server cores median | req/s per server core |")
print("|---|---|---|---|---|---|---|---|")
for (lib, var, thr, mode, load, conns), rs in groups.items():
    load_s = f"wrk c{conns}" if load == "wrk" else f"{load[4:]}/s fixed, c{conns}"
    mode_s = "immediate" if mode == "imm" else "deferred"
    rps = [float(r["rps"]) for r in rs]; p99 = [float(r["p99_ms"]) for r in rs]
    srv = [float(r["srv_cores"]) for r in rs]
    eff = med([float(r["rps"]) / max(float(r["srv_cores"]), 0.01) for r in rs])
    print(f"| {lib} ({var}, {thr} thr) | {mode_s} | {load_s} | {len(rs)} | {k(med(rps))} ({k(min(rps))}-{k(max(rps))}) | "
          f"{med(p99):.2f} ({min(p99):.2f}-{max(p99):.2f}) | {med(srv):.2f} | {k(eff)} |")
