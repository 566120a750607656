#!/usr/bin/env bash
# Checks the README's quick start as a newcomer meets it: `scripts/run.sh` (install, build,
# run on the embedded defaults) must print a SERVER span, on the console and in JSON lines,
# for a request to a real server (Python's http.server). Run as root; fails with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
port=18431
agent_pid=""
server_pid=""
cleanup() {  # a stopped process's status is not the check's
  if [[ -n $agent_pid ]]; then kill -INT "$agent_pid" 2>/dev/null || true; wait "$agent_pid" || true; fi
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() {
  echo "[quick-start] FAILED: $*" >&2
  echo "--- agent output ---" >&2
  tail -40 "$scratch/agent.out" >&2 || true
  exit 1
}

python3 -m http.server "$port" --bind 127.0.0.1 --directory "$scratch" >/dev/null 2>&1 &
server_pid=$!
bash scripts/run.sh --port "$port" --jsonl "$scratch/spans.jsonl" --stats-interval 0 \
  >"$scratch/agent.out" 2>&1 &
agent_pid=$!
for _ in $(seq 600); do  # the first run builds: wait up to 10 minutes for "ready"
  grep -q "ztrace ready" "$scratch/agent.out" 2>/dev/null && break
  kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited before it was ready"
  sleep 1
done
grep -q "ztrace ready" "$scratch/agent.out" || fail "the agent was not ready after 10 minutes"

echo hello >"$scratch/hello.txt"
curl -sf "http://127.0.0.1:$port/hello.txt" >/dev/null || fail "the server did not answer"
for _ in $(seq 50); do
  [[ -s $scratch/spans.jsonl ]] && break
  sleep 0.2
done
[[ -s $scratch/spans.jsonl ]] || fail "no span in the JSON lines output"
python3 - "$scratch/spans.jsonl" <<'EOF' || fail "the span is not the request's SERVER span"
import json, sys
spans = [json.loads(line) for line in open(sys.argv[1])]
ok = [s for s in spans if s["kind"] == "SERVER" and s["name"] == "GET"
      and s["attributes"].get("url.path") == "/hello.txt"
      and s["attributes"].get("http.response.status_code") == 200
      and len(s["trace_id"]) == 32 and len(s["span_id"]) == 16]
if len(ok) != 1:
    sys.exit(f"expected one SERVER span for GET /hello.txt, got {json.dumps(spans)}")
EOF
grep -q "/hello.txt" "$scratch/agent.out" || fail "no console line for the span"
echo "[quick-start] passed: scripts/run.sh traced GET /hello.txt"
