#!/usr/bin/env bash
# Userspace instructions per span, by stage, on recorded traffic: callgrind counts every
# instruction, so two commits compare exactly (timed runs on this VM swing by ±30%).
#
#   bench/span_cost.sh [RECORDING...]     (default: the recordings in bench/recordings/)
#
# Each recording (`ztrace run --record-events FILE`, gzip allowed) is replayed once through
# bench/pipeline_bench's OTLP row. Stages: parse (the protocol's connection parser), span
# build (its span builder), intake + reassembly + linking + hand-off (the rest of the
# pipeline), OTLP encode (serialize + request framing), batching (the export worker's rest).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "span_cost: needs valgrind" >&2; exit 2; }
bash scripts/build.sh --target pipeline_bench >/dev/null
recordings=("$@")
[[ ${#recordings[@]} -gt 0 ]] || recordings=(bench/recordings/*.events.gz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "| recording | spans | instructions per span | parse | span build | intake, reassembly, linking | OTLP encode | batching |"
echo "|---|---|---|---|---|---|---|---|"
for recording in "${recordings[@]}"; do
  name=$(basename "$recording"); name=${name%.gz}; name=${name%.events}
  events=$recording
  if [[ $recording == *.gz ]]; then
    events=$work/$name.events
    gzip -dc "$recording" >"$events"
  fi
  valgrind --tool=callgrind --callgrind-out-file="$work/$name.cg" \
    build/bench/pipeline_bench "$events" 1 otlp >"$work/$name.md" 2>"$work/$name.log"
  callgrind_annotate --inclusive=yes --threshold=100 "$work/$name.cg" >"$work/$name.txt" 2>/dev/null
  spans=$(awk -F'|' '/^\| assembly \+ OTLP/ {gsub(/ /, "", $4); print $4; exit}' "$work/$name.md")
  python3 bench/span_cost.py "$name" "${spans:-0}" "$work/$name.txt"
done
