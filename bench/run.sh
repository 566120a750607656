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

: >"$work/off.txt"; : >"$work/on.txt"
for round in $(seq "$ROUNDS"); do
  run_wrk >>"$work/off.txt"
  build/ztrace run --port $PORT --no-console --stats-interval 0 2>"$work/agent.log" &
  agent_pid=$!
  until grep -q ready "$work/agent.log"; do sleep 0.1; done
  ticks0=$(cpu_ticks $agent_pid)
  line=$(run_wrk)
  ticks1=$(cpu_ticks $agent_pid)
  rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$agent_pid/status)
  kill -INT $agent_pid; wait $agent_pid; agent_pid=
  spans=$(grep -o 'spans built=[0-9]*' "$work/agent.log" | tail -1 | cut -d= -f2)
  echo "$line $((ticks1 - ticks0)) $rss_kb $spans" >>"$work/on.txt"
  echo "round $round: off [$(tail -1 "$work/off.txt")] on [$(tail -1 "$work/on.txt")]" >&2
done

python3 - "$work" "$ROUNDS" "$SECONDS_PER_RUN" "$CONNECTIONS" <<'PY'
import json, os, statistics, sys, datetime, platform
work, rounds, secs, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
off = [list(map(float, l.split())) for l in open(f"{work}/off.txt")]
on = [list(map(float, l.split())) for l in open(f"{work}/on.txt")]
med = lambda rows, i: statistics.median(r[i] for r in rows)
hz = os.sysconf("SC_CLK_TCK")
cpu_s_per_10k = statistics.median(r[4] / hz / r[3] * 10000 for r in on)
# Every request a wrk connection completes yields a server span; wrk also counts requests cut
# off at the end of the run, hence "spans/requests" slightly under 1 is expected.
span_ratio = statistics.median(r[6] / r[3] for r in on)
row = {
    "workload": f"nginx static 612 B, wrk -c{conns}",
    "rps_without": med(off, 0), "rps_with": med(on, 0),
    "rps_ratio": med(on, 0) / med(off, 0),
    "p50_added_us": med(on, 1) - med(off, 1), "p99_added_us": med(on, 2) - med(off, 2),
    "agent_cpu_s_per_10k_req": cpu_s_per_10k, "agent_peak_rss_mib": med(on, 5) / 1024,
    "spans_per_request": span_ratio,
}
meta = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} vCPU, {platform.release()}",
        "rounds": rounds, "seconds_per_run": secs}
os.makedirs("bench/results", exist_ok=True)
json.dump({"meta": meta, "rows": [row]}, open("bench/results/latest.json", "w"), indent=2)
hdr = "| workload | req/s without | req/s with | ratio | p50 added | p99 added | agent CPU / 10k req | agent peak RSS | spans / request |"
line = (f"| {row['workload']} | {row['rps_without']:.0f} | {row['rps_with']:.0f} | {row['rps_ratio']:.3f} | "
        f"{row['p50_added_us']:.0f} µs | {row['p99_added_us']:.0f} µs | {row['agent_cpu_s_per_10k_req']:.3f} s | "
        f"{row['agent_peak_rss_mib']:.0f} MiB | {row['spans_per_request']:.4f} |")
table = f"{meta['date']}, {meta['machine']}, {rounds} alternating rounds of {secs} s, medians\n\n{hdr}\n|---|---|---|---|---|---|---|---|---|\n{line}\n"
open("bench/results/latest.md", "w").write(table)
print(table)
PY

# OTLP export throughput (spans/s per core, bytes per span on the wire; loopback sinks).
bash scripts/build.sh --target otlp_encode_bench >/dev/null
build/bench/otlp_encode_bench 200000
