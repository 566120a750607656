#!/usr/bin/env bash
# A real Kubernetes control plane for the k8s end-to-end tests: Debian's etcd and the
# kube-apiserver built from Debian's kubernetes source (scripts/build-k8s-control-plane.sh).
# No controller manager, scheduler or kubelet: the tests create the objects those would
# (ReplicaSets, pod bindings, container statuses) themselves.
#
#   control-plane.sh start DIR APISERVER_BIN   etcd on 25279/25280, apiserver on 25243
#   control-plane.sh stop DIR
#   control-plane.sh stop-apiserver DIR         (the tests' "API server down")
#   control-plane.sh start-apiserver DIR
#
# DIR gets the certificates, an admin kubeconfig (DIR/admin.kubeconfig: a static token in
# system:masters) and the logs. Ports: ZTRACE_K8S_APISERVER_PORT, ZTRACE_K8S_ETCD_PORT.
# ZTRACE_K8S_APISERVER_ARGS: more kube-apiserver flags (the metadata bench's audit log).
set -euo pipefail
cmd=${1:?usage: control-plane.sh start|stop|stop-apiserver|start-apiserver DIR [APISERVER]}
DIR=${2:?usage: control-plane.sh start|stop DIR [APISERVER]}
API_PORT=${ZTRACE_K8S_APISERVER_PORT:-25243}
ETCD_PORT=${ZTRACE_K8S_ETCD_PORT:-25279}
PEER_PORT=$((ETCD_PORT + 1))
log() { echo "[control-plane] $*" >&2; }

stop_pid() {
  local f=$DIR/$1.pid
  [[ -f $f ]] || return 0
  local pid
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

start_apiserver() {
  local bin
  bin=$(cat "$DIR/apiserver.path")
  local extra=()
  read -ra extra <<<"${ZTRACE_K8S_APISERVER_ARGS:-}"
  # setsid: the test's process-group kills must not take the shared control plane along.
  setsid "$bin" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --insecure-port=0 --cert-dir="$DIR/certs" \
    --tls-cert-file="$DIR/serving.crt" --tls-private-key-file="$DIR/serving.key" \
    --client-ca-file="$DIR/ca.crt" --token-auth-file="$DIR/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=true \
    --disable-admission-plugins=ServiceAccount \
    --profiling=false --logtostderr=true --v=1 "${extra[@]}" \
    >"$DIR/apiserver.log" 2>&1 </dev/null &
  echo $! >"$DIR/apiserver.pid"
  for _ in $(seq 1 600); do
    if curl -sk --max-time 2 -H "Authorization: Bearer $(cat "$DIR/admin.token")" \
      "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null | grep -qx ok; then
      log "kube-apiserver ready on 127.0.0.1:$API_PORT"
      return 0
    fi
    kill -0 "$(cat "$DIR/apiserver.pid")" 2>/dev/null || { tail -30 "$DIR/apiserver.log" >&2; exit 1; }
    sleep 0.2
  done
  log "kube-apiserver not ready after 120 s"
  tail -30 "$DIR/apiserver.log" >&2
  exit 1
}

case $cmd in
  stop)
    stop_pid apiserver
    stop_pid etcd
    ;;
  stop-apiserver) stop_pid apiserver ;;
  start-apiserver) start_apiserver ;;
  start)
    APISERVER=${3:?start needs the kube-apiserver binary}
    [[ -x $APISERVER ]] || { log "no kube-apiserver at $APISERVER (scripts/build-k8s-control-plane.sh)"; exit 1; }
    command -v etcd >/dev/null || { log "no etcd (Debian's etcd-server: scripts/install-deps.sh)"; exit 1; }
    if [[ -d $DIR ]]; then "$0" stop "$DIR"; fi
    rm -rf "$DIR"
    mkdir -p "$DIR/certs"
    echo "$APISERVER" >"$DIR/apiserver.path"
    cd "$DIR"
    # A CA, the apiserver's serving certificate (127.0.0.1), the service-account key pair.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ztrace-test-ca \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout serving.key \
      -out serving.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >san.ext
    openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.ext -out serving.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >admin.token
    echo "$(cat admin.token),admin,admin,system:masters" >tokens.csv
    cat >admin.kubeconfig <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/ca.crt
users:
- name: admin
  user:
    token: $(cat admin.token)
contexts:
- name: admin
  context: {cluster: test, user: admin}
current-context: admin
KUBECONFIG
    setsid etcd --name default --data-dir "$DIR/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$PEER_PORT" \
      --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
      --initial-cluster "default=http://127.0.0.1:$PEER_PORT" \
      >"$DIR/etcd.log" 2>&1 </dev/null &
    echo $! >"$DIR/etcd.pid"
    for _ in $(seq 1 100); do
      curl -s --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" | grep -q true && break
      sleep 0.1
    done
    start_apiserver
    ;;
  *) log "unknown command $cmd"; exit 2 ;;
esac
