#!/usr/bin/env bash
# Cost of the Java TLS agent: the JDK's HttpsServer (tests/e2e/peers/java-tls/TlsPeer.java,
# /hello: 6 bytes) under wrk over TLS (HTTP/1.1 keep-alive), in alternating rounds of one run:
# no agent, the agent with --no-java-agent (syscall layer only: ciphertext, no spans) and the
# agent with the Java agent loaded into the server. Each run starts a fresh JVM (an agent
# once loaded stays in its JVM) and warms it up with wrk for WARM seconds before measuring.
# The advice and the hand-off's ioctl run in the server's threads: their cost is the JVM's
# extra CPU per request. Root needed. Usage: bench/java_tls.sh [rounds] [seconds per run]
# BUILD_DIR (default build) names the build tree whose agent runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-8}
WARM=${WARM:-4}
CONNECTIONS=8
PORT=${PORT:-24990}
BUILD_DIR=${BUILD_DIR:-build}
AGENT=$BUILD_DIR/ztrace

work=$(mktemp -d)
chmod 755 "$work"
server_pid=
cleanup() {
  [[ -n ${agent_pid:-} ]] && kill -INT "$agent_pid" 2>/dev/null
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

javac -d "$work/classes" tests/e2e/peers/java-tls/TlsPeer.java
keytool -genkeypair -alias zt -keyalg RSA -keysize 2048 -keystore "$work/ks.p12" \
  -storetype PKCS12 -storepass changeit -dname CN=127.0.0.1 -ext SAN=ip:127.0.0.1 \
  -validity 2 2>/dev/null
URL=https://127.0.0.1:$PORT/hello

start_server() {
  java -cp "$work/classes" TlsPeer server $PORT "$work/ks.p12" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.1
  done
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

hz=$(getconf CLK_TCK)
ticks() { for p in "$@"; do cat "/proc/$p/stat"; done | awk '{t += $14 + $15} END {print t}'; }
requests() { wrk -t1 -c$CONNECTIONS -d"$1"s "$URL" | awk '/requests in/ {print $1}'; }

# "requests server_ticks agent_ticks warm_up_requests"
measure() {
  local s0 a0=0 s1 a1=0 n w
  w=$(requests "$WARM")
  s0=$(ticks $server_pid)
  [[ -n ${agent_pid:-} ]] && a0=$(ticks $agent_pid)
  n=$(requests "$SECS")
  s1=$(ticks $server_pid)
  [[ -n ${agent_pid:-} ]] && a1=$(ticks $agent_pid)
  echo "$n $((s1 - s0)) $((a1 - a0)) $w"
}

with_agent() {
  "$AGENT" run --pid "$server_pid" --port $PORT --no-console --stats-interval 0 \
    --api-listen "" "$@" 2>"$work/agent.log" &
  agent_pid=$!
  until grep -q ready "$work/agent.log" 2>/dev/null; do sleep 0.1; done
  if [[ " $* " != *" --no-java-agent "* ]]; then
    until grep -q "java: .*pid $server_pid" "$work/agent.log"; do sleep 0.1; done
    grep -q "TLS agent loaded into pid $server_pid" "$work/agent.log" ||
      { cat "$work/agent.log" >&2; exit 1; }
  fi
  local line spans
  line=$(measure)
  kill -INT $agent_pid
  wait $agent_pid || true
  agent_pid=
  spans=$(grep -o 'spans built=[0-9]*' "$work/agent.log" | tail -1 | cut -d= -f2)
  echo "$line ${spans:-0}"
}

: >"$work/off.txt"; : >"$work/syscall.txt"; : >"$work/java.txt"
for round in $(seq "$ROUNDS"); do
  start_server; echo "$(measure) 0" >>"$work/off.txt"; stop_server
  start_server; with_agent --no-java-agent >>"$work/syscall.txt"; stop_server
  start_server; with_agent >>"$work/java.txt"; stop_server
  echo "round $round: off [$(tail -1 "$work/off.txt")] no-java-agent" \
    "[$(tail -1 "$work/syscall.txt")] java-agent [$(tail -1 "$work/java.txt")]" \
    "(requests server_ticks agent_ticks warm_up_requests spans)" >&2
done

python3 - "$work" "$hz" "$SECS" "$CONNECTIONS" <<'PY'
import statistics, sys
work, hz, secs, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rows(name): return [list(map(float, l.split())) for l in open(f"{work}/{name}.txt")]
def us_per_req(r, i): return r[i] / hz / r[0] * 1e6
runs = {"no agent": rows("off"), "agent --no-java-agent": rows("syscall"),
        "agent with the Java agent": rows("java")}
med = lambda rs, f: statistics.median(f(r) for r in rs)
print(f"JDK HttpsServer (HTTP/1.1 keep-alive over TLS), wrk -t1 -c{conns} {secs} s per run, "
      f"{len(runs['no agent'])} alternating rounds, medians\n")
# spans/req: the agent's spans over the requests of its whole run, warm-up included.
print("| run | req/s | server CPU µs/req | agent CPU µs/req | spans/req | throughput ratio |")
print("|---|---|---|---|---|---|")
base = med(runs["no agent"], lambda r: r[0] / secs)
for name, rs in runs.items():
    rps = med(rs, lambda r: r[0] / secs)
    print(f"| {name} | {rps:.0f} | {med(rs, lambda r: us_per_req(r, 1)):.1f} | "
          f"{med(rs, lambda r: us_per_req(r, 2)):.1f} | {med(rs, lambda r: r[4] / (r[0] + r[3])):.3f} | "
          f"{rps / base:.3f} |")
PY
