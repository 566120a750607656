# Shared by bench/kafka_produce_probe.sh and bench/kafka_consume_probe.sh (sourced, from the
# repository root): a scratch dir, librdkafka's mock cluster with topic "bench" in $BOOTSTRAP,
# cleanup of the agent, a web peer and the broker on exit, and a BPF program's run figures.
BUILD_DIR=${BUILD_DIR:-build}
AGENT=$BUILD_DIR/ztrace
PY=/usr/bin/python3

work=$(mktemp -d)
cleanup() {
  [[ -n ${agent_pid:-} ]] && kill -INT "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [[ -n ${web_pid:-} ]] && kill "$web_pid" 2>/dev/null
  [[ -n ${broker_pid:-} ]] && kill "$broker_pid" 2>/dev/null
  sysctl -qw kernel.bpf_stats_enabled="${stats_before:-0}" || true
  rm -rf "$work"
}
trap cleanup EXIT
stats_before=$(sysctl -n kernel.bpf_stats_enabled)

gcc -O1 -o "$work/broker" tests/e2e/peers/kafka/broker.c -lrdkafka
"$work/broker" 900 bench >"$work/broker.out" 2>"$work/broker.err" &
broker_pid=$!
for _ in $(seq 50); do [[ -s $work/broker.out ]] && break; sleep 0.1; done
BOOTSTRAP=$(head -1 "$work/broker.out")

prog_stats() {  # "run_cnt run_time_ns" of BPF program $1
  bpftool prog show name "$1" -j 2>/dev/null |
    $PY -c 'import sys,json
try: p=json.load(sys.stdin)
except ValueError: p={}
p=p[0] if isinstance(p,list) else p
print(p.get("run_cnt",0), p.get("run_time_ns",0))'
}
# Mean ns of BPF run time per hit between two prog_stats readings: count0 count1 time0 time1.
per_hit() { echo "$(( ($2 - $1) > 0 ? ($4 - $3) / ($2 - $1) : 0 )) ($(($2 - $1)) hits)"; }
