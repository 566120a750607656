// Kubernetes against real parts: the kube-apiserver built from Debian's kubernetes source
// with etcd (the e2e-k8s:control-plane-start fixture), the chart rendered by tools/helm-render
// and validated by the API server, the agent running with exactly the chart's service account
// (RBAC applied for real, token minted by the API server), and real Python servers in pod
// cgroups. Stand-ins, said where they are: no kubelet (the test writes the container statuses
// a kubelet would, and puts the servers in the pods' cgroups itself), no controller manager
// (the test creates the ReplicaSet a Deployment controller would), and a minimal
// ServiceMonitor CRD (the Prometheus Operator's is not packaged in Debian).

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <random>
#include <thread>

#include "tests/e2e/chain.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/k8s_support.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {

TEST_CASE("k8s: the chart renders and the real API server accepts it", "[e2e][k8s]") {
  require_control_plane();
  const auto dir = fresh_dir("k8s_chart");
  const std::string values_everything =
      (fs::path(ZTRACE_E2E_K8S_SCRIPT).parent_path() / "values-everything.yaml").string();
  // values.schema.json: helm-render does not apply it (helm would); python3-jsonschema does.
  must_run(dir, {"python3", "-c",
                 "import json,sys,yaml,jsonschema\n"
                 "s=json.load(open(sys.argv[1]))\n"
                 "for f in sys.argv[2:]: jsonschema.validate(yaml.safe_load(open(f)), s)\n",
                 (kChart / "values.schema.json").string(), (kChart / "values.yaml").string(),
                 values_everything});
  // A value of the wrong type is refused by the schema.
  write_file(dir / "bad-values.yaml", "tracing:\n  samplingRatio: lots\n");
  CommandResult bad = run_command(
      dir,
      {"python3", "-c",
       "import json,sys,yaml,jsonschema\n"
       "jsonschema.validate(yaml.safe_load(open(sys.argv[2])), json.load(open(sys.argv[1])))\n",
       (kChart / "values.schema.json").string(), (dir / "bad-values.yaml").string()});
  CHECK(bad.exit_code != 0);

  kubectl(dir, {"create", "namespace", "ztrace-chart"});
  // The ServiceMonitor kind must exist for the server to validate one: a minimal CRD stands in
  // for the Prometheus Operator's.
  apply_yaml(dir, "servicemonitor-crd.yaml", R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
)");
  must_kubectl(dir, {"wait", "--for=condition=Established", "--timeout=30s",
                     "crd/servicemonitors.monitoring.coreos.com"});

  const std::string dashboards_off = (dir / "dashboards-off.yaml").string();
  write_file(dashboards_off, "dashboards:\n  enabled: false\n");

  struct Case {
    const char* name;
    std::vector<std::string> values;
    std::vector<std::string> kinds;
  };
  const Case cases[] = {
      // ConfigMaps: the config, and the two Grafana dashboards.
      {"default values",
       {},
       {"ConfigMap", "ConfigMap", "ConfigMap", "DaemonSet", "ClusterRole", "ClusterRoleBinding",
        "Service", "ServiceAccount"}},
      {"every value set",
       {values_everything},
       {"ConfigMap", "ConfigMap", "ConfigMap", "DaemonSet", "ClusterRole", "ClusterRoleBinding",
        "Service", "ServiceAccount", "ServiceMonitor"}},
      {"dashboards off",
       {dashboards_off},
       {"ConfigMap", "DaemonSet", "ClusterRole", "ClusterRoleBinding", "Service",
        "ServiceAccount"}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string manifest = render(dir, c.values, "ztrace-chart");
    write_file(dir / "rendered.yaml", manifest);
    for (const auto& kind : c.kinds)
      CHECK(manifest.find("\nkind: " + kind + "\n") != std::string::npos);
    CommandResult r =
        kubectl(dir, {"apply", "--dry-run=server", "-f", (dir / "rendered.yaml").string()});
    INFO(r.describe);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("rror") == std::string::npos);
    // One "(server dry run)" line per object.
    CHECK(count_lines(r.out) == c.kinds.size());
    size_t dry = 0;
    for (size_t at = 0; (at = r.out.find("(server dry run)", at)) != std::string::npos; ++at) ++dry;
    CHECK(dry == c.kinds.size());
  }
  // The dashboards' ConfigMaps carry the sidecar's label and the repository's JSON unchanged.
  const std::string manifest = render(dir, {}, "ztrace-chart");
  write_file(dir / "rendered.yaml", manifest);
  must_run(dir, {"python3", "-c",
                 "import json,sys,yaml\n"
                 "maps=[d for d in yaml.safe_load_all(open(sys.argv[1])) if d and "
                 "d['metadata'].get('labels',{}).get('grafana_dashboard')=='1']\n"
                 "assert len(maps)==2, maps\n"
                 "for m in maps:\n"
                 "  for name, text in m['data'].items():\n"
                 "    assert json.loads(text)==json.load(open(sys.argv[2]+'/'+name)), name\n",
                 (dir / "rendered.yaml").string(), (kChart / "../../dashboards").string()});
  // The server refuses what it must: a DaemonSet with a field this API version lacks.
  std::string broken = manifest;
  const size_t at = broken.find("      hostPID: true");
  REQUIRE(at != std::string::npos);
  broken.insert(at, "      hostUsers: false\n");  // Kubernetes 1.25+, unknown to 1.20
  write_file(dir / "broken.yaml", broken);
  CommandResult r = kubectl(
      dir, {"apply", "--dry-run=server", "--validate=true", "-f", (dir / "broken.yaml").string()});
  CHECK(r.exit_code != 0);
}

TEST_CASE(
    "k8s: spans carry their pod's metadata, label selection follows the API server, and "
    "tracing outlives it",
    "[e2e][k8s]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  require_control_plane();
  REQUIRE(fs::exists(kUnified / "cgroup.procs"));
  const auto dir = fresh_dir("k8s_pods");

  // The chart's objects for real; the agent then runs as its service account.
  const std::string ns = "ztrace";
  std::string chart;
  const std::string token = apply_chart_and_mint_token(dir, ns, &chart);
  write_chart_config(dir, ns);
  const fs::path agent_kubeconfig = write_agent_kubeconfig(dir, token);
  // RBAC proven, not assumed: the identity can list pods and nothing it should not.
  CHECK(kubectl(dir, {"auth", "can-i", "list", "pods"}, agent_kubeconfig).out == "yes\n");
  CHECK(kubectl(dir, {"auth", "can-i", "get", "replicasets.apps"}, agent_kubeconfig).out ==
        "yes\n");
  CHECK(kubectl(dir, {"auth", "can-i", "get", "secrets"}, agent_kubeconfig).out == "no\n");
  CHECK(kubectl(dir, {"auth", "can-i", "delete", "pods"}, agent_kubeconfig).out == "no\n");

  // A Deployment → ReplicaSet → Pod chain (the ReplicaSet as its controller would make it),
  // labelled for tracing, and a standalone pod that is not (yet).
  kubectl(dir, {"create", "namespace", "shop"});
  apply_yaml(dir, "deployment.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec: {containers: [{name: app, image: "python:3.11"}]}
)");
  const std::string deployment_uid = uid_of(dir, "shop", "deployment", "shop");
  apply_yaml(dir, "replicaset.yaml",
             R"(apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: shop-5d8f7c9b6
  namespace: shop
  labels: {app: shop, pod-template-hash: 5d8f7c9b6}
  ownerReferences:
    - {apiVersion: apps/v1, kind: Deployment, name: shop, uid: )" +
                 deployment_uid +
                 R"(, controller: true, blockOwnerDeletion: true}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop, pod-template-hash: 5d8f7c9b6}}
  template:
    metadata: {labels: {app: shop, pod-template-hash: 5d8f7c9b6}}
    spec: {containers: [{name: app, image: "python:3.11"}]}
)");
  const std::string rs_uid = uid_of(dir, "shop", "replicaset", "shop-5d8f7c9b6");
  apply_yaml(dir, "pods.yaml",
             R"(apiVersion: v1
kind: Pod
metadata:
  name: shop-5d8f7c9b6-x7k2p
  namespace: shop
  labels: {app: shop, pod-template-hash: 5d8f7c9b6, ztrace.io/trace: "true", app.kubernetes.io/version: "1.2.3"}
  ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: shop-5d8f7c9b6, uid: )" +
                 rs_uid +
                 R"(, controller: true, blockOwnerDeletion: true}
spec:
  nodeName: )" + kNode +
                 R"(
  containers: [{name: app, image: "python:3.11"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: cart
  namespace: shop
  labels: {app.kubernetes.io/name: cart-service}
spec:
  nodeName: )" + kNode +
                 R"(
  containers: [{name: web, image: "python:3.11"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: elsewhere
  namespace: shop
  labels: {ztrace.io/trace: "true"}
spec:
  nodeName: another-node
  containers: [{name: web, image: "python:3.11"}]
)");
  const std::string shop_uid = uid_of(dir, "shop", "pod", "shop-5d8f7c9b6-x7k2p");
  const std::string cart_uid = uid_of(dir, "shop", "pod", "cart");
  const std::string shop_cid = chain::random_hex(64), cart_cid = chain::random_hex(64);
  set_container_status(dir, "shop", "shop-5d8f7c9b6-x7k2p", "app", shop_cid);
  set_container_status(dir, "shop", "cart", "web", cart_cid);

  // Real servers in the pods' cgroups: shop with the cgroupfs driver's layout, cart with the
  // systemd driver's.
  // (The cgroups first: they can be removed only once the servers are gone.)
  PodCgroup shop_cgroup(shop_uid, shop_cid, /*systemd_driver=*/false);
  PodCgroup cart_cgroup(cart_uid, cart_cid, /*systemd_driver=*/true);
  const int shop_port = reserve_port(25210), cart_port = reserve_port(25211);
  Process shop = start_python_server(dir, shop_port);
  Process cart = start_python_server(dir, cart_port);
  shop_cgroup.add(shop.pid());
  cart_cgroup.add(cart.pid());

  // The chart's config (pods labelled ztrace.io/trace=true), this test's control port.
  Agent agent(dir, {.extra_args = {"--config", (dir / "ztrace.yaml").string(), "--kubeconfig",
                                   agent_kubeconfig.string(), "--k8s-node-name", kNode,
                                   "--api-listen", "127.0.0.1:25290"}});
  const fs::path jsonl = agent.jsonl_path();

  // 1. The labelled pod's server is traced with exact pod metadata.
  Span shop_span;
  REQUIRE(traced_within(dir, jsonl, shop_port, "/shop", 10s, &shop_span));
  INFO("span: " << shop_span.raw.dump());
  CHECK(shop_span.res_str("k8s.namespace.name") == "shop");
  CHECK(shop_span.res_str("k8s.pod.name") == "shop-5d8f7c9b6-x7k2p");
  CHECK(shop_span.res_str("k8s.pod.uid") == shop_uid);
  CHECK(shop_span.res_str("k8s.container.name") == "app");
  CHECK(shop_span.res_str("container.id") == shop_cid);
  CHECK(shop_span.res_str("k8s.node.name") == kNode);
  CHECK(shop_span.res_str("k8s.replicaset.name") == "shop-5d8f7c9b6");
  CHECK(shop_span.res_str("k8s.deployment.name") == "shop");
  CHECK(shop_span.res_str("service.name") ==
        "shop");  // the Deployment: no annotation or name label
  CHECK(shop_span.res_str("service.namespace") == "shop");
  CHECK(shop_span.res_str("service.version") == "1.2.3");
  CHECK(shop_span.res_str("service.instance.id") == "shop.shop-5d8f7c9b6-x7k2p.app");
  CHECK(shop_span.res_int("process.pid") == shop.pid());

  // 2. The unlabelled pod is not traced: its request, sent before a traced one, has no span.
  run_command(dir, curl_command({{url(cart_port, "/cart-unlabelled")}}));
  REQUIRE(traced_within(dir, jsonl, shop_port, "/shop-after", 10s));
  for (const Span& s : spans_now(jsonl)) CHECK(s.path() != "/cart-unlabelled");

  // 3. Labelled through the API: traced within seconds, with its own metadata.
  auto started = std::chrono::steady_clock::now();
  must_kubectl(dir, {"-n", "shop", "label", "pod", "cart", "ztrace.io/trace=true"});
  Span cart_span;
  REQUIRE(traced_within(dir, jsonl, cart_port, "/cart", 10s, &cart_span));
  const auto label_latency = std::chrono::steady_clock::now() - started;
  WARN("label → traced: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(label_latency).count() << " ms");
  INFO("span: " << cart_span.raw.dump());
  CHECK(cart_span.res_str("k8s.pod.name") == "cart");
  CHECK(cart_span.res_str("k8s.pod.uid") == cart_uid);
  CHECK(cart_span.res_str("k8s.container.name") == "web");
  CHECK(cart_span.res_str("container.id") == cart_cid);
  CHECK(cart_span.res_str("service.name") == "cart-service");  // app.kubernetes.io/name
  CHECK(cart_span.res_str("k8s.deployment.name") == std::nullopt);
  CHECK(cart_span.res_str("k8s.replicaset.name") == std::nullopt);

  // The control port's /metrics says what the watcher knows: both pods of this node, not the
  // other node's.
  const std::string metrics = must_run(dir, {"curl", "-s", "http://127.0.0.1:25290/metrics"});
  CHECK(metrics.find("\nztrace_k8s_pods 2\n") != std::string::npos);
  CHECK(metrics.find("\nztrace_k8s_api_connected 1\n") != std::string::npos);

  // 4. Unlabelled through the API: no longer traced within seconds.
  must_kubectl(dir, {"-n", "shop", "label", "pod", "shop-5d8f7c9b6-x7k2p", "ztrace.io/trace-"});
  bool stopped = false;
  for (int i = 0; i < 10 && !stopped; ++i) {
    const std::string probe = "/shop-unlabelled-" + std::to_string(i);
    run_command(dir, curl_command({{url(shop_port, probe)}}));
    REQUIRE(traced_within(dir, jsonl, cart_port, "/cart-marker-" + std::to_string(i), 10s));
    stopped = true;
    for (const Span& s : spans_now(jsonl)) stopped = stopped && s.path() != probe;
  }
  CHECK(stopped);

  // 5. The API server goes away: the selected pod is still traced with its metadata.
  must_run(dir, {"bash", kControlPlane.string(), "stop-apiserver", kK8sDir.string()});
  Span down_span;
  CHECK(traced_within(dir, jsonl, cart_port, "/cart-apiserver-down", 10s, &down_span));
  CHECK(down_span.res_str("k8s.pod.name") == "cart");
  CHECK(down_span.res_str("service.name") == "cart-service");
  // And back: the metadata resumes (a relabel made while it was away... is made now).
  must_run(dir, {"bash", kControlPlane.string(), "start-apiserver", kK8sDir.string()});
  must_kubectl(dir, {"-n", "shop", "label", "pod", "shop-5d8f7c9b6-x7k2p", "ztrace.io/trace=true"});
  CHECK(traced_within(dir, jsonl, shop_port, "/shop-relabelled", 30s));

  // 6. A deleted pod is forgotten. (Without a kubelet to confirm the container's end, a
  // graceful delete would leave the pod terminating: forced, as the kubelet's confirmation
  // ends it.)
  must_kubectl(dir, {"-n", "shop", "delete", "pod", "cart", "--grace-period=0", "--force"});
  std::this_thread::sleep_for(2s);
  CHECK(agent.stop() == 0);
  const std::string log = agent.log();
  INFO(agent.log_tail());
  CHECK(log.find("k8s: 1 pods known") != std::string::npos);  // shop only: not elsewhere's
  CHECK(log.find("k8s: pod shop/cart selected") != std::string::npos);
  CHECK(log.find("k8s: pod shop/shop-5d8f7c9b6-x7k2p no longer selected") != std::string::npos);
  // The gap was counted: failed requests while the API server was away.
  CHECK(log.find(" 0 failed requests") == std::string::npos);
  shop.stop();
  cart.stop();
}

}  // namespace ztrace::e2e

namespace ztrace::e2e {
namespace {

// Runs of the sockops program `track_client_sockets` since BPF statistics were turned on
// (bpftool names it in full from its BTF, or truncated to 15 characters without, and leaves
// run_cnt out while it is 0); -1 when it is not loaded.
int64_t sockops_runs(const fs::path& dir) {
  const auto progs = nlohmann::json::parse(must_run(dir, {"bpftool", "-j", "prog", "show"}));
  int64_t runs = -1;
  for (const auto& p : progs) {
    const std::string name = p.value("name", "");
    if (name != "track_client_sockets" && name != "track_client_so") continue;
    runs = std::max<int64_t>(runs, 0) + p.value("run_cnt", int64_t{0});
  }
  return runs;
}

// kernel.bpf_stats_enabled on for the test's lifetime (run counts), back as it was after.
class BpfStats {
 public:
  BpfStats() : before_(read_file(kPath)) { write_file(kPath, "1"); }
  ~BpfStats() { write_file(kPath, before_); }

 private:
  static constexpr const char* kPath = "/proc/sys/kernel/bpf_stats_enabled";
  std::string before_;
};

// The traceparent headers the chain's leaf received, from a request to `front`'s /chain/.
std::vector<std::string> leaf_traceparents(const fs::path& dir, int front_port,
                                           const std::string& path) {
  const auto answer = nlohmann::json::parse(
      must_run(dir, {"curl", "-sS", "--max-time", "10", url(front_port, path)}));
  return answer["next"]["traceparent"].get<std::vector<std::string>>();
}

}  // namespace

TEST_CASE(
    "k8s: with only pods selected, injection runs on the selected pods' cgroups alone, and an "
    "unselected pod's connections never reach it",
    "[e2e][k8s]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  require_control_plane();
  REQUIRE(fs::exists(kUnified / "cgroup.procs"));
  const auto dir = fresh_dir("k8s_inject");
  std::string chart;
  const std::string token = apply_chart_and_mint_token(dir, "ztrace-inject", &chart);
  write_chart_config(dir, "ztrace-inject");
  const fs::path agent_kubeconfig = write_agent_kubeconfig(dir, token);

  // Two pods calling the same leaf (a host process): one labelled for tracing, one not.
  kubectl(dir, {"create", "namespace", "inject"});
  apply_yaml(dir, "pods.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: picked, namespace: inject, labels: {ztrace.io/trace: "true"}}
spec:
  nodeName: )" + kNode + R"(
  containers: [{name: app, image: "python:3.11"}]
---
apiVersion: v1
kind: Pod
metadata: {name: passed-over, namespace: inject}
spec:
  nodeName: )" + kNode + R"(
  containers: [{name: app, image: "python:3.11"}]
)");
  const std::string picked_uid = uid_of(dir, "inject", "pod", "picked");
  const std::string other_uid = uid_of(dir, "inject", "pod", "passed-over");
  const std::string picked_cid = chain::random_hex(64), other_cid = chain::random_hex(64);
  set_container_status(dir, "inject", "picked", "app", picked_cid);
  set_container_status(dir, "inject", "passed-over", "app", other_cid);
  PodCgroup picked_cgroup(picked_uid, picked_cid, /*systemd_driver=*/false);
  PodCgroup other_cgroup(other_uid, other_cid, /*systemd_driver=*/true);
  const int leaf_port = reserve_port(25120);
  const int picked_port = reserve_port(25121), other_port = reserve_port(25122);
  const Env chain = {{"CHAIN_NEXT", "http://127.0.0.1:" + std::to_string(leaf_port)}};
  Process leaf = start_python_server(dir, leaf_port);
  Process picked = start_python_server(dir, picked_port, chain);
  Process other = start_python_server(dir, other_port, chain);
  picked_cgroup.add(picked.pid());
  other_cgroup.add(other.pid());

  BpfStats stats;
  Agent agent(dir, {.extra_args = {"--config", (dir / "ztrace.yaml").string(), "--kubeconfig",
                                   agent_kubeconfig.string(), "--k8s-node-name", kNode,
                                   "--api-listen", "127.0.0.1:25123"}});
  REQUIRE(wait_until([&] { return sockops_runs(dir) >= 0; }, 10s));
  INFO(agent.log_tail());
  CHECK(agent.log().find("per selected pod cgroup") != std::string::npos);

  // The unselected pod: its connection to leaf never runs sockops, and gets no header.
  const int64_t before_other = sockops_runs(dir);
  CHECK(leaf_traceparents(dir, other_port, "/chain/passed-over").empty());
  const int64_t after_other = sockops_runs(dir);
  CHECK(after_other == before_other);

  // The selected pod: sockops runs on its connection, and leaf gets the traceparent.
  std::vector<std::string> injected;
  for (int i = 0; i < 20 && injected.empty(); ++i) {
    injected = leaf_traceparents(dir, picked_port, "/chain/picked-" + std::to_string(i));
    if (injected.empty()) std::this_thread::sleep_for(250ms);  // the pod's selection arriving
  }
  CHECK(injected.size() == 1);
  CHECK(sockops_runs(dir) > after_other);
  WARN("sockops runs: " << before_other << " before the unselected pod's request, " << after_other
                        << " after it, " << sockops_runs(dir) << " after the selected pod's");

  // Unselected through the API: its cgroup loses sockops.
  must_kubectl(dir, {"-n", "inject", "label", "pod", "picked", "ztrace.io/trace-"});
  CHECK(wait_until([&] { return agent.log().find("injection: sockops off") != std::string::npos; },
                   10s));
  const int64_t before_off = sockops_runs(dir);
  CHECK(leaf_traceparents(dir, picked_port, "/chain/picked-unselected").empty());
  CHECK(sockops_runs(dir) == before_off);

  CHECK(agent.stop() == 0);
  const std::string log = agent.log();
  CHECK(log.find("injection: sockops on " + kUnified.string() + "/kubepods/besteffort/pod" +
                 picked_uid) != std::string::npos);
  CHECK(log.find("injection: sockops on " + kUnified.string() + "/kubepods.slice") ==
        std::string::npos);  // passed-over's cgroup (the systemd layout)
  leaf.stop();
  picked.stop();
  other.stop();
}

}  // namespace ztrace::e2e
