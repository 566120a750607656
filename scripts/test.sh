#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit, fuzz (bounded) and the
# end-to-end suite against real peers (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 "$@"
