#!/usr/bin/env bash
# Kafka benchmark, one command: produce then consume MESSAGES messages with kcat against
# librdkafka's mock cluster (tests/e2e/peers/kafka/broker.c), WITHOUT and WITH the agent
# (tracing the broker's port, spans to a JSONL file), then the pipeline's cost on the recorded
# events (bench/pipeline_bench) and, when valgrind is installed, callgrind instructions per span.
# Requests of 500 messages and fetches of at most 50 kB, captured whole (--max-capture-bytes
# 65536), so that every record is read and every compressed batch inflated.
#
#   sudo bench/kafka.sh [messages] [codec]          (default 200000 messages, codec none)
#
# Output: a markdown table on stdout (bench/results/kafka-CODEC.md keeps the last one).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
CODEC=${2:-none}
REPO=$PWD
bash scripts/build.sh --target ztrace pipeline_bench -j2 >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { echo "[kafka-bench] $*" >&2; }

gcc -O2 -o "$work/broker" tests/e2e/peers/kafka/broker.c -lrdkafka
python3 -c "import sys; [print('message-%08d-' % i + 'x' * 80) for i in range($MESSAGES)]" \
  >"$work/messages.txt"

start_broker() {
  "$work/broker" 3600 bench >"$work/boot.txt" 2>/dev/null &
  broker_pid=$!
  pids+=("$broker_pid")
  for _ in $(seq 50); do [[ -s $work/boot.txt ]] && break; sleep 0.1; done
  bootstrap=$(head -1 "$work/boot.txt")
  port=${bootstrap##*:}
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# Produces and consumes MESSAGES messages; prints "produce_s consume_s".
workload() {
  local t0 t1 t2
  t0=$(date +%s.%N)
  kcat -b "$bootstrap" -P -t bench -p 0 -z "$CODEC" -X batch.num.messages=500 -l "$work/messages.txt"
  t1=$(date +%s.%N)
  local last
  last=$(kcat -b "$bootstrap" -C -t bench -p 0 -o beginning -e -q -X fetch.message.max.bytes=50000 \
    -f '%o\n' | tail -1)
  t2=$(date +%s.%N)
  [[ $last == $((MESSAGES - 1)) ]] || { log "consumed up to offset '$last' only"; exit 1; }
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
}

start_broker
read -r produce_off consume_off < <(workload)
kill "$broker_pid"

start_broker
"$REPO/build/ztrace" run --port "$port" --jsonl "$work/spans.jsonl" --no-console --max-capture-bytes 65536 \
  --record-events "$work/kafka.events" 2>"$work/agent.log" &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 300); do grep -q ready "$work/agent.log" && break; sleep 0.1; done
ticks0=$(cpu_ticks "$agent_pid")
read -r produce_on consume_on < <(workload)
sleep 2
ticks1=$(cpu_ticks "$agent_pid")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$agent_pid/status")
kill -INT "$agent_pid"
wait "$agent_pid" || true
kill "$broker_pid"
spans=$(wc -l <"$work/spans.jsonl")
requests=$(grep -o 'kafka connections=[^;]*' "$work/agent.log" | tail -1 | grep -o 'requests=[0-9]*' | cut -d= -f2)
hz=$(getconf CLK_TCK)
agent_s=$(echo "scale=3; ($ticks1 - $ticks0) / $hz" | bc)

{
  echo "$(date -u +%F), $(nproc) vCPU, kcat (librdkafka $(kcat -V 2>&1 | grep -o -m1 'librdkafka [0-9.]*' | cut -d' ' -f2 | sed -n 1p)) against the mock cluster, $MESSAGES messages of 100 B, codec $CODEC, one partition"
  echo
  echo "| phase | s without | s with | ratio (msg/s with / without) |"
  echo "|---|---|---|---|"
  echo "| produce | $produce_off | $produce_on | $(echo "scale=3; $produce_off / $produce_on" | bc) |"
  echo "| consume | $consume_off | $consume_on | $(echo "scale=3; $consume_off / $consume_on" | bc) |"
  echo
  echo "Agent: ${agent_s} CPU s for $MESSAGES messages in ${requests:-?} Kafka requests" \
       "($(echo "scale=2; $agent_s * 1000000 / $MESSAGES" | bc) µs per message," \
       "$(echo "scale=1; $agent_s * 1000000 / ${requests:-1}" | bc) µs per request), $spans spans, peak RSS $((rss / 1024)) MiB."
  echo
  echo "Agent counters: \`$(grep -o 'kafka connections=[^;]*' "$work/agent.log" | tail -1)\`"
  echo
  echo "Pipeline on the recorded events (bench/pipeline_bench, one core):"
  echo
  build/bench/pipeline_bench "$work/kafka.events" 5
  if command -v valgrind >/dev/null; then
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
      build/bench/pipeline_bench "$work/kafka.events" 1 >"$work/cg.md" 2>/dev/null
    callgrind_annotate "$work/cg.out" >"$work/cg.txt" 2>/dev/null
    ir=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$work/cg.txt")
    cg_spans=$(awk -F'|' '/^\| assembly \(/ {gsub(/ /, "", $4); print $4; exit}' "$work/cg.md")
    echo
    echo "callgrind, one pass (reading the recording included): $ir instructions," \
         "$cg_spans spans: $(echo "$ir / $cg_spans" | bc) instructions per span."
  fi
} | tee "bench/results/kafka-$CODEC.md"
