#!/usr/bin/env bash
# The pod metadata benchmark: a real kube-apiserver and etcd (the k8s tests' control plane,
# tests/e2e/k8s/control-plane.sh) holding CLUSTER_PODS Pod objects, NODE_PODS of them bound to
# this node (owned by ReplicaSets, five pods each); the agent's metadata code
# (k8s_metadata_bench: k8s::PodMetadata) watches this node's pods with the chart's RBAC as a
# service account. It measures the metadata's memory and CPU, and counts the identity's
# requests in the API server's audit log: at start, and over a steady window.
#
#   bench/k8s_metadata.sh [BUILD_DIR]      (needs build targets k8s_metadata_bench, k8s_test_tools)
#
# Env: NODE_PODS (110, the kubelet's default maximum), CLUSTER_PODS (5000), STEADY_SECONDS
# (60), ZTRACE_K8S_APISERVER_PORT (31243), ZTRACE_K8S_ETCD_PORT (31279).
# Writes bench/results/k8s-metadata.{json,md} and prints the table. The Pods need not run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
NODE_PODS=${NODE_PODS:-110}
CLUSTER_PODS=${CLUSTER_PODS:-5000}
STEADY_SECONDS=${STEADY_SECONDS:-60}
export ZTRACE_K8S_APISERVER_PORT=${ZTRACE_K8S_APISERVER_PORT:-31243}
export ZTRACE_K8S_ETCD_PORT=${ZTRACE_K8S_ETCD_PORT:-31279}
NODE=bench-node
BENCH=$BUILD/bench/k8s_metadata_bench
APISERVER=$BUILD/k8s-control-plane/kube-apiserver
for need in "$BENCH" "$APISERVER"; do
  [[ -x $need ]] || { echo "missing $need: cmake --build $BUILD --target k8s_metadata_bench k8s_test_tools" >&2; exit 1; }
done
DIR=$(mktemp -d /tmp/ztrace-k8s-bench.XXXXXX)
CP=$DIR/control-plane
log() { echo "[k8s-metadata-bench] $*" >&2; }
cleanup() { bash "$ROOT/tests/e2e/k8s/control-plane.sh" stop "$CP" || true; rm -rf "$DIR"; }
trap cleanup EXIT

# Every request at Metadata level (who, verb, URI, user agent), once answered or started.
cat >"$DIR/audit-policy.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
YAML
export ZTRACE_K8S_APISERVER_ARGS="--audit-log-path=$DIR/audit.log --audit-policy-file=$DIR/audit-policy.yaml"
bash "$ROOT/tests/e2e/k8s/control-plane.sh" start "$CP" "$APISERVER"
kc() { kubectl --kubeconfig "$CP/admin.kubeconfig" "$@"; }

# The chart's identity and rules (helm/ztrace/templates/rbac.yaml).
kc create namespace bench >/dev/null
kc apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: ServiceAccount
metadata: {name: ztrace, namespace: bench}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ztrace-bench}
rules:
  - {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
  - {apiGroups: [apps], resources: [replicasets], verbs: [get]}
  - {apiGroups: [batch], resources: [jobs], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ztrace-bench}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ztrace-bench}
subjects: [{kind: ServiceAccount, name: ztrace, namespace: bench}]
YAML

# ReplicaSets for this node's pods, then every Pod object (one POST each, as controllers do).
python3 - "$NODE_PODS" >"$DIR/replicasets.json" <<'PY'
import json, sys
n = (int(sys.argv[1]) + 4) // 5
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [{
    "apiVersion": "apps/v1", "kind": "ReplicaSet",
    "metadata": {"name": f"app-{i}-5d8f7c9b6", "namespace": "bench", "labels": {"app": f"app-{i}"}},
    "spec": {"replicas": 5, "selector": {"matchLabels": {"app": f"app-{i}"}},
             "template": {"metadata": {"labels": {"app": f"app-{i}"}},
                          "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}
    for i in range(n)]}))
PY
kc create -f "$DIR/replicasets.json" >/dev/null
kc -n bench get replicasets -o json >"$DIR/rs-created.json"
python3 - "$NODE_PODS" "$CLUSTER_PODS" "$NODE" "$DIR/rs-created.json" >"$DIR/pods.json" <<'PY'
import json, sys
node_pods, cluster_pods, node = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
uids = {rs["metadata"]["name"]: rs["metadata"]["uid"] for rs in json.load(open(sys.argv[4]))["items"]}
items = []
for i in range(cluster_pods):
    on_node = i < node_pods
    meta = {"name": f"pod-{i}", "namespace": "bench",
            "labels": {"ztrace.io/trace": "true", "app": f"app-{i // 5}"}}
    if on_node:
        rs = f"app-{i // 5}-5d8f7c9b6"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                    "uid": uids[rs], "controller": True}]
    items.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                  "spec": {"nodeName": node if on_node else f"node-{i % 45}",
                           "containers": [{"name": "app", "image": "app:1"}]}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
log "creating $CLUSTER_PODS pods ($NODE_PODS on $NODE)"
kc create -f "$DIR/pods.json" >/dev/null
[[ $(kc get pods -A --no-headers | wc -l) -eq $CLUSTER_PODS ]]

token=$(curl -sS --cacert "$CP/ca.crt" -H "Authorization: Bearer $(cat "$CP/admin.token")" \
  -H 'Content-Type: application/json' -X POST \
  -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}' \
  "https://127.0.0.1:$ZTRACE_K8S_APISERVER_PORT/api/v1/namespaces/bench/serviceaccounts/ztrace/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["token"])')
cat >"$DIR/agent.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "https://127.0.0.1:$ZTRACE_K8S_APISERVER_PORT", certificate-authority: "$CP/ca.crt"}}]
users: [{name: ztrace, user: {token: "$token"}}]
contexts: [{name: bench, context: {cluster: bench, user: ztrace}}]
current-context: bench
KC

log "metadata: sync, then $STEADY_SECONDS s steady"
"$BENCH" --kubeconfig "$DIR/agent.kubeconfig" --node "$NODE" \
  --steady-seconds "$STEADY_SECONDS" >"$DIR/bench.out"
grep '^{' "$DIR/bench.out" | tail -1 >"$DIR/result.json"  # the watcher logs to stdout too
sleep 1  # the audit log's last lines
mkdir -p "$ROOT/bench/results"
python3 - "$DIR/result.json" "$DIR/audit.log" "$NODE_PODS" "$CLUSTER_PODS" \
  "$ROOT/bench/results/k8s-metadata" <<'PY'
import json, sys, datetime, collections
result = json.load(open(sys.argv[1]))
node_pods, cluster_pods, out = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
user = "system:serviceaccount:bench:ztrace"
requests = {}
for line in open(sys.argv[2]):
    e = json.loads(line)
    if e.get("user", {}).get("username") != user:
        continue
    t = datetime.datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00"))
    requests[e["auditID"]] = (t.timestamp(), e["verb"], e.get("objectRef", {}).get("resource", ""))
start = collections.Counter()
steady = collections.Counter()
for t, verb, resource in requests.values():
    key = f"{verb} {resource}"
    if result["steady_from_unix"] <= t <= result["steady_to_unix"]:
        steady[key] += 1
    elif t < result["steady_from_unix"]:
        start[key] += 1
minutes = result["steady_seconds"] / 60
rows = [
    ("pods in the cluster / on this node / known to the agent",
     f"{cluster_pods} / {node_pods} / {result['pods_known']}"),
    ("sync (list + owners) time", f"{result['sync_ms']:.0f} ms"),
    ("RSS before start / synced / after the steady window",
     f"{result['rss_before_kb'] / 1024:.1f} / {result['rss_synced_kb'] / 1024:.1f} / "
     f"{result['rss_end_kb'] / 1024:.1f} MiB"),
    ("metadata RSS (synced - before)",
     f"{(result['rss_synced_kb'] - result['rss_before_kb']) / 1024:.1f} MiB"),
    ("CPU to sync", f"{result['cpu_sync_ms']:.0f} ms"),
    ("CPU in steady state",
     f"{result['cpu_steady_ms'] / result['steady_seconds'] / 10:.3f} % of a core "
     f"({result['cpu_steady_ms']:.0f} ms in {result['steady_seconds']} s)"),
    ("API requests at start (audit log)",
     f"{sum(start.values())}: " + ", ".join(f"{v} {k}" for k, v in sorted(start.items()))),
    ("API requests per minute in steady state",
     f"{sum(steady.values()) / minutes:.2f} ({sum(steady.values())} in "
     f"{result['steady_seconds']} s" + (": " + ", ".join(f"{v} {k}" for k, v in sorted(steady.items())) if steady else "") + ")"),
]
width = max(len(r[0]) for r in rows)
table = "\n".join(f"| {k} | {v} |" for k, v in rows)
md = ("# Pod metadata: memory, CPU and API requests (bench/k8s_metadata.sh)\n\n"
      "| measure | value |\n|---|---|\n" + table + "\n")
open(out + ".md", "w").write(md)
json.dump({"result": result, "start_requests": start, "steady_requests": steady,
           "node_pods": node_pods, "cluster_pods": cluster_pods}, open(out + ".json", "w"), indent=1)
for k, v in rows:
    print(f"{k:<{width}}  {v}")
PY
