#!/usr/bin/env bash
# Installs what is missing (as root) and builds everything into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -eq 0 ]]; then
  bash scripts/install-deps.sh
else
  echo "[build] not root: skipping package installation" >&2
fi
BUILD_DIR=${BUILD_DIR:-build}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" "$@"
