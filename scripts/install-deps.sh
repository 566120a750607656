#!/usr/bin/env bash
# Installs every Debian package ztrace needs to build, test and benchmark.
# Idempotent: when everything is present it only checks and returns.
# ZTRACE_DEPS=build installs only what building the agent needs (the Dockerfile's build
# stage); ZTRACE_DEPS=image only what the agent needs to run (scripts/image-packages.txt: the
# image's runtime stage and scripts/build-image-rootfs.sh, which so install the same set).
# bookworm-backports is enabled from the machine's own Debian source entry
# (we never write a mirror address).
set -euo pipefail

BUILD_PKGS=(
  g++ cmake ninja-build ccache pkg-config make
  clang-19 llvm-19 libbpf-dev bpftool
  libelf-dev zlib1g-dev linux-libc-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libyaml-cpp-dev catch2 libcatch2-dev
  libclang-rt-19-dev
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc opentelemetry-proto
  libcurl4-openssl-dev libcpp-httplib-dev libssl-dev openssl
  libdw-dev libzydis-dev binutils
  # the build's BPF stack check (tools/bpf_stack_budget.py)
  python3
  # The Java TLS agent (probes/java/agent): javac, jar and jni.h, and Byte Buddy, which the
  # agent also copies into each JVM it loads into
  openjdk-17-jdk-headless libbyte-buddy-java
  # Kafka record batches: gzip (zlib above), snappy, lz4, zstd
  libsnappy-dev liblz4-dev libzstd-dev
)
# Real peers the end-to-end tests and benchmarks run (PEERS.md).
PEER_PKGS=(
  curl nginx-light openjdk-17-jdk-headless wrk procps iproute2 nodejs
  # `ztrace view`: the interactive mode runs in a real terminal, the web page in a real
  # headless browser (tests/e2e/view_test.cc)
  tmux chromium
  nghttp2-client golang-google-grpc-dev
  libgrpc-java libnetty-java libperfmark-java libprotobuf-java protobuf-compiler-grpc-java-plugin
  # jars the generated gRPC Java code compiles against (tests/e2e/grpc_peers.cc); libgrpc-java
  # only recommends them
  libguava-java libgeronimo-annotation-1.3-spec-java liberror-prone-java libjsr305-java
  libopencensus-java
  # PostgreSQL server and clients (tests/e2e/postgresql_test.cc)
  postgresql-15 postgresql-client-15 libpostgresql-jdbc-java python3-psycopg2
  golang-github-lib-pq-dev
  # Go test programs and offset tables: every Go version the symbolizer is checked against.
  golang-1.19-go golang-1.21-go golang-1.22-go golang-1.23-go
  # Kafka: the mock-cluster broker (librdkafka), and clients
  librdkafka-dev kcat python3-confluent-kafka golang-github-shopify-sarama-dev
  # Kubernetes (tests/e2e/k8s_*, shared K8S notes): etcd beside a kube-apiserver built from
  # Debian's kubernetes source (scripts/build-k8s-control-plane.sh, which needs rsync and
  # Debian's newer reflect2/json-iterator: the vendored ones crash under Go >= 1.18), and the
  # chart renderer (tools/helm-render: text/template + sprig + yaml, GOPATH mode).
  etcd-server rsync golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev
  golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev golang-gopkg-yaml.v3-dev
  # the chart's values.schema.json is checked with python3-jsonschema
  python3-jsonschema python3-yaml
  # the image's root filesystem, and the agent run from it with the chart's capabilities
  # (scripts/build-image-rootfs.sh, tests/e2e/image_caps_test.cc)
  debootstrap runc
  # promtool (in Debian's prometheus package) checks /metrics (tests/e2e/request_metrics_test.cc)
  prometheus
)
IMAGE_PKGS=()
while read -r p; do IMAGE_PKGS+=("$p"); done < <(sed 's/#.*//' "$(dirname "$0")/image-packages.txt" | tr -s ' \t' '\n' | grep .)
mode=${ZTRACE_DEPS:-all}
case $mode in
  all) WANTED=("${BUILD_PKGS[@]}" "${PEER_PKGS[@]}" "${IMAGE_PKGS[@]}") ;;
  build) WANTED=("${BUILD_PKGS[@]}") ;;
  image) WANTED=("${IMAGE_PKGS[@]}") ;;
  *) echo "ZTRACE_DEPS must be all, build or image (not '$mode')" >&2; exit 1 ;;
esac
log() { echo "[install-deps] $*"; }

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh must run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${WANTED[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with a Node.js from elsewhere (NodeSource's nodejs provides it); Debian's nodejs
# needs Debian's npm package.
if [[ $mode == all ]]; then
  command -v npm >/dev/null || missing+=(npm)
  # kubectl: Debian's kubernetes-client (1.20, as the tests' API server) unless one is
  # installed (another kubectl package owns the same path).
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
fi
# A pinned package installed from bookworm itself (before the pin) is as good as missing.
pinned=$(sed -n 's/^Package: //p' "$(dirname "$0")/apt-preferences" | tr ' ' '\n' | grep -v '\*')
for p in $pinned; do
  v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || continue
  [[ -z $v || $v == *~bpo* ]] || missing+=("$p")
done
# npm packages of the end-to-end peers (pinned; after nodejs is installed).
npm_peers() { [[ $mode != all ]] || "$(dirname "$0")/install-npm-peers.sh"; }
if [[ ${#missing[@]} -eq 0 ]]; then
  log "all packages present"
  npm_peers
  exit 0
fi
log "missing: ${missing[*]}"

# Derive a bookworm-backports stanza from the machine's own Debian source file.
enable_backports() {
  local dst=/etc/apt/sources.list.d/ztrace-backports.sources
  [[ -f $dst ]] && return 0
  local src=/etc/apt/sources.list.d/debian.sources
  if [[ -f $src ]]; then
    # First stanza whose Suites line names plain 'bookworm' (not -security).
    awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm( |\n|$)/ && !/security/ {print; exit}' "$src" |
      sed -E 's/^Suites:.*/Suites: bookworm-backports/' >"$dst"
  elif [[ -f /etc/apt/sources.list ]]; then
    grep -E '^deb .* bookworm .*main' /etc/apt/sources.list | grep -v security | head -1 |
      sed -E 's/ bookworm / bookworm-backports /' >/etc/apt/sources.list.d/ztrace-backports.list
  fi
  [[ -s $dst || -s /etc/apt/sources.list.d/ztrace-backports.list ]] || {
    echo "could not derive a bookworm-backports source from this machine's apt sources" >&2
    exit 1
  }
}
enable_backports

# A deb-src stanza for plain bookworm, derived the same way, so that
# scripts/build-k8s-control-plane.sh can `apt-get source kubernetes`.
enable_deb_src() {
  local dst=/etc/apt/sources.list.d/ztrace-src.sources
  [[ -f $dst ]] && return 0
  local src=/etc/apt/sources.list.d/debian.sources
  if [[ -f $src ]]; then
    awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm( |\n|$)/ && !/security/ {print; exit}' "$src" |
      sed -E 's/^Types:.*/Types: deb-src/; s/^Suites:.*/Suites: bookworm/' >"$dst"
  elif [[ -f /etc/apt/sources.list ]]; then
    grep -E '^deb .* bookworm .*main' /etc/apt/sources.list | grep -v security | head -1 |
      sed -E 's/^deb /deb-src /' >/etc/apt/sources.list.d/ztrace-src.list
  fi
}
[[ $mode != all ]] || enable_deb_src

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
# Packages taken from backports, as families: apt alone would mix suites (backports'
# libbpf-dev pulls libelf1 0.192 while bookworm's libdw-dev wants libdw1 0.188: "held broken
# packages"), so the pin moves every member of a family to backports together.
install -m 644 "$(dirname "$0")/apt-preferences" /etc/apt/preferences.d/ztrace-backports
apt_get update -qq

# One transaction, so apt resolves every package against all the others.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! apt_get install -y --no-install-recommends "${missing[@]}" >"$out" 2>&1; then
  cat "$out" >&2
  # apt explains a conflict as " pkg : Depends: dep (= v) but w is to be installed".
  conflict=$(grep -m1 -E '^ +[^ ]+ : (Pre)?Depends|Breaks|Conflicts' "$out" | sed -E 's/^ +//' || true)
  [[ -n $conflict ]] || conflict=$(grep -m1 -E '^E: ' "$out" || echo "see apt's output above")
  echo "[install-deps] apt cannot install a consistent set: $conflict" >&2
  exit 1
fi
grep -E '^(Setting up|[0-9]+ upgraded)' "$out" | tail -1
npm_peers
log "done"
