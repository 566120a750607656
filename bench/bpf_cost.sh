#!/usr/bin/env bash
# Kernel cost of capture: BPF run time per program run and per request, from the kernel's own
# accounting (kernel.bpf_stats_enabled: run_time_ns and run_cnt per program), while wrk drives
# nginx and the agent traces nginx.
#
#   sudo bench/bpf_cost.sh [seconds [agent flags...]]
#        (default 5 s; e.g. 5 --ring-buffer-bytes 1048576)
#
# Prints one row per agent program that ran, and the sum per request. The figures are the
# programs' own run time, without the tracepoint's entry cost. The agent's programs are those
# loaded after the run began: run it alone (the e2e lock), not beside another agent.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-5}
shift || true
[[ $(id -u) -eq 0 ]] || { echo "bpf_cost: needs root" >&2; exit 2; }
bash scripts/build.sh --target ztrace >/dev/null
source bench/nginx_agent_lib.sh

nginx_port=$(free_port 18700)
start_nginx "$nginx_port"
existing_programs=$(program_ids)
start_agent "$@"

snapshot() {  # → JSON {name: [run_time_ns, run_cnt]} of the programs the agent loaded
  bpftool prog show -j | python3 -c '
import json, sys
existing = set(sys.argv[1].split())
out = {}
for p in json.load(sys.stdin):
    if str(p["id"]) not in existing:
        name = p.get("name", str(p["id"]))
        t, c = out.get(name, (0, 0))
        out[name] = (t + p.get("run_time_ns", 0), c + p.get("run_cnt", 0))
print(json.dumps(out))' "$existing_programs"
}

sysctl -qw kernel.bpf_stats_enabled=1
before=$(snapshot)
requests=$(wrk -t1 -c16 -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$nginx_port/index.html" |
  awk '/requests in/ {print $1}')
after=$(snapshot)
sysctl -qw kernel.bpf_stats_enabled="$previous_stats"

python3 - "$before" "$after" "$requests" <<'PY'
import json, sys
before, after, requests = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
rows = []
for name, (t1, c1) in after.items():
    t0, c0 = before.get(name, (0, 0))
    runs, ns = c1 - c0, t1 - t0
    if runs > 0:
        rows.append((ns, runs, name))
rows.sort(reverse=True)
print(f"nginx under wrk -c16 for the run: {requests} requests\n")
print("| program | runs per request | ns per run | ns per request |")
print("|---|---|---|---|")
total = 0
for ns, runs, name in rows:
    total += ns
    print(f"| {name} | {runs / requests:.2f} | {ns / runs:.0f} | {ns / requests:.0f} |")
print(f"| all | | | {total / requests:.0f} |")
PY
