// Multi-tenancy against real parts: the chart rendered with two tenants (one with its headers
// from a Secret created through the real API server), the agent with the chart's config and
// service account, real Python servers in pods of three namespaces and on the host, and one
// real OTLP receiver (tests/otlp_receiver) per tenant and for the default. Stand-ins, said
// where they are: no kubelet (the test writes the container statuses a kubelet would, puts the
// servers in the pods' cgroups, and writes the Secret's key where the kubelet would mount it).

#include <strings.h>

#include <catch2/catch_test_macros.hpp>
#include <map>
#include <set>
#include <thread>

#include "tests/e2e/chain.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/k8s_support.h"
#include "tests/e2e/otlp_support.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

// A request header of a receiver's request line, by name in any case; "" when absent.
std::string header(const nlohmann::json& request, const std::string& name) {
  for (const auto& [key, value] : request["headers"].items()) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value.get<std::string>();
  }
  return "";
}

std::set<std::string> ids_of(const std::vector<Span>& spans) {
  std::set<std::string> ids;
  for (const Span& s : spans) ids.insert(s.span_id);
  return ids;
}

struct TenantPod {
  std::string ns;
  int port;
  std::string uid, container_id;
};

}  // namespace

TEST_CASE(
    "k8s: with tenants, each namespace's spans go only to its tenant's receiver with its own "
    "headers; host spans go to the default, other namespaces nowhere",
    "[e2e][k8s][tenancy]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  require_control_plane();
  REQUIRE(fs::exists(kUnified / "cgroup.procs"));
  const auto dir = fresh_dir("k8s_tenancy");

  const int port_a = reserve_port(31210), port_b = reserve_port(31211),
            port_default = reserve_port(31212);
  for (const char* name : {"receiver-a", "receiver-b", "receiver-default"}) {
    fs::create_directories(dir / name);
  }
  Receiver receiver_a(dir / "receiver-a", {.http_port = port_a});
  Receiver receiver_b(dir / "receiver-b", {.http_port = port_b});
  Receiver receiver_default(dir / "receiver-default", {.http_port = port_default});

  // The chart with two tenants; team-b's credentials from a Secret.
  const std::string values = (dir / "tenants-values.yaml").string();
  std::string values_yaml = R"(otlp:
  tenants:
    - name: team-a
      namespaces: ["team-a-*"]
      endpoint: http://127.0.0.1:PORT_A
      headers: {X-Scope-OrgID: team-a}
    - name: team-b
      namespaces: [team-b]
      endpoint: http://127.0.0.1:PORT_B
      headersSecret: {name: team-b-otlp, key: headers}
  unmatchedNamespaces: drop
  hostSpans: default
)";
  values_yaml.replace(values_yaml.find("PORT_A"), 6, std::to_string(port_a));
  values_yaml.replace(values_yaml.find("PORT_B"), 6, std::to_string(port_b));
  write_file(values, values_yaml);
  const std::string ns = "ztrace-tenancy";
  std::string chart;
  const std::string token = apply_chart_and_mint_token(dir, ns, &chart, {values});
  must_kubectl(dir, {"-n", ns, "create", "secret", "generic", "team-b-otlp",
                     "--from-literal=headers=X-Scope-OrgID=team-b,"
                     "Authorization=Bearer%20team-b-secret"});
  // The kubelet's Secret volume, written by the test from the Secret the server stores.
  const fs::path mounts = dir / "tenant-mounts";
  fs::create_directories(mounts / "team-b");
  write_file(mounts / "team-b/headers",
             must_run(dir, {"bash", "-c",
                            "kubectl --kubeconfig " + admin_kubeconfig().string() + " -n " + ns +
                                " get secret team-b-otlp -o jsonpath='{.data.headers}' | "
                                "base64 -d"}));
  std::string config = read_file(write_chart_config(dir, ns));
  // The chart mounts each tenant's Secret at /etc/ztrace-tenants/NAME.
  REQUIRE(config.find("headers_file: /etc/ztrace-tenants/team-b/headers") != std::string::npos);
  CHECK(chart.find("secretName: team-b-otlp") != std::string::npos);
  config.replace(config.find("/etc/ztrace-tenants"), 19, mounts.string());
  write_file(dir / "ztrace.yaml", config);
  const fs::path agent_kubeconfig = write_agent_kubeconfig(dir, token);

  // One pod in each tenant's namespace and one in a namespace no tenant lists.
  std::vector<TenantPod> pods = {{"team-a-web", reserve_port(31220)},
                                 {"team-b", reserve_port(31221)},
                                 {"other", reserve_port(31222)}};
  std::vector<std::unique_ptr<PodCgroup>> cgroups;
  std::vector<Process> servers;
  for (auto& pod : pods) {
    kubectl(dir, {"create", "namespace", pod.ns});
    apply_yaml(dir, "pod-" + pod.ns + ".yaml",
               "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: " + pod.ns +
                   ", labels: {ztrace.io/trace: \"true\"}}\nspec:\n  nodeName: " + kNode +
                   "\n  containers: [{name: web, image: \"python:3.11\"}]\n");
    pod.uid = uid_of(dir, pod.ns, "pod", "web");
    pod.container_id = chain::random_hex(64);
    set_container_status(dir, pod.ns, "web", "web", pod.container_id);
    cgroups.push_back(std::make_unique<PodCgroup>(pod.uid, pod.container_id, false));
  }
  for (size_t i = 0; i < pods.size(); ++i) {
    servers.push_back(start_python_server(dir, pods[i].port));
    cgroups[i]->add(servers.back().pid());
  }
  const int host_port = reserve_port(31223);
  Process host_server = start_python_server(dir, host_port);

  // The chart's selection (pods labelled ztrace.io/trace=true), and the host server.
  Agent agent(
      dir, {.pids = {host_server.pid()},
            .extra_args = {"--config", (dir / "ztrace.yaml").string(), "--kubeconfig",
                           agent_kubeconfig.string(), "--k8s-node-name", kNode, "--api-listen",
                           "127.0.0.1:31290", "--otlp-endpoint",
                           "http://127.0.0.1:" + std::to_string(port_default), "--otlp-header",
                           "Authorization=Bearer default-secret", "--otlp-batch-delay-ms", "100"}});
  const fs::path jsonl = agent.jsonl_path();

  // Each pod traced with its namespace known (a pod is selected once its labels are known).
  for (const auto& pod : pods) {
    INFO(pod.ns);
    bool known = false;
    for (int i = 0; i < 20 && !known; ++i) {
      Span span;
      REQUIRE(
          traced_within(dir, jsonl, pod.port, "/warm-" + pod.ns + std::to_string(i), 10s, &span));
      known = span.res_str("k8s.namespace.name") == pod.ns;
    }
    REQUIRE(known);
  }
  for (int i = 0; i < 5; ++i) {
    for (const auto& pod : pods) run_command(dir, curl_command({{url(pod.port, "/" + pod.ns)}}));
    run_command(dir, curl_command({{url(host_port, "/host")}}));
  }
  REQUIRE(wait_until(
      [&] {
        size_t host = 0;
        for (const Span& s : receiver_default.spans()) host += s.path() == "/host";
        return host == 5;
      },
      15s));
  std::this_thread::sleep_for(1s);  // the tenants' last batches
  const std::string metrics = must_run(dir, {"curl", "-s", "http://127.0.0.1:31290/metrics"});
  CHECK(agent.stop() == 0);
  INFO(agent.log_tail());

  // What the agent built, by namespace: each tenant's receiver has exactly its namespaces'
  // spans; pods whose namespace was not yet known, and `other`, reach no receiver.
  std::vector<Span> built_a, built_b, built_pods;
  for (const Span& s : spans_now(jsonl)) {
    const auto span_ns = s.res_str("k8s.namespace.name");
    if (span_ns == "team-a-web") built_a.push_back(s);
    if (span_ns == "team-b") built_b.push_back(s);
    if (s.res_str("k8s.pod.uid")) built_pods.push_back(s);
  }
  const auto received_a = receiver_a.spans(), received_b = receiver_b.spans(),
             received_default = receiver_default.spans();
  CHECK(built_a.size() >= 6);
  CHECK(built_b.size() >= 6);
  CHECK(ids_of(received_a) == ids_of(built_a));
  CHECK(ids_of(received_b) == ids_of(built_b));
  const std::set<std::string> pod_ids = ids_of(built_pods);
  size_t pod_spans_at_default = 0, host_spans_at_default = 0;
  for (const Span& s : received_default) {
    pod_spans_at_default += pod_ids.count(s.span_id) + (s.res_str("k8s.pod.uid") ? 1 : 0);
    host_spans_at_default += s.path() == "/host";
  }
  CHECK(pod_spans_at_default == 0);
  CHECK(host_spans_at_default == 5);
  for (const Span& s : received_a) CHECK(s.res_str("k8s.namespace.name") == "team-a-web");
  for (const Span& s : received_b) CHECK(s.res_str("k8s.namespace.name") == "team-b");

  // Each request with its own tenant's headers, never another's; one tenant per request body
  // (every span of a request came from that tenant's namespace, checked above by receiver).
  const auto requests_a = receiver_a.requests(), requests_b = receiver_b.requests(),
             requests_default = receiver_default.requests();
  CHECK(!requests_a.empty());
  CHECK(!requests_b.empty());
  for (const auto& r : requests_a) {
    CHECK(header(r, "X-Scope-OrgID") == "team-a");
    CHECK(header(r, "Authorization") == "");
  }
  for (const auto& r : requests_b) {
    CHECK(header(r, "X-Scope-OrgID") == "team-b");
    CHECK(header(r, "Authorization") == "Bearer team-b-secret");
  }
  for (const auto& r : requests_default) {
    CHECK(header(r, "X-Scope-OrgID") == "");
    CHECK(header(r, "Authorization") == "Bearer default-secret");
  }

  // Counted per tenant: /metrics by tenant, and the spans no receiver got, by reason.
  const std::string exported_a = "ztrace_otlp_spans_total{outcome=\"exported\",tenant=\"team-a\"} ";
  const size_t at = metrics.find(exported_a);
  REQUIRE(at != std::string::npos);
  CHECK(std::stoull(metrics.substr(at + exported_a.size())) <= received_a.size());
  CHECK(std::stoull(metrics.substr(at + exported_a.size())) > 0);
  const std::string log = agent.log();
  CHECK(log.find("otlp/team-a: spans") != std::string::npos);
  CHECK(log.find("otlp/team-b: spans") != std::string::npos);
  const std::string unmatched =
      "ztrace_output_spans_total{output=\"otlp/unrouted\",outcome="
      "\"dropped_unmatched_namespace\"} ";
  const size_t drop_at = metrics.find(unmatched);
  REQUIRE(drop_at != std::string::npos);
  CHECK(std::stoull(metrics.substr(drop_at + unmatched.size())) >= 6);

  for (auto& server : servers) server.stop();
  host_server.stop();
  for (const auto& pod : pods) {
    kubectl(dir, {"-n", pod.ns, "delete", "pod", "web", "--grace-period=0", "--force"});
  }
}

}  // namespace ztrace::e2e
