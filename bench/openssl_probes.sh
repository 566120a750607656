#!/usr/bin/env bash
# Cost of the OpenSSL probes: nginx over TLS (HTTP/1.1 keep-alive, a 12-byte static file)
# under wrk, in alternating rounds of one run: no agent, the agent with --no-openssl-probes
# (syscall layer only: ciphertext, no spans) and the agent with the OpenSSL probes. The
# uprobes run in the server's context: their cost is nginx's extra CPU per request (and wrk's:
# the probes sit on the host's libssl file, which wrk maps too; the BPF side returns at once
# for a process that is not selected, but the trap is paid). The BPF run time per SSL call
# comes from bpf_stats (kernel.bpf_stats_enabled) during the probed runs.
# Root needed. Usage: bench/openssl_probes.sh [rounds] [seconds per run]
# BUILD_DIR (default build) names the build tree whose agent runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-8}
CONNECTIONS=8
PORT=18640
BUILD_DIR=${BUILD_DIR:-build}
BUILD_DIR=$BUILD_DIR bash scripts/build.sh --target ztrace >/dev/null
AGENT=$BUILD_DIR/ztrace

work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  [[ -n ${agent_pid:-} ]] && kill -INT "$agent_pid" 2>/dev/null
  [[ -f $work/nginx/nginx.pid ]] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null
  sysctl -qw kernel.bpf_stats_enabled="${stats_before:-0}" || true
  rm -rf "$work"
}
trap cleanup EXIT
stats_before=$(sysctl -n kernel.bpf_stats_enabled)

root=$work/nginx
mkdir -p "$root/html/static" "$root/logs" "$root/tmp"
echo "hello nginx" >"$root/html/static/index.html"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$root/key.pem" -out "$root/cert.pem" 2>/dev/null
sed -e "s|@DIR@|$root|g" -e "s|@PORT@|$PORT|g" tests/e2e/peers/nginx/tls.conf.in >"$root/nginx.conf"
URL=https://127.0.0.1:$PORT/static/index.html

start_server() {
  nginx -e "$root/logs/error.log" -p "$root" -c "$root/nginx.conf" &
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.1
  done
  master=$(cat "$root/nginx.pid")
  measured_pids=$(pgrep -P "$master" | tr '\n' ' ')
}
stop_server() {
  kill "$(cat "$root/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}

hz=$(getconf CLK_TCK)
ticks() { for p in "$@"; do cat "/proc/$p/stat"; done | awk '{t += $14 + $15} END {print t}'; }
requests() { wrk -t1 -c$CONNECTIONS -d${SECS}s "$URL" | awk '/requests in/ {print $1}'; }

# "requests server_ticks agent_ticks"
measure() {
  local s0 a0=0 s1 a1=0 n
  s0=$(ticks $measured_pids)
  [[ -n ${agent_pid:-} ]] && a0=$(ticks $agent_pid)
  n=$(requests)
  s1=$(ticks $measured_pids)
  [[ -n ${agent_pid:-} ]] && a1=$(ticks $agent_pid)
  echo "$n $((s1 - s0)) $((a1 - a0))"
}

# bpf_stats of the OpenSSL programs: "name run_cnt run_time_ns" per program.
ssl_prog_stats() {
  bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name") in ("ssl_call_enter", "ssl_call_result"):
        print(p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))'
}

with_agent() {
  "$AGENT" run --port $PORT --pid "$master" --no-console --stats-interval 0 "$@" \
    2>"$work/agent.log" &
  agent_pid=$!
  until grep -q ready "$work/agent.log" 2>/dev/null; do sleep 0.1; done
  local line spans
  line=$(measure)
  ssl_prog_stats >>"$work/bpf.txt"
  kill -INT $agent_pid
  wait $agent_pid || true
  agent_pid=
  spans=$(grep -o 'spans built=[0-9]*' "$work/agent.log" | tail -1 | cut -d= -f2)
  echo "$line ${spans:-0}"
}

sysctl -qw kernel.bpf_stats_enabled=1
: >"$work/off.txt"; : >"$work/syscall.txt"; : >"$work/ssl.txt"; : >"$work/bpf.txt"
for round in $(seq "$ROUNDS"); do
  start_server; echo "$(measure) 0" >>"$work/off.txt"; stop_server
  start_server; with_agent --no-openssl-probes >>"$work/syscall.txt"; stop_server
  : >"$work/bpf.txt"
  start_server; with_agent >>"$work/ssl.txt"; stop_server
  echo "round $round: off [$(tail -1 "$work/off.txt")] no-openssl-probes" \
    "[$(tail -1 "$work/syscall.txt")] openssl-probes [$(tail -1 "$work/ssl.txt")]" \
    "bpf [$(tr '\n' ' ' <"$work/bpf.txt")] (requests server_ticks agent_ticks spans)" >&2
  cat "$work/bpf.txt" >>"$work/bpf_all.txt"
done

python3 - "$work" "$hz" "$SECS" "$CONNECTIONS" <<'PY'
import statistics, sys
work, hz, secs, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rows(name): return [list(map(float, l.split())) for l in open(f"{work}/{name}.txt")]
def us_per_req(r, i): return r[i] / hz / r[0] * 1e6
runs = {"no agent": rows("off"), "agent --no-openssl-probes": rows("syscall"),
        "agent with OpenSSL probes": rows("ssl")}
med = lambda rs, f: statistics.median(f(r) for r in rs)
print(f"nginx over TLS (HTTP/1.1 keep-alive), wrk -t1 -c{conns} {secs} s per run, "
      f"{len(runs['no agent'])} alternating rounds, medians\n")
print("| run | req/s | server CPU µs/req | agent CPU µs/req | spans/req |")
print("|---|---|---|---|---|")
for name, rs in runs.items():
    print(f"| {name} | {med(rs, lambda r: r[0] / secs):.0f} | {med(rs, lambda r: us_per_req(r, 1)):.1f} | "
          f"{med(rs, lambda r: us_per_req(r, 2)):.1f} | {med(rs, lambda r: r[3] / r[0]):.3f} |")
s = lambda name: med(runs[name], lambda r: us_per_req(r, 1))
a = lambda name: med(runs[name], lambda r: us_per_req(r, 2))
print(f"\nOpenSSL probes, added per request (with minus --no-openssl-probes): server CPU "
      f"{s('agent with OpenSSL probes') - s('agent --no-openssl-probes'):+.1f} µs, agent CPU "
      f"{a('agent with OpenSSL probes') - a('agent --no-openssl-probes'):+.1f} µs")
per_prog = {}
for line in open(f"{work}/bpf_all.txt"):
    name, cnt, ns = line.split()
    c, t = per_prog.get(name, (0, 0))
    per_prog[name] = (c + int(cnt), t + int(ns))
for name, (cnt, ns) in sorted(per_prog.items()):
    print(f"bpf_stats {name}: {cnt} runs, {ns / cnt if cnt else 0:.0f} ns per run")
PY
