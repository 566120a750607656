#!/usr/bin/env bash
# The agent's image as a root filesystem, built here without a container engine: debootstrap
# a minimal Debian 12, install the runtime packages of the Dockerfile's final stage the same
# way (`ZTRACE_DEPS=image scripts/install-deps.sh`, scripts/image-packages.txt), and the agent
# at /usr/local/bin/ztrace. tests/e2e/image_caps_test.cc runs it under runc with the chart's
# capabilities and mounts: that is the test of the Dockerfile's recipe.
#
# usage: sudo scripts/build-image-rootfs.sh OUT_DIR AGENT_BINARY
# OUT_DIR/rootfs is rebuilt only when this script or the package inputs change (their hash is
# kept in OUT_DIR/rootfs.inputs); otherwise only the agent is copied in. Downloaded .deb files
# are kept in ZTRACE_DEB_CACHE (default: apt's own /var/cache/apt/archives, which
# scripts/fresh-host-test.sh keeps between CI runs).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -eq 2 ]] || { echo "usage: $0 OUT_DIR AGENT_BINARY" >&2; exit 2; }
out=$1
agent=$2
root=$out/rootfs
debs=${ZTRACE_DEB_CACHE:-/var/cache/apt/archives}
log() { echo "[image-rootfs] $*"; }

[[ $(id -u) -eq 0 ]] || { echo "build-image-rootfs.sh must run as root" >&2; exit 1; }
[[ -x $agent ]] || { echo "no agent binary at $agent" >&2; exit 1; }
source "$repo/scripts/debian-root.sh"

inputs=(scripts/build-image-rootfs.sh scripts/debian-root.sh scripts/install-deps.sh
        scripts/apt-preferences scripts/image-packages.txt)
hash=$(cd "$repo" && sha256sum "${inputs[@]}" | sha256sum | cut -d' ' -f1)
start=$SECONDS
mkdir -p "$out"
if [[ -f $out/rootfs.inputs && $(cat "$out/rootfs.inputs") == "$hash" && -x $root/bin/sh ]]; then
  log "root filesystem up to date (inputs unchanged)"
else
  rm -f "$out/rootfs.inputs"
  log "debootstrap bookworm (minbase)"
  debootstrap_root "$root" "$debs" "$out/debootstrap.log"
  copy_apt_setup "$root"
  mkdir -p "$root/tmp/ztrace-deps/scripts"
  cp "$repo"/scripts/{install-deps.sh,apt-preferences,image-packages.txt} \
    "$root/tmp/ztrace-deps/scripts/"
  log "runtime packages (scripts/image-packages.txt)"
  # A private mount namespace: the cache and /proc mounts end with it.
  unshare --mount --propagation private bash -c '
    set -e
    mount --bind "$2" "$1/var/cache/apt/archives"
    mount -t proc proc "$1/proc"
    chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      ZTRACE_DEPS=image bash /tmp/ztrace-deps/scripts/install-deps.sh' \
    image-rootfs "$root" "$debs" >"$out/packages.log" 2>&1 || {
    tail -30 "$out/packages.log" >&2
    exit 1
  }
  rm -rf "$root/tmp/ztrace-deps" "$root"/var/lib/apt/lists/*
  echo "$hash" >"$out/rootfs.inputs"
fi
install -m 755 "$agent" "$root/usr/local/bin/ztrace"
# Every library the agent links must be in the root (a package missing from the list fails
# here, not in a pod).
if missing=$(chroot "$root" /usr/bin/ldd /usr/local/bin/ztrace | grep 'not found'); then
  echo "libraries missing from the image (scripts/image-packages.txt):" >&2
  echo "$missing" >&2
  exit 1
fi
log "ready in $((SECONDS - start)) s: $root ($(du -sh --exclude=proc "$root" | cut -f1))"
