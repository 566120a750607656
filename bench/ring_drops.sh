#!/usr/bin/env bash
# Ring buffer size against loss and kernel cost: for each ring size, the agent traces nginx
# through bursts, and the kernel's drop counter (ztrace_kernel_drops_total{reason="data"}) and
# the BPF run time per request (kernel.bpf_stats_enabled) are read around each burst.
#
#   sudo bench/ring_drops.sh [seconds] [ring sizes in bytes...]
#        (defaults: 5; 262144 1048576 4194304 16777216)
#
# Bursts: many small requests (wrk -c64, GET of a 612-byte page) and large bodies (wrk -c64,
# POST of 256 KiB each, read and discarded by nginx: 16 KiB captured per call). Run it alone
# (the e2e lock), not beside another agent.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-5}
shift || true
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(262144 1048576 4194304 16777216)
[[ $(id -u) -eq 0 ]] || { echo "ring_drops: needs root" >&2; exit 2; }
source bench/nginx_agent_lib.sh

port=$(free_port 18750)
metrics_port=$(free_port 18790)
start_nginx "$port" 'location /upload { client_max_body_size 1m; return 200 "ok\n"; }'
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("b", 262144)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

bpf_ns() {  # total run time of the programs loaded after $existing
  bpftool prog show -j | python3 -c '
import json, sys
existing = set(sys.argv[1].split())
print(sum(p.get("run_time_ns", 0) for p in json.load(sys.stdin)
          if str(p["id"]) not in existing))' "$existing"
}
drops() {
  curl -s "http://127.0.0.1:$metrics_port/metrics" |
    awk '/^ztrace_kernel_drops_total\{reason="data"\}/ {d=$2}
         /^ztrace_intake_queue_drops_total / {q=$2}
         END {printf "%d %d\n", d, q}'
}

echo "| ring | burst | requests/s | kernel data drops | intake drops | BPF ns per request |"
echo "|---|---|---|---|---|---|"
for size in "${SIZES[@]}"; do
  existing=$(program_ids)
  start_agent --ring-buffer-bytes "$size" --metrics-listen "127.0.0.1:$metrics_port"
  for burst in small large; do
    args=(-t2 -c64 -d"${SECONDS_PER_RUN}s")
    url="http://127.0.0.1:$port/index.html"
    if [[ $burst == large ]]; then
      args+=(-s "$work/post.lua")
      url="http://127.0.0.1:$port/upload"
    fi
    sleep 0.5
    read -r d0 q0 < <(drops)
    sysctl -qw kernel.bpf_stats_enabled=1
    t0=$(bpf_ns)
    out=$(wrk "${args[@]}" "$url")
    t1=$(bpf_ns)
    sysctl -qw kernel.bpf_stats_enabled="$previous_stats"
    sleep 0.5 # the agent drains the ring
    read -r d1 q1 < <(drops)
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rate=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    echo "| $((size / 1024)) KiB | $burst | $rate | $((d1 - d0)) | $((q1 - q0)) |" \
      "$(((t1 - t0) / requests)) |"
  done
  kill "$agent_pid"
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=
done
