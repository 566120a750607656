#!/usr/bin/env bash
# Cost of the Go probes: a Go server (tests/go_apps/goapp) under wrk, in alternating rounds
# of one run: no agent, the agent with --no-go-probes (syscall layer only) and the agent with
# the Go probes. The uprobes run in the server's context: their cost is the server's extra
# CPU per request; the agent's is what it parses more. Medians are printed. Two workloads:
#   https  an HTTPS server (crypto/tls probes: without them the TLS bytes give no spans)
#   calls  a plaintext server whose handler calls a second one per request (the net/http
#          probes and goroutine linking: without them the call is not linked)
#   grpc   h2load's unary gRPC calls to a grpc-go relay that calls a second grpc-go server
#          per call (the gRPC probes; the server CPU is both Go processes'). The Go binary
#          argument does not apply: the relay is tests/e2e/peers/grpc-go (Debian grpc-go).
# Root needed. Usage: bench/go_probes.sh [rounds] [seconds per run] [go binary] [https|calls|grpc]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-8}
CONNECTIONS=8
PORT=18620
bash scripts/build.sh --target ztrace go_apps >/dev/null
BIN=${3:-build/go_apps/goapp-1.23-plain}
WORKLOAD=${4:-https}
[[ -x $BIN ]] || { echo "no Go test program $BIN (build target go_apps)" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  [[ -n ${agent_pid:-} ]] && kill -INT "$agent_pid" 2>/dev/null
  [[ -n ${server_pid:-} ]] && kill "$server_pid" 2>/dev/null
  [[ -n ${callee_pid:-} ]] && kill "$callee_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if [[ $WORKLOAD == grpc ]]; then
  BIN=$work/grpc-relay
  GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0 GOCACHE=$PWD/build/gocache \
    GOPATH=$work/gopath:/usr/share/gocode /usr/lib/go-1.21/bin/go build -o "$BIN" \
    tests/e2e/peers/grpc-go/main.go
  # One gRPC message (5-byte prefix) holding Echo's Msg{data: "relay:ok:bench"}.
  python3 -c 'import sys; m = b"\x0a\x0e" + b"relay:ok:bench"; sys.stdout.buffer.write(b"\0" + len(m).to_bytes(4, "big") + m)' \
    >"$work/call.bin"
fi

# The servers start afresh for every run: connections between them opened in an earlier run
# would be ones the agent joined mid-way (never injected, HTTP/2 paths unknown).
start_servers() {
  case $WORKLOAD in
    https)
      "$BIN" server -tls $PORT >"$work/server.log" 2>&1 &
      URL=https://127.0.0.1:$PORT/ok/bench
      TITLE="Go HTTPS server"
      ;;
    calls)
      "$BIN" server $((PORT + 1)) >"$work/callee.log" 2>&1 &
      callee_pid=$!
      GOAPP_NEXT=http://127.0.0.1:$((PORT + 1)) "$BIN" server $PORT >"$work/server.log" 2>&1 &
      URL=http://127.0.0.1:$PORT/call/bench
      TITLE="Go server calling another per request"
      ;;
    grpc)
      "$BIN" server 127.0.0.1:$((PORT + 1)) >"$work/callee.log" 2>&1 &
      callee_pid=$!
      "$BIN" server 127.0.0.1:$PORT 127.0.0.1:$((PORT + 1)) >"$work/server.log" 2>&1 &
      URL=http://127.0.0.1:$PORT/ztrace.e2e.Echo/Unary
      TITLE="grpc-go relay calling a grpc-go server per call"
      ;;
    *) echo "unknown workload $WORKLOAD (https|calls|grpc)" >&2; exit 1 ;;
  esac
  server_pid=$!
  until grep -q listening "$work/server.log" 2>/dev/null; do sleep 0.1; done
  # The CPU measured: the server's, and for gRPC the callee's too (both run the probes).
  measured_pids=$server_pid
  [[ $WORKLOAD == grpc ]] && measured_pids="$server_pid $callee_pid"
  return 0
}

stop_servers() {
  kill $server_pid ${callee_pid:-} 2>/dev/null || true
  wait $server_pid ${callee_pid:-} 2>/dev/null || true
  server_pid= callee_pid=
  : >"$work/server.log"
}

hz=$(getconf CLK_TCK)
ticks() { for p in "$@"; do cat "/proc/$p/stat"; done | awk '{t += $14 + $15} END {print t}'; }

requests() {  # completed requests of one load run
  if [[ $WORKLOAD == grpc ]]; then
    h2load -t1 -c$CONNECTIONS -m4 -D$SECS -d "$work/call.bin" -H 'content-type: application/grpc' \
      -H 'te: trailers' "$URL" | awk '/^requests:/ {print $8}'
  else
    wrk -t1 -c$CONNECTIONS -d${SECS}s "$URL" | awk '/requests in/ {print $1}'
  fi
}

# "requests server_ticks agent_ticks spans"
measure() {
  local s0 a0=0 s1 a1=0 n
  s0=$(ticks $measured_pids)
  [[ -n ${agent_pid:-} ]] && a0=$(ticks $agent_pid)
  n=$(requests)
  s1=$(ticks $measured_pids)
  [[ -n ${agent_pid:-} ]] && a1=$(ticks $agent_pid)
  echo "$n $((s1 - s0)) $((a1 - a0))"
}

with_agent() {
  build/ztrace run --port $PORT --port $((PORT + 1)) --no-console --stats-interval 0 "$@" \
    2>"$work/agent.log" &
  agent_pid=$!
  until grep -q ready "$work/agent.log" 2>/dev/null; do sleep 0.1; done
  local line spans
  line=$(measure)
  kill -INT $agent_pid
  wait $agent_pid || true
  agent_pid=
  spans=$(grep -o 'spans built=[0-9]*' "$work/agent.log" | tail -1 | cut -d= -f2)
  echo "$line ${spans:-0}"
}

: >"$work/off.txt"; : >"$work/syscall.txt"; : >"$work/go.txt"
for round in $(seq "$ROUNDS"); do
  start_servers; echo "$(measure) 0" >>"$work/off.txt"; stop_servers
  start_servers; with_agent --no-go-probes >>"$work/syscall.txt"; stop_servers
  start_servers; with_agent >>"$work/go.txt"; stop_servers
  echo "round $round: off [$(tail -1 "$work/off.txt")] no-go-probes [$(tail -1 "$work/syscall.txt")]" \
    "go-probes [$(tail -1 "$work/go.txt")]  (requests server_ticks agent_ticks spans)" >&2
done

python3 - "$work" "$hz" "$SECS" "$CONNECTIONS" "$BIN" "$TITLE" <<'PY'
import statistics, sys
work, hz, secs, conns, binary, title = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
    sys.argv[5], sys.argv[6]
def rows(name): return [list(map(float, l.split())) for l in open(f"{work}/{name}.txt")]
def us_per_req(r, i): return r[i] / hz / r[0] * 1e6
runs = {"no agent": rows("off"), "agent --no-go-probes": rows("syscall"), "agent with Go probes": rows("go")}
med = lambda rs, f: statistics.median(f(r) for r in rs)
load = f"h2load -t1 -c{conns} -m4" if "grpc" in title else f"wrk -t1 -c{conns}"
print(f"{title} {binary}, {load} {secs} s per run, {len(runs['no agent'])} alternating rounds, medians\n")
print("| run | req/s | server CPU µs/req | agent CPU µs/req | spans/req |")
print("|---|---|---|---|---|")
for name, rs in runs.items():
    print(f"| {name} | {med(rs, lambda r: r[0] / secs):.0f} | {med(rs, lambda r: us_per_req(r, 1)):.1f} | "
          f"{med(rs, lambda r: us_per_req(r, 2)):.1f} | {med(rs, lambda r: r[3] / r[0]):.3f} |")
s = lambda name: med(runs[name], lambda r: us_per_req(r, 1))
a = lambda name: med(runs[name], lambda r: us_per_req(r, 2))
print(f"\nGo probes, added per request (with minus --no-go-probes): server CPU "
      f"{s('agent with Go probes') - s('agent --no-go-probes'):+.1f} µs (the uprobes), agent CPU "
      f"{a('agent with Go probes') - a('agent --no-go-probes'):+.1f} µs")
PY
