#!/usr/bin/env bash
# Installs the npm packages of the end-to-end peers (pinned in their package.json) next to
# them, with the machine's npm configuration. Idempotent: skips what is already installed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
for dir in "$repo"/tests/e2e/peers/grpc-node; do
  if [[ -d $dir/node_modules/@grpc/grpc-js ]]; then
    echo "[install-npm-peers] $dir: present"
    continue
  fi
  echo "[install-npm-peers] $dir: npm install"
  npm install --prefix "$dir" --no-package-lock --no-audit --no-fund --loglevel=error
done
