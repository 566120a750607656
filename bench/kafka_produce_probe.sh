#!/usr/bin/env bash
# Cost of the librdkafka produce probes (bpf/rdkafka_probes.bpf.c) per produce call: a Python
# http.server whose handler calls confluent-kafka's Producer.produce N times in one request
# (every call made by a thread serving a request: the full path, one ring buffer event each),
# and the same calls from a plain script (no request served: the probe returns after one map
# lookup). Each without the agent and with it; the BPF run time per call from bpf_stats
# (kernel.bpf_stats_enabled). Broker: librdkafka's mock cluster (tests/e2e/peers/kafka).
# Root needed. Usage: bench/kafka_produce_probe.sh [calls per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-20000}
ROUNDS=${2:-3}
PORT=31650
source bench/kafka_probe_lib.sh

plain_run() {  # mean ns per produce() from a script that serves nothing
  $PY - "$BOOTSTRAP" "$CALLS" <<'PYEOF'
import sys, time
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 5})
p.list_topics(timeout=10)
n = int(sys.argv[2])
start = time.perf_counter_ns()
for i in range(n):
    p.produce("bench", value=b"bench-value", key=b"bench-%d" % i, partition=0)
    if i % 1000 == 999:
        p.poll(0)
elapsed = time.perf_counter_ns() - start
p.flush(60)
print(elapsed // n)
PYEOF
}
served_run() {  # mean ns per produce() inside one HTTP request
  curl -sS -f "http://127.0.0.1:$PORT/many/$CALLS"
}
start_web() {
  $PY tests/e2e/peers/kafka/confluent_web.py "$PORT" "$BOOTSTRAP" bench 5 &
  web_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
}
stop_web() { kill "$web_pid"; wait "$web_pid" 2>/dev/null || true; web_pid=; }
with_agent() {  # $1: extra agent flags; sets served, plain, and the bpf figures
  "$AGENT" run --no-console --jsonl "$work/spans.jsonl" --log-level warn $1 &
  agent_pid=$!
  sleep 3
  sysctl -qw kernel.bpf_stats_enabled=1
  start_web
  read -r c0 t0 < <(prog_stats rdkafka_produce_call || echo 0 0)
  served=$(served_run)
  read -r c1 t1 < <(prog_stats rdkafka_produce_call || echo 0 0)
  plain=$(plain_run)
  read -r c2 t2 < <(prog_stats rdkafka_produce_call || echo 0 0)
  stop_web
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  kill -INT "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=
}

printf "%-6s %-7s %-12s %-18s %-14s %s\n" round path "no agent ns" "agent, no probes" "agent ns" "bpf ns/call"
for round in $(seq "$ROUNDS"); do
  start_web
  base_served=$(served_run); base_plain=$(plain_run)
  stop_web
  with_agent --no-kafka-probes
  off_served=$served; off_plain=$plain
  with_agent ""
  printf "%-6s %-7s %-12s %-18s %-14s %s\n" "$round" served "$base_served" "$off_served" "$served" \
    "$(per_hit "$c0" "$c1" "$t0" "$t1")"
  printf "%-6s %-7s %-12s %-18s %-14s %s\n" "$round" plain "$base_plain" "$off_plain" "$plain" \
    "$(per_hit "$c1" "$c2" "$t1" "$t2")"
done
