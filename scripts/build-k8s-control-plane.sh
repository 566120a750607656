#!/usr/bin/env bash
# Builds a real kube-apiserver from Debian's own `kubernetes` source package (1.20.2, its
# dependencies vendored) with Debian's Go 1.19, for the Kubernetes end-to-end tests.
#
#   scripts/build-k8s-control-plane.sh OUT_DIR
#
# Leaves OUT_DIR/kube-apiserver. Skipped when it already exists (the build tree caches it);
# the Go build cache (GOCACHE, persisted by fresh-host-test.sh) makes a rebuild after a wiped
# build tree take minutes, not the cold ~15.
#
# Two things make this source build under Go 1.19 (worked out in the shared K8S notes):
# - the vendored modern-go/reflect2 1.0.1 and json-iterator/go 1.1.10 segfault under
#   Go >= 1.18 on the first list request, so Debian's newer copies replace them;
# - module mode fails ("updates to go.mod needed"), so the build runs in GOPATH mode with the
#   tree at $GOPATH/src/k8s.io/kubernetes.
set -euo pipefail
OUT=${1:?usage: build-k8s-control-plane.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "[k8s-control-plane] $*"; }
if [[ -x $OUT/kube-apiserver ]]; then
  log "$OUT/kube-apiserver exists"
  exit 0
fi
GO=/usr/lib/go-1.19/bin/go
for need in "$GO" /usr/bin/rsync /usr/share/gocode/src/github.com/modern-go/reflect2 \
  /usr/share/gocode/src/github.com/json-iterator/go; do
  [[ -e $need ]] || {
    echo "[k8s-control-plane] missing $need: run scripts/install-deps.sh as root" >&2
    exit 1
  }
done

WORK=$OUT/work
SRC=$WORK/gopath/src/k8s.io/kubernetes
if [[ ! -f $SRC/.unpacked ]]; then
  rm -rf "$WORK"
  mkdir -p "$WORK/dl" "$(dirname "$SRC")"
  # The deb-src entry comes from install-deps.sh; its index may not be fetched yet.
  (cd "$WORK/dl" && { apt-get source --download-only kubernetes >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get source --download-only kubernetes >/dev/null; }; })
  tar -xzf "$WORK"/dl/kubernetes_*.orig.tar.gz -C "$WORK"
  mv "$WORK"/kubernetes-1.20.2 "$SRC"
  rm -rf "$WORK/dl"
  for d in github.com/modern-go/reflect2 github.com/json-iterator/go; do
    rm -rf "$SRC/vendor/$d"
    cp -r "/usr/share/gocode/src/$d" "$SRC/vendor/$d"
    rm -rf "$SRC/vendor/$d"/*_test.go
  done
  touch "$SRC/.unpacked"
fi

export GO111MODULE=off GOPATH=$WORK/gopath GOFLAGS=${GOFLAGS:--p=2}
export PATH=/usr/lib/go-1.19/bin:$PATH
cd "$SRC"
start=$(date +%s)
if [[ ! -f .generated ]]; then
  log "make generated_files (OpenAPI code)"
  make generated_files >"$WORK/generate.log" 2>&1 || {
    tail -30 "$WORK/generate.log" >&2
    exit 1
  }
  touch .generated
fi
log "go build ./cmd/kube-apiserver"
go build -ldflags=-s -o "$OUT/kube-apiserver.tmp" ./cmd/kube-apiserver
mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
log "built in $(($(date +%s) - start)) s"
