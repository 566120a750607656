#!/usr/bin/env bash
# The overhead benchmark, one command: real servers under wrk, WITHOUT and WITH the agent,
# alternating in one run so machine drift cancels; medians of the rounds are reported.
#
#   sudo bench/run.sh [rounds] [seconds per saturation run]     (default 3 rounds of 5 s)
#
# Workloads (the e2e peers, tests/e2e/peers): nginx static file, Go net/http, Java
# com.sun.net.httpserver, Node http, a two-hop chain (wrk -> Go A -> Go B), nginx over
# HTTP/2 (h2c) under h2load (16 connections x 10 concurrent streams), and PostgreSQL 15
# under pgbench -S (the agent traces pgbench, the client, by the server's port). The agent traces
# the servers (--pid), not wrk. Each is measured
#   off    without the agent
#   null   with the agent, spans built but exported nowhere (capture + assembly)
#   otlp   with the agent exporting OTLP/HTTP to a local receiver (tests/otlp_receiver)
# and, for nginx once more, the tracing modes (issue 17): --mode off, --mode system-only, and
# hybrid at --sampling-ratio 0.1 exporting OTLP, next to otlp (every trace: full-e2e).
# plus, for Node, the OpenTelemetry Node SDK in the process exporting to the same receiver
# (what a user would pick instead), and for the chain the agent with --no-inject (the cost of
# traceparent injection). Every run is wrk -c16 for the given seconds (saturation: req/s,
# latency under load) then wrk -c1 for 2 s (latency of a lone request).
# Then: agent memory with 10,000 idle keep-alive connections, the pipeline's events/s per
# core on recordings of the nginx HTTP/1.1 and HTTP/2 traffic (bench/pipeline_bench), and OTLP encoding
# throughput (bench/otlp_encode_bench).
# ZTRACE_BENCH_ONLY="nginx-modes go" runs only those workloads (and skips the memory and
# pipeline sections), for a quick look (bench/results/partial.*; latest.* is a whole run).
# Output: a table on stdout, bench/results/latest.{md,json,csv}. Exit status 1 when a run
# lost spans (spans exported < requests served): a fast result that loses spans is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-5}
SELECTION=()  # agent selection added to each workload's --pid list
LATENCY_SECONDS=2
CONNECTIONS=16
IDLE_CONNECTIONS=10000
REPO=$PWD
GO=${ZTRACE_BENCH_GO:-/usr/lib/go-1.21/bin/go}

bash scripts/build.sh --target ztrace otlp_receiver pipeline_bench otlp_encode_bench >/dev/null
AGENT=$REPO/build/ztrace
RECEIVER=$REPO/build/tests/e2e/otlp_receiver/otlp_receiver
[[ -x $RECEIVER ]] || RECEIVER=$(find build -name otlp_receiver -type f -perm -u+x | head -1)

work=$(mktemp -d)
chmod 755 "$work"  # nginx's workers run as nobody and must read the files
results=$work/results
mkdir -p "$results"
# Every background process of the run is in this list and is stopped on exit.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$work"/nginx.*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { echo "[bench] $*" >&2; }

# --- peers ------------------------------------------------------------------------------------
peers=build/bench-peers
mkdir -p "$peers"
GOCACHE=$REPO/$peers/gocache GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod \
  "$GO" build -o "$peers/gopeer" tests/e2e/peers/go/main.go
javac -d "$peers/java" tests/e2e/peers/java/Peer.java
if [[ ! -d bench/peers/node_modules/@opentelemetry/sdk-node ]]; then
  log "installing the OpenTelemetry Node SDK (npm, versions pinned in bench/peers/package.json)"
  (cd bench/peers && npm install --no-package-lock --no-audit --no-fund --loglevel=error >&2)
fi

# Ports handed out in order; a busy one is skipped (a server that cannot bind would leave its
# port to whatever holds it, and the run would measure that instead).
port=18600
next_port() {  # → sets port
  port=$((port + 1))
  while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
}

wait_port() {  # port: until something accepts on 127.0.0.1:port (10 s)
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    sleep 0.1
  done
  log "nothing listens on port $1"
  return 1
}

start_nginx() {  # port [listen options] → sets server_pid
  mkdir -p "$work/html" "$work/logs" "$work/tmp"
  head -c 612 /dev/zero | tr '\0' 'x' >"$work/html/index.html"
  cat >"$work/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $work/nginx.$1.pid;
error_log $work/logs/error.log;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server { listen 127.0.0.1:$1 backlog=4096 ${2:-}; root $work/html; }
}
CONF
  nginx -c "$work/nginx.conf" -p "$work"
  wait_port "$1"
  # A pid file per instance: a stopping nginx removes its own file late (10,000 connections).
  server_pid=$(cat "$work/nginx.$1.pid")
}

start_bg() {  # command... → sets bg_pid
  "$@" >>"$work/peers.log" 2>&1 &
  bg_pid=$!
  pids+=("$bg_pid")
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# --- measurement ------------------------------------------------------------------------------

# wrk → "requests_per_s p50_us p99_us requests". Any answer but 2xx/3xx, or a socket error,
# stops the benchmark: a server that fails fast is not a fast server.
run_wrk() {  # connections seconds url
  wrk -t1 -c"$1" -d"$2"s --latency "$3" >"$work/wrk.out"
  if grep -q "Non-2xx\|Socket errors" "$work/wrk.out"; then
    log "wrk against $3 saw failures:"
    cat "$work/wrk.out" >&2
    exit 1
  fi
  awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)}
    /requests in/ {n=$1}
    END {printf "%s %s %s %s\n", rps, p50, p99, n}' "$work/wrk.out"
}

# h2load (HTTP/2, prior knowledge) → the same fields; it reports no percentiles, so p50 is the
# mean and p99 "nan". Failed or errored requests stop the benchmark as with wrk.
run_h2load() {  # connections seconds url
  local streams=10
  [[ $1 == 1 ]] && streams=1
  h2load -t1 -c"$1" -m"$streams" -D"$2" "$3" >"$work/h2load.out"
  if ! grep -q " 0 failed, 0 errored" "$work/h2load.out"; then
    log "h2load against $3 saw failures:"
    cat "$work/h2load.out" >&2
    exit 1
  fi
  awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
    /^finished in/ {rps=$4}
    /^requests:/ {n=$8}
    /^time for request:/ {mean=us($6)}
    END {printf "%s %s nan %s\n", rps, mean, n}' "$work/h2load.out"
}

# pgbench -S (one indexed SELECT per transaction) against the PostgreSQL on port `url` →
# the same fields (p50: the mean latency; p99 nan). Failed transactions stop the benchmark.
run_pgbench() {  # connections seconds port [query mode]
  pgbench -h 127.0.0.1 -p "$3" -U postgres -n -S -M "${4:-prepared}" -c "$1" -j 1 -T "$2" \
    postgres >"$work/pgbench.out" 2>&1
  if ! grep -q "number of failed transactions: 0 " "$work/pgbench.out"; then
    log "pgbench against port $3 saw failures:"
    cat "$work/pgbench.out" >&2
    exit 1
  fi
  awk '
    /^tps = / {tps=$3}
    /^latency average/ {mean=$4*1000}
    /actually processed/ {n=$NF}
    END {printf "%s %s nan %s\n", tps, mean, n}' "$work/pgbench.out"
}

run_load() {  # connections seconds url: h2load for the HTTP/2 workloads, else wrk
  case $LOAD_TOOL in
    h2load) run_h2load "$@" ;;
    pgbench) run_pgbench "$@" ;;
    *) run_wrk "$@" ;;
  esac
}
LOAD_TOOL=wrk

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

start_receiver() {  # → sets receiver_pid, receiver_port
  : >"$work/receiver.log"
  "$RECEIVER" --http-port auto --discard 2>"$work/receiver.log" &
  receiver_pid=$!
  pids+=("$receiver_pid")
  until grep -q "HTTP on" "$work/receiver.log"; do sleep 0.05; done
  receiver_port=$(grep -o 'HTTP on 127.0.0.1:[0-9]*' "$work/receiver.log" | cut -d: -f2)
}

stop_receiver() {  # → sets receiver_spans (what it accepted)
  stop_pid "$receiver_pid"
  receiver_spans=$(grep -o 'spans accepted=[0-9]*' "$work/receiver.log" | cut -d= -f2)
}

start_agent() {  # args... → sets agent_pid
  : >"$work/agent.log"
  "$AGENT" run --no-console --stats-interval 0 "$@" 2>"$work/agent.log" &
  agent_pid=$!
  pids+=("$agent_pid")
  until grep -q "ready" "$work/agent.log"; do
    kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; return 1; }
    sleep 0.05
  done
}

stop_agent() {  # → sets agent_spans (built) and agent_drops (events dropped, counted)
  kill -INT "$agent_pid"
  wait "$agent_pid" || true
  agent_spans=$(grep -o 'spans built=[0-9]*' "$work/agent.log" | tail -1 | cut -d= -f2)
  agent_drops=$(grep -o 'kernel drops data=[0-9]*\|intake queue drops=[0-9]*' "$work/agent.log" |
    tail -2 | awk -F= '{s += $2} END {print s + 0}')
}

# One measured run of `url` in `mode`; appends to $results/<workload>.<mode>:
# "rps p50 p99 requests lone_p50 lone_p99 lone_requests agent_ticks agent_rss_kb spans drops"
measure() {  # workload mode url server_pids...
  local workload=$1 mode=$2 url=$3
  shift 3
  local selection=("${SELECTION[@]}")
  for p in "$@"; do selection+=(--pid "$p"); done
  local ticks0=0 ticks1=0 rss_kb=0 spans=0 drops=0 loaded lone
  case $mode in
    null) start_agent "${selection[@]}" ;;
    null-no-inject) start_agent "${selection[@]}" --no-inject ;;
    mode-off) start_agent "${selection[@]}" --mode off ;;
    system-only) start_agent "${selection[@]}" --mode system-only ;;
    otlp | hybrid10)
      local sampling=()
      [[ $mode == hybrid10 ]] && sampling=(--sampling-ratio 0.1)
      start_receiver
      start_agent "${selection[@]}" "${sampling[@]}" --otlp-endpoint \
        "http://127.0.0.1:$receiver_port" --otlp-protocol http/protobuf
      ;;
  esac
  [[ $mode == off || $mode == sdk ]] || ticks0=$(cpu_ticks "$agent_pid")
  loaded=$(run_load $CONNECTIONS "$SECONDS_PER_RUN" "$url")
  lone=$(run_load 1 $LATENCY_SECONDS "$url")
  case $mode in
    off) ;;
    sdk) ;;  # spans counted when the SDK's process stops
    *)
      ticks1=$(cpu_ticks "$agent_pid")
      rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$agent_pid/status")
      stop_agent
      spans=$agent_spans
      drops=$agent_drops
      if [[ $mode == otlp || $mode == hybrid10 ]]; then
        stop_receiver
        spans=$receiver_spans
      fi
      ;;
  esac
  echo "$loaded $(echo "$lone" | cut -d' ' -f2-4) $((ticks1 - ticks0)) $rss_kb $spans $drops" \
    >>"$results/$workload.$mode"
  log "$workload $mode: $(tail -1 "$results/$workload.$mode")"
}

# One workload: alternating rounds over its modes. $start/$stop functions manage servers.
bench_workload() {  # workload spans_per_request url modes...
  local workload=$1 per_request=$2 url=$3
  shift 3
  if [[ -n ${ZTRACE_BENCH_ONLY:-} && " $ZTRACE_BENCH_ONLY " != *" $workload "* ]]; then
    return 0
  fi
  echo "$per_request" >"$results/$workload.spans_per_request"
  for round in $(seq "$ROUNDS"); do
    for mode in "$@"; do
      if [[ $mode == sdk ]]; then
        measure_node_sdk "$url"
      else
        measure "$workload" "$mode" "$url" "${server_pids[@]}"
      fi
    done
  done
}

# --- workloads --------------------------------------------------------------------------------

# nginx: one worker; its master is selected (--pid covers the worker it forked).
next_port
start_nginx "$port"
server_pids=("$server_pid")
bench_workload nginx 1 "http://127.0.0.1:$port/index.html" off null otlp
kill "$server_pid"

# The tracing modes on the same nginx workload, with their own no-agent runs.
next_port
start_nginx "$port"
server_pids=("$server_pid")
bench_workload nginx-modes 1 "http://127.0.0.1:$port/index.html" off mode-off system-only \
  hybrid10 otlp
kill "$server_pid"

next_port
start_bg "$peers/gopeer" server "$port"
wait_port "$port"
server_pids=("$bg_pid")
bench_workload go 1 "http://127.0.0.1:$port/ok/bench" off null otlp
stop_pid "$bg_pid"

next_port
# nodelay: the JDK server writes headers and body separately; with Nagle on, keep-alive
# clients wait out the delayed ACK (40 ms per request). Every production setup turns it off.
start_bg java -Dsun.net.httpserver.nodelay=true -cp "$peers/java" Peer server "$port"
wait_port "$port"
server_pids=("$bg_pid")
# The JIT warms up for a few seconds: a first unmeasured load.
run_wrk $CONNECTIONS 10 "http://127.0.0.1:$port/ok/bench" >/dev/null
bench_workload java 1 "http://127.0.0.1:$port/ok/bench" off null otlp
stop_pid "$bg_pid"

# Node, and the same peer with the OpenTelemetry SDK preloaded (started per run, since the
# SDK's spans are counted when it flushes at exit).
next_port
node_port=$port
start_bg node tests/e2e/peers/node/peer.js server "$node_port"
wait_port "$node_port"
node_pid=$bg_pid
measure_node_sdk() {  # url (of the plain peer; the SDK peer gets its own port)
  next_port
  local sdk_port=$port
  start_receiver
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$receiver_port/v1/traces" \
    OTEL_BSP_MAX_QUEUE_SIZE=65536 OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none \
    start_bg node -r "$REPO/bench/peers/otel_sdk.js" tests/e2e/peers/node/peer.js server "$sdk_port"
  local sdk_pid=$bg_pid
  wait_port "$sdk_port"
  local sdk_url=${1/:$node_port\//:$sdk_port/}
  local loaded lone
  loaded=$(run_wrk $CONNECTIONS "$SECONDS_PER_RUN" "$sdk_url")
  lone=$(run_wrk 1 $LATENCY_SECONDS "$sdk_url")
  stop_pid "$sdk_pid"
  stop_receiver
  echo "$loaded $(echo "$lone" | cut -d' ' -f2-4) 0 0 $receiver_spans 0" >>"$results/node.sdk"
  log "node sdk: $(tail -1 "$results/node.sdk")"
}
server_pids=("$node_pid")
bench_workload node 1 "http://127.0.0.1:$node_port/ok/bench" off null otlp sdk
stop_pid "$node_pid"

# Two hops: wrk -> Go A -> Go B; A's call to B carries the agent's traceparent. Spans per
# request: A's SERVER and CLIENT spans, B's SERVER span.
next_port
port_b=$port
start_bg "$peers/gopeer" server "$port_b"
pid_b=$bg_pid
next_port
port_a=$port
CHAIN_NEXT="http://127.0.0.1:$port_b" start_bg "$peers/gopeer" server "$port_a"
pid_a=$bg_pid
wait_port "$port_a"
wait_port "$port_b"
server_pids=("$pid_a" "$pid_b")
bench_workload chain 3 "http://127.0.0.1:$port_a/chain/bench" off null otlp null-no-inject
stop_pid "$pid_a"
stop_pid "$pid_b"

# nginx over HTTP/2 without TLS (h2c, prior knowledge): one SERVER span per stream.
next_port
start_nginx "$port" http2
server_pids=("$server_pid")
LOAD_TOOL=h2load
bench_workload nginx-h2 1 "http://127.0.0.1:$port/index.html" off null otlp
LOAD_TOOL=wrk
kill "$server_pid"

# PostgreSQL under pgbench -S: the agent traces the client's port (pgbench's CLIENT spans; the
# server's side makes none), one span per query.
start_postgres() {  # port → sets pg_pid
  mkdir -p "$work/pg"
  chown postgres "$work/pg"
  runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$work/pg/data" -U postgres \
    -A trust --no-sync >>"$work/peers.log" 2>&1
  start_bg runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres -D "$work/pg/data" \
    -c listen_addresses=127.0.0.1 -p "$1" -k "$work/pg" -c fsync=off -c max_connections=64
  pg_pid=$bg_pid
  wait_port "$1"
  pgbench -h 127.0.0.1 -p "$1" -U postgres -i -s 1 -q postgres >>"$work/peers.log" 2>&1
}
next_port
pg_port=$port
start_postgres "$pg_port"
server_pids=()
SELECTION=(--port "$pg_port")
LOAD_TOOL=pgbench
bench_workload pgbench 1 "$pg_port" off null otlp
LOAD_TOOL=wrk
SELECTION=()

if [[ -z ${ZTRACE_BENCH_ONLY:-} ]]; then
# --- memory with idle connections ----------------------------------------------------------
ulimit -n "$(ulimit -Hn)"  # the client and nginx each hold one fd per connection
next_port
start_nginx "$port"
start_agent --pid "$server_pid"
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status")
python3 bench/peers/idle_connections.py "$port" "$IDLE_CONNECTIONS" >>"$work/peers.log" 2>&1 &
idle_pid=$!
pids+=("$idle_pid")
until grep -q "idle-connections:" "$work/peers.log"; do
  kill -0 $idle_pid 2>/dev/null || { log "idle-connection client failed"; break; }
  sleep 0.2
done
sleep 3  # the pipeline has handled every event
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status")
stop_agent
stop_pid "$idle_pid"
kill "$server_pid"
answered=$(grep -o 'answered=[0-9]*' "$work/peers.log" | cut -d= -f2)
echo "${answered:-0} $rss_before $rss_idle $agent_spans" >"$results/idle"
log "idle: $(cat "$results/idle")"

# --- pipeline throughput on recorded traffic -----------------------------------------------
next_port
start_nginx "$port"
start_agent --pid "$server_pid" --record-events "$work/nginx.events"
run_wrk $CONNECTIONS 2 "http://127.0.0.1:$port/index.html" >/dev/null
stop_agent
kill "$server_pid"
build/bench/pipeline_bench "$work/nginx.events" 10 >"$results/pipeline.md"

next_port
start_nginx "$port" http2
start_agent --pid "$server_pid" --record-events "$work/nginx-h2.events"
run_h2load $CONNECTIONS 2 "http://127.0.0.1:$port/index.html" >/dev/null
stop_agent
kill "$server_pid"
build/bench/pipeline_bench "$work/nginx-h2.events" 10 >"$results/pipeline_h2.md"

start_agent --port "$pg_port" --record-events "$work/pgbench.events"
run_pgbench 1 2 "$pg_port" extended >/dev/null
stop_agent
stop_pid "$pg_pid"
build/bench/pipeline_bench "$work/pgbench.events" 10 >"$results/pipeline_pg.md"

build/bench/otlp_encode_bench 200000 >"$results/otlp.md"
else
  stop_pid "$pg_pid"
fi  # ZTRACE_BENCH_ONLY

python3 bench/summarize.py "$results" "$ROUNDS" "$SECONDS_PER_RUN" "$CONNECTIONS" \
  "$LATENCY_SECONDS"
