#!/usr/bin/env bash
# Quick start: install, build and run the agent on this host with its embedded default
# output (a console line per span). Extra arguments go to `ztrace run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --target ztrace
exec build/ztrace run "$@"
