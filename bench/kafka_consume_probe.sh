#!/usr/bin/env bash
# Cost of the librdkafka consumer probe (bpf/rdkafka_probes.bpf.c rdkafka_poll_return) per
# poll: confluent-kafka's Consumer.poll over N messages already fetched (librdkafka's queue is
# full, so a poll is the call and the probe, no wait), without the agent, with it but without
# the librdkafka probes, and with them; the BPF run time per hit from bpf_stats
# (kernel.bpf_stats_enabled). Broker: librdkafka's mock cluster (tests/e2e/peers/kafka).
# Root needed. Usage: bench/kafka_consume_probe.sh [messages per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-20000}
ROUNDS=${2:-3}
source bench/kafka_probe_lib.sh

$PY - "$BOOTSTRAP" "$MESSAGES" <<'PYEOF'
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 20})
for i in range(int(sys.argv[2])):
    p.produce("bench", value=b"bench-value", key=b"bench-%d" % i, partition=0)
    if i % 1000 == 999:
        p.poll(0)
if p.flush(60) != 0:
    sys.exit("messages left unsent")
PYEOF

consume_run() {  # mean ns per poll() that returned a message
  $PY - "$BOOTSTRAP" "$MESSAGES" <<'PYEOF'
import sys, time
from confluent_kafka import Consumer, TopicPartition
n = int(sys.argv[2])
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "bench", "enable.auto.commit": False,
              "queued.min.messages": n + 1000})
c.assign([TopicPartition("bench", 0, 0)])
first = c.poll(30)  # the first fetch
if first is None or first.error():
    sys.exit("no first message")
time.sleep(2)  # the rest fetched into librdkafka's queue
got, start = 1, time.perf_counter_ns()
while got < n:
    m = c.poll(10)
    if m is None:
        sys.exit("timed out after %d" % got)
    got += 1
elapsed = time.perf_counter_ns() - start
c.close()
print(elapsed // (n - 1))
PYEOF
}
with_agent() {  # $1: extra agent flags; sets polled and the bpf figures
  "$AGENT" run --no-console --jsonl "$work/spans.jsonl" --log-level warn $1 &
  agent_pid=$!
  sleep 3
  sysctl -qw kernel.bpf_stats_enabled=1
  read -r c0 t0 < <(prog_stats rdkafka_poll_return || echo 0 0)
  polled=$(consume_run)
  read -r c1 t1 < <(prog_stats rdkafka_poll_return || echo 0 0)
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  kill -INT "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=
}

printf "%-6s %-16s %-20s %-16s %s\n" round "no agent ns/poll" "agent, no probes ns" "agent ns/poll" "bpf ns/hit"
for round in $(seq "$ROUNDS"); do
  base=$(consume_run)
  with_agent --no-kafka-probes
  off=$polled
  with_agent ""
  printf "%-6s %-16s %-20s %-16s %s\n" "$round" "$base" "$off" "$polled" "$(per_hit "$c0" "$c1" "$t0" "$t1")"
done
