#!/usr/bin/env bash
# Overhead benchmark: nginx (static file, HTTP/1.1 keep-alive) under wrk, WITHOUT and WITH the
# agent, alternating rounds in one run so machine drift cancels; medians reported.
# Prints a table and writes bench/results/latest.{json,md}. Root needed (the agent loads BPF).
#   bench/run.sh [rounds] [seconds per run]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-5}
CONNECTIONS=16
PORT=18590
bash scripts/build.sh --target ztrace >/dev/null

work=$(mktemp -d)
trap 'kill $(cat $work/nginx.pid 2>/dev/null) 2>/dev/null || true; [[ -n ${agent_pid:-} ]] && kill -INT $agent_pid 2>/dev/null; rm -rf $work' EXIT
mkdir -p "$work/html" "$work/logs" "$work/tmp"
head -c 612 /dev/zero | tr '\0' 'x' >"$work/html/index.html"
cat >"$work/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$PORT; root $work/html; }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.5

# wrk → "requests_per_s p50_us p99_us requests"
run_wrk() {
  wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s --latency "http://127.0.0.1:$PORT/index.html" |
    awk '
      function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
      /Requests\/sec/ {rps=$2}
      /^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)}
      /requests in/ {n=$1}
      END {printf "%s %s %s %s\n", rps, p50, p99, n}'
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

: >"$work/off.txt"; : >"$work/on.txt"; : >"$work/noinject.txt"

# One agent run under wrk: "req/s p50 p99 requests agent_ticks peak_rss_kb spans"
run_with_agent() {
  build/ztrace run --port $PORT --no-console --stats-interval 0 "$@" 2>"$work/agent.log" &
  agent_pid=$!
  until grep -q ready "$work/agent.log"; do sleep 0.1; done
  local ticks0 line ticks1 rss_kb spans
  ticks0=$(cpu_ticks $agent_pid)
  line=$(run_wrk)
  ticks1=$(cpu_ticks $agent_pid)
  rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$agent_pid/status)
  kill -INT $agent_pid; wait $agent_pid; agent_pid=
  spans=$(grep -o 'spans built=[0-9]*' "$work/agent.log" | tail -1 | cut -d= -f2)
  # Events the kernel or the intake queue had to drop (each counted by the agent).
  drops=$(grep -o 'kernel drops data=[0-9]*\|intake queue drops=[0-9]*' "$work/agent.log" |
    tail -2 | awk -F= '{s += $2} END {print s + 0}')
  echo "$line $((ticks1 - ticks0)) $rss_kb $spans $drops"
}

# Alternating: without the agent, with it (injection on: wrk's requests get a traceparent),
# with it and --no-inject (the difference is the injection path's cost).
for round in $(seq "$ROUNDS"); do
  run_wrk >>"$work/off.txt"
  run_with_agent >>"$work/on.txt"
  run_with_agent --no-inject >>"$work/noinject.txt"
  echo "round $round: off [$(tail -1 "$work/off.txt")] on [$(tail -1 "$work/on.txt")]" \
    "no-inject [$(tail -1 "$work/noinject.txt")]" >&2
done

python3 - "$work" "$ROUNDS" "$SECONDS_PER_RUN" "$CONNECTIONS" <<'PY'
import json, os, statistics, sys, datetime, platform
work, rounds, secs, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
off = [list(map(float, l.split())) for l in open(f"{work}/off.txt")]
on = [list(map(float, l.split())) for l in open(f"{work}/on.txt")]
noinject = [list(map(float, l.split())) for l in open(f"{work}/noinject.txt")]
med = lambda rows, i: statistics.median(r[i] for r in rows)
hz = os.sysconf("SC_CLK_TCK")
# Each request yields a CLIENT span (wrk) and a SERVER span (nginx): 2 spans per request.
def row_for(name, runs):
    return {
        "workload": name,
        "rps_without": med(off, 0), "rps_with": med(runs, 0),
        "rps_ratio": med(runs, 0) / med(off, 0),
        "p50_added_us": med(runs, 1) - med(off, 1), "p99_added_us": med(runs, 2) - med(off, 2),
        "agent_cpu_s_per_10k_req": statistics.median(r[4] / hz / r[3] * 10000 for r in runs),
        "agent_peak_rss_mib": med(runs, 5) / 1024,
        "spans_per_request": statistics.median(r[6] / r[3] for r in runs),
        "events_dropped": statistics.median(r[7] for r in runs),
    }
rows = [row_for(f"nginx static 612 B, wrk -c{conns}, injection on", on),
        row_for(f"same, --no-inject", noinject)]
# The injection path's cost per request: agent CPU and latency, on minus off, same run.
inject_cost = {
    "agent_cpu_us_per_req": (rows[0]["agent_cpu_s_per_10k_req"] - rows[1]["agent_cpu_s_per_10k_req"]) * 100,
    "p50_us": med(on, 1) - med(noinject, 1),
    "rps_ratio": med(on, 0) / med(noinject, 0),
}
meta = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} vCPU, {platform.release()}",
        "rounds": rounds, "seconds_per_run": secs}
os.makedirs("bench/results", exist_ok=True)
json.dump({"meta": meta, "rows": rows, "injection_cost": inject_cost},
          open("bench/results/latest.json", "w"), indent=2)
hdr = "| workload | req/s without | req/s with | ratio | p50 added | p99 added | agent CPU / 10k req | agent peak RSS | spans / request | events dropped |"
def line(r):
    return (f"| {r['workload']} | {r['rps_without']:.0f} | {r['rps_with']:.0f} | {r['rps_ratio']:.3f} | "
            f"{r['p50_added_us']:.0f} µs | {r['p99_added_us']:.0f} µs | {r['agent_cpu_s_per_10k_req']:.3f} s | "
            f"{r['agent_peak_rss_mib']:.0f} MiB | {r['spans_per_request']:.4f} | {r['events_dropped']:.0f} |")
table = (f"{meta['date']}, {meta['machine']}, {rounds} alternating rounds of {secs} s, medians\n\n{hdr}\n"
         "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(line(r) for r in rows) + "\n\n"
         f"Injection path (on minus --no-inject, same run): req/s ratio {inject_cost['rps_ratio']:.3f}, "
         f"p50 {inject_cost['p50_us']:+.0f} µs, agent CPU {inject_cost['agent_cpu_us_per_req']:+.2f} µs per request "
         "(the kernel-side cost lands in the traced processes and shows in req/s and latency).\n")
open("bench/results/latest.md", "w").write(table)
print(table)
PY

# OTLP export throughput (spans/s per core, bytes per span on the wire; loopback sinks).
bash scripts/build.sh --target otlp_encode_bench >/dev/null
build/bench/otlp_encode_bench 200000
