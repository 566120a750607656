# Sourced by scripts/fresh-host-test.sh and scripts/build-image-rootfs.sh: a clean Debian 12
# root from this machine's own apt source, with the machine's apt settings and trust anchors.

# The Debian archive this machine already uses (first bookworm stanza that is not security).
debian_mirror() {
  local src=/etc/apt/sources.list.d/debian.sources
  if [[ -f $src ]]; then
    awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |\n|$)/ && !/security/ {print; exit}' "$src" |
      sed -n 's/^URIs: *\([^ ]*\).*/\1/p' | head -1
  elif [[ -f /etc/apt/sources.list ]]; then
    grep -E '^deb .* bookworm .*main' /etc/apt/sources.list | grep -v security |
      awk '{print $2; exit}'
  fi
}

# debootstrap_root ROOT DEB_CACHE LOG: minbase bookworm into ROOT (emptied first); .deb files
# are kept in DEB_CACHE between runs.
debootstrap_root() {
  local root=$1 cache=$2 logfile=$3 mirror
  if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends debootstrap >/dev/null
  fi
  mirror=$(debian_mirror)
  [[ -n $mirror ]] || { echo "no bookworm entry in this machine's apt sources" >&2; return 1; }
  # A root left by an interrupted run may still have mounts: check before deleting anything.
  if grep -q " $root/" /proc/mounts; then
    echo "$root still has mounts; unmount them first" >&2
    return 1
  fi
  rm -rf "$root"
  mkdir -p "$root" "$cache"
  debootstrap --variant=minbase --cache-dir="$cache" --include=ca-certificates bookworm \
    "$root" "$mirror" >"$logfile" 2>&1 || {
    tail -20 "$logfile" >&2
    return 1
  }
}

# copy_apt_setup ROOT: only the Debian sources go in (ROOT is a plain Debian 12 machine), with
# the machine's apt settings (e.g. Check-Valid-Until for a snapshot archive, a proxy), name
# resolution and its own trust anchors (a TLS proxy in front of a registry, say).
copy_apt_setup() {
  local root=$1 conf
  rm -f "$root"/etc/apt/sources.list
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
  else
    grep -E '^deb .*debian' /etc/apt/sources.list >"$root/etc/apt/sources.list"
  fi
  for conf in /etc/apt/apt.conf.d/*; do
    grep -qiE 'Check-Valid-Until|Acquire::http::Proxy|Acquire::https::Proxy' "$conf" 2>/dev/null &&
      cp "$conf" "$root/etc/apt/apt.conf.d/"
  done
  cp /etc/resolv.conf /etc/hosts "$root/etc/"
  if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
  fi
}
