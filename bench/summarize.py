#!/usr/bin/env python3
"""Turns the raw runs of bench/run.sh into the README table: bench/results/latest.{md,json,csv}.

Each <workload>.<mode> file holds one line per round:
  rps p50_us p99_us requests lone_p50_us lone_p99_us lone_requests agent_ticks agent_rss_kb
  spans dropped_events
(lone_*: wrk -c1, right after the saturation run, same agent; h2load runs have the mean in
place of p50 and nan for p99). Medians over rounds.
Exit status 1 when any run exported fewer spans than the requests it served needed.
"""
import csv
import datetime
import json
import os
import platform
import statistics
import sys

results, rounds, secs, conns, lone_secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
hz = os.sysconf("SC_CLK_TCK")
WORKLOADS = [("nginx", "nginx, static 612 B"),
             ("nginx-modes", "nginx, static 612 B, by tracing mode"), ("go", "Go net/http"),
             ("java", "Java com.sun.net.httpserver"), ("node", "Node http"),
             ("chain", "chain wrk → Go A → Go B"),
             ("nginx-h2", "nginx, HTTP/2 h2c, h2load"),
             ("pgbench", "PostgreSQL 15, pgbench -S -M prepared (client traced)")]
MODES = {"null": "ztrace, no export", "mode-off": "ztrace --mode off",
         "system-only": "ztrace --mode system-only",
         "hybrid10": "ztrace hybrid 10% → OTLP/HTTP", "otlp": "ztrace → OTLP/HTTP",
         "null-no-inject": "ztrace, no export, --no-inject",
         "sdk": "OpenTelemetry Node SDK → OTLP/HTTP"}
# The share of requests whose spans a mode exports. Only full export is checked for loss; at
# 10% the spans / expected column shows the sampled share (binomial: about ±1% at 100k).
EXPORTED_SHARE = {"mode-off": 0.0, "system-only": 0.0, "hybrid10": 0.1}


def load(name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None
    return [list(map(float, line.split())) for line in open(path) if line.strip()]


def med(rows, i):
    return statistics.median(r[i] for r in rows)


rows, lost = [], []
for workload, title in WORKLOADS:
    off = load(f"{workload}.off")
    if not off:
        continue
    per_request = float(open(os.path.join(results, f"{workload}.spans_per_request")).read())
    for mode, mode_title in MODES.items():
        runs = load(f"{workload}.{mode}")
        if not runs:
            continue
        # Spans the run must have produced: every request served at saturation and alone.
        share = EXPORTED_SHARE.get(mode, 1.0)
        expected = [(r[3] + r[6]) * per_request * share for r in runs]
        spans_ratio = statistics.median(r[9] / e if e else r[9] for r, e in zip(runs, expected))
        run_lost = share == 1.0 and any(r[9] < e for r, e in zip(runs, expected))
        agent = mode != "sdk"
        row = {
            "workload": title, "mode": mode_title,
            "rps_without": med(off, 0), "rps_with": med(runs, 0),
            "rps_ratio": med(runs, 0) / med(off, 0),
            "p50_added_us": med(runs, 1) - med(off, 1),
            "p99_added_us": med(runs, 2) - med(off, 2),
            "lone_p50_added_us": med(runs, 4) - med(off, 4),
            "lone_p99_added_us": med(runs, 5) - med(off, 5),
            "agent_cpu_s_per_10k_req": statistics.median(
                r[7] / hz / (r[3] + r[6]) * 10000 for r in runs) if agent else None,
            "agent_peak_rss_mib": med(runs, 8) / 1024 if agent else None,
            "spans_per_expected": spans_ratio,
            "events_dropped": med(runs, 10),
            "spans_lost": run_lost,
        }
        for key in ("p99_added_us", "lone_p99_added_us"):  # h2load has no percentiles
            if row[key] != row[key]:
                row[key] = None
        rows.append(row)
        if run_lost:
            lost.append(f"{title} / {mode_title}")

idle = load("idle")


def section(name):  # absent in a ZTRACE_BENCH_ONLY run
    path = os.path.join(results, name)
    return open(path).read().strip() if os.path.exists(path) else "(not run)"


pipeline_md = section("pipeline.md")
pipeline_h2_md = section("pipeline_h2.md")
pipeline_pg_md = section("pipeline_pg.md")
otlp_md = section("otlp.md")

meta = {"date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} vCPU, Linux {platform.release()}",
        "rounds": rounds, "seconds_per_run": secs, "connections": conns,
        "lone_seconds": lone_secs}


def fmt(value, spec, unit=""):
    return "n/a" if value is None or value != value else f"{value:{spec}}{unit}"


hdr = ("| workload | with | req/s without | req/s with | ratio | p50 added | p99 added "
       "| lone p50 added | agent CPU / 10k req | agent peak RSS | spans / expected | events dropped |")
lines = [hdr, "|" + "---|" * 12]
for r in rows:
    lines.append(
        f"| {r['workload']} | {r['mode']} | {r['rps_without']:.0f} | {r['rps_with']:.0f} | "
        f"{r['rps_ratio']:.3f} | {r['p50_added_us']:.0f} µs | {fmt(r['p99_added_us'], '.0f', ' µs')} | "
        f"{r['lone_p50_added_us']:.0f} µs | {fmt(r['agent_cpu_s_per_10k_req'], '.3f', ' s')} | "
        f"{fmt(r['agent_peak_rss_mib'], '.0f', ' MiB')} | "
        f"{r['spans_per_expected']:.4f}{' LOST' if r['spans_lost'] else ''} | "
        f"{r['events_dropped']:.0f} |")
idle_line = ""
if idle:
    n, before_kb, after_kb, _ = idle[0]
    idle_line = (f"Agent RSS with {n:.0f} idle keep-alive connections to a traced nginx: "
                 f"{after_kb / 1024:.0f} MiB ({before_kb / 1024:.0f} MiB before they opened).")
table = "\n".join([
    f"{meta['date']}, {meta['machine']}, {rounds} alternating rounds; each run wrk -t1 "
    f"-c{conns} for {secs} s (saturation), then -c1 for {lone_secs} s (lone p50); medians. "
    f"HTTP/2: h2load -c{conns} -m10, then -c1 -m1; its p50 is the mean (no percentiles).",
    "", *lines, "", idle_line, "",
    "Pipeline on recorded nginx traffic (bench/pipeline_bench, one core):", "", pipeline_md, "",
    "The same on recorded nginx HTTP/2 (h2c) traffic:", "", pipeline_h2_md, "",
    "The same on recorded pgbench -S -M extended traffic (a Parse per query):", "",
    pipeline_pg_md, "",
    "OTLP export (bench/otlp_encode_bench):", "", otlp_md, ""])

out = "bench/results"
os.makedirs(out, exist_ok=True)
name = "partial" if os.environ.get("ZTRACE_BENCH_ONLY") else "latest"  # a quick run: not the table
open(f"{out}/{name}.md", "w").write(table)
json.dump({"meta": meta, "rows": rows,
           "idle": dict(zip(["connections", "rss_before_kb", "rss_kb", "spans"], idle[0]))
           if idle else None}, open(f"{out}/{name}.json", "w"), indent=2)
with open(f"{out}/{name}.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["workload"])
    writer.writeheader()
    writer.writerows(rows)
print(table)
if lost:
    print("FAILED: spans lost in: " + "; ".join(lost), file=sys.stderr)
    sys.exit(1)
