#!/usr/bin/env bash
# The README's two commands on a fresh machine: debootstrap a clean Debian 12 root from this
# machine's own apt source, then, inside it and on the host kernel, run `scripts/test.sh`
# (install, build, every test) and the quick start (`scripts/run.sh`, which must print a span
# for a request to a real server). Nothing installed on this host can leak in: the root has
# only what debootstrap and the project's own scripts put there.
#
# usage: sudo scripts/fresh-host-test.sh [ctest arguments...]
# Environment: ZTRACE_FRESH_HOST_DIR (default /var/tmp/ztrace-fresh-host) keeps the root and
# the caches of downloaded .deb files and compiler outputs between runs. The caches only save
# downloads and compilation: every package is still installed into the new root.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${ZTRACE_FRESH_HOST_DIR:-/var/tmp/ztrace-fresh-host}
root=$work/root
log() { echo "[fresh-host] $*"; }

[[ $(id -u) -eq 0 ]] || { echo "fresh-host-test.sh must run as root" >&2; exit 1; }

source "$repo/scripts/debian-root.sh"

mkdir -p "$work/cache/debootstrap" "$work/cache/apt" "$work/cache/ccache" "$work/cache/go-build"

start=$SECONDS
log "debootstrap bookworm (minbase)"
debootstrap_root "$root" "$work/cache/debootstrap" "$work/debootstrap.log"
log "root ready in $((SECONDS - start)) s"

copy_apt_setup "$root"
for npmrc in /etc/npmrc /usr/etc/npmrc; do
  [[ -f $npmrc ]] && mkdir -p "$root$(dirname "$npmrc")" && cp "$npmrc" "$root$npmrc"
done
echo "ztrace-fresh" >"$root/etc/hostname"

# The project as CI has it: tracked and untracked files, no build output.
mkdir -p "$root/src/ztrace"
git -C "$repo" ls-files -co --exclude-standard -z |
  (cd "$repo" && tar --null -T - -cf -) | tar -C "$root/src/ztrace" -xf -
[[ -d $repo/../shared ]] && cp -r "$repo/../shared" "$root/src/shared"

# Inside: a private mount namespace, so every mount below ends with this run.
inner=$(cat <<'EOF'
set -euo pipefail
root=$1
mount --bind "$root" "$root"  # "/" of a machine is a mount point (unshare -m needs one)
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
mount --bind "$2/cache/apt" "$root/var/cache/apt/archives"
mkdir -p "$root/var/cache/ztrace-ccache"
mount --bind "$2/cache/ccache" "$root/var/cache/ztrace-ccache"
# Go's build cache, as ccache for C++: the kube-apiserver of the Kubernetes tests
# (scripts/build-k8s-control-plane.sh) takes ~15 min cold on 2 cores, minutes warm. Like
# ccache it only saves compilation: the source package is still fetched and built.
mkdir -p "$root/var/cache/ztrace-gocache"
mount --bind "$2/cache/go-build" "$root/var/cache/ztrace-gocache"
shift 2
exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 CI="${CI:-}" NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  CCACHE_DIR=/var/cache/ztrace-ccache CCACHE_BASEDIR=/src CCACHE_COMPILERCHECK=content \
  GOCACHE=/var/cache/ztrace-gocache \
  bash -c 'cd /src/ztrace && bash scripts/test.sh "$@" && bash scripts/quick-start-check.sh' \
  fresh-host "$@"
EOF
)
log "inside the root: scripts/test.sh, then the quick start"
output=$work/inside.log
status=0
unshare --mount --propagation private bash -c "$inner" fresh-host "$root" "$work" "$@" 2>&1 |
  tee "$output" || status=$?
# ctest's verdict, repeated last so that it closes the log.
grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$output" | tail -1 || true
if [[ $status -ne 0 ]]; then
  log "FAILED after $((SECONDS - start)) s"
  exit "$status"
fi
log "passed in $((SECONDS - start)) s"
