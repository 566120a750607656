#!/usr/bin/env bash
# Installs the npm packages of the end-to-end peers (pinned in their package.json) next to
# them, with the machine's npm configuration. Idempotent: skips what is already installed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# peer folder : the package whose presence means it is installed
for peer in grpc-node:@grpc/grpc-js pg-node:pg kafka:kafkajs browser:playwright-core; do
  dir=$repo/tests/e2e/peers/${peer%%:*}
  if [[ -d $dir/node_modules/${peer#*:} ]]; then
    echo "[install-npm-peers] $dir: present"
    continue
  fi
  echo "[install-npm-peers] $dir: npm install"
  npm install --prefix "$dir" --no-package-lock --no-audit --no-fund --loglevel=error
done
