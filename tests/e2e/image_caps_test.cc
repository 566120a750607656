// The least-privilege claim of the chart, proven: the image's root filesystem
// (scripts/build-image-rootfs.sh, built by the e2e-image:rootfs fixture: the Dockerfile's
// recipe without a container engine) runs under runc the way a kubelet runs the chart's
// DaemonSet: the rendered container's capabilities and no others, its hostPath mounts, the
// host PID namespace (hostPID), its read-only root filesystem and memory limit, and the
// in-cluster identity a kubelet gives it (KUBERNETES_SERVICE_HOST, the service account's token
// and CA mounted at /var/run/secrets/kubernetes.io/serviceaccount), minted by the real API
// server of the e2e-k8s control-plane fixture for the chart's ServiceAccount.
// Said where they differ from a pod: the container shares the host's network namespace (no
// pod network exists here, and the test's API server listens on the host's loopback; a
// network namespace changes no capability check of the agent's), and spans go to a file in a
// bind-mounted folder (--jsonl) instead of an OTLP endpoint.

#include <catch2/catch_test_macros.hpp>
#include <set>

#include "tests/e2e/harness.h"
#include "tests/e2e/k8s_support.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e {
namespace {

using nlohmann::json;

const fs::path kImageRoot = fs::path(ZTRACE_E2E_IMAGE_DIR) / "rootfs";
const fs::path kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// The chart's DaemonSet container and config, as rendered.
struct ChartContainer {
  json pod_spec;
  json container;
  std::string config;  // the ConfigMap's ztrace.yaml
  std::vector<std::string> capabilities() const {
    std::vector<std::string> caps;
    for (const auto& c : container["securityContext"]["capabilities"]["add"]) {
      caps.push_back("CAP_" + c.get<std::string>());
    }
    return caps;
  }
};

ChartContainer chart_container(const fs::path& dir, const std::string& chart_yaml) {
  write_file(dir / "rendered.yaml", chart_yaml);
  const json docs = json::parse(
      must_run(dir, {"python3", "-c",
                     "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all("
                     "open(sys.argv[1])) if d]))",
                     (dir / "rendered.yaml").string()}));
  ChartContainer out;
  for (const auto& doc : docs) {
    if (doc["kind"] == "DaemonSet") {
      out.pod_spec = doc["spec"]["template"]["spec"];
      out.container = out.pod_spec["containers"][0];
    } else if (doc["kind"] == "ConfigMap" && doc["data"].contains("ztrace.yaml")) {
      out.config = doc["data"]["ztrace.yaml"];
    }
  }
  REQUIRE(out.container.is_object());
  REQUIRE(!out.config.empty());
  return out;
}

// "512Mi" -> bytes (the forms the chart's values use).
int64_t quantity_bytes(const std::string& q) {
  const std::vector<std::pair<std::string, int64_t>> units = {
      {"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30}};
  for (const auto& [suffix, factor] : units) {
    if (q.size() > suffix.size() && q.ends_with(suffix)) {
      return std::stoll(q.substr(0, q.size() - suffix.size())) * factor;
    }
  }
  return std::stoll(q);
}

// The OCI runtime config of the chart's container: what containerd makes of the pod spec
// for a non-privileged container (its default mounts, masked and read-only /proc paths),
// with `capabilities` as the bounding, permitted and effective sets.
json oci_config(const ChartContainer& chart, const std::vector<std::string>& capabilities,
                const fs::path& bundle, const std::vector<std::string>& extra_args) {
  json args = json::array({"/usr/local/bin/ztrace"});
  for (const auto& a : chart.container["args"]) args.push_back(a);
  for (const auto& a : extra_args) args.push_back(a);
  json env = json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "NODE_NAME=" + host_name(), "KUBERNETES_SERVICE_HOST=127.0.0.1",
                          "KUBERNETES_SERVICE_PORT=" + std::to_string(kApiServerPort)});
  json mounts = json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
      {{"destination", "/tmp"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "nodev", "mode=1777"}}},
      {{"destination", kServiceAccountDir.string()},
       {"type", "bind"},
       {"source", (bundle / "serviceaccount").string()},
       {"options", {"rbind", "ro"}}},
      {{"destination", "/var/run/ztrace-test"},
       {"type", "bind"},
       {"source", (bundle / "out").string()},
       {"options", {"rbind", "rw"}}},
  });
  // The chart's volumes: hostPath as bind mounts, the ConfigMap as a read-only folder.
  std::map<std::string, json> volumes;
  for (const auto& v : chart.pod_spec["volumes"]) volumes[v["name"]] = v;
  for (const auto& m : chart.container["volumeMounts"]) {
    const json& v = volumes.at(m["name"]);
    std::string source;
    if (v.contains("hostPath")) {
      source = v["hostPath"]["path"];
    } else if (v.contains("configMap")) {
      source = (bundle / "config").string();
    } else {
      FAIL("volume kind not handled by the test: " << v.dump());
    }
    json options = {"rbind", "rprivate"};
    options.push_back(m.value("readOnly", false) ? "ro" : "rw");
    mounts.push_back({{"destination", m["mountPath"]},
                      {"type", "bind"},
                      {"source", source},
                      {"options", options}});
  }
  json caps = capabilities;
  const json& security = chart.container["securityContext"];
  json namespaces = json::array({{{"type", "mount"}}, {{"type", "ipc"}}, {{"type", "uts"}}});
  REQUIRE(chart.pod_spec.value("hostPID", false));  // else a pid namespace would go here
  return {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", args},
        {"env", env},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"noNewPrivileges", !security.value("allowPrivilegeEscalation", true)}}},
      {"root",
       {{"path", kImageRoot.string()},
        {"readonly", security.value("readOnlyRootFilesystem", false)}}},
      {"hostname", "ztrace-image-test"},
      {"mounts", mounts},
      {"linux",
       {{"namespaces", namespaces},
        {"resources",
         {{"memory",
           {{"limit", quantity_bytes(chart.container["resources"]["limits"]["memory"])}}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
}

// The agent of the image under runc, in the foreground (runc forwards signals to it).
class RuncAgent {
 public:
  RuncAgent(const fs::path& dir, const ChartContainer& chart, const std::string& token,
            const std::vector<std::string>& capabilities, std::vector<std::string> extra_args)
      : dir_(dir), id_("ztrace-image-test-" + std::to_string(getpid())) {
    const fs::path bundle = dir / "bundle";
    fs::remove_all(bundle);
    fs::create_directories(bundle / "config");
    fs::create_directories(bundle / "out");
    fs::create_directories(bundle / "serviceaccount");
    write_file(bundle / "config" / "ztrace.yaml", chart.config);
    write_file(bundle / "serviceaccount" / "token", token);
    fs::copy_file(kK8sDir / "ca.crt", bundle / "serviceaccount" / "ca.crt");
    extra_args.insert(extra_args.begin(), {"--jsonl", "/var/run/ztrace-test/spans.jsonl"});
    write_file(bundle / "config.json", oci_config(chart, capabilities, bundle, extra_args).dump(2));
    jsonl_ = bundle / "out" / "spans.jsonl";
    run_command(dir, {"runc", "--root", state_dir().string(), "delete", "-f", id_});
    process_.emplace(ProcessOptions{
        .argv = {"runc", "--root", state_dir().string(), "run", "--bundle", bundle.string(), id_},
        .stdout_path = dir / "agent.out",
        .stderr_path = dir / "agent.log"});
  }
  ~RuncAgent() {
    if (process_->running()) stop();
    run_command(dir_, {"runc", "--root", state_dir().string(), "delete", "-f", id_});
  }
  // True once the agent logs that it is ready; false when it exits first or the timeout
  // passes. (runc's own errors may say "ready" too.)
  bool wait_ready(std::chrono::milliseconds timeout = 90s) {
    const auto ready = [&] { return log().find("ztrace ready") != std::string::npos; };
    wait_until([&] { return !process_->running() || ready(); }, timeout);
    return process_->running() && ready();
  }
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    return process_->wait_exit(timeout);
  }
  int stop() {
    process_->signal(SIGINT);
    if (auto code = process_->wait_exit(20s)) return *code;
    run_command(dir_, {"runc", "--root", state_dir().string(), "kill", id_, "KILL"});
    return process_->wait_exit(5s).value_or(-1);
  }
  std::string log() const { return process_->stderr_text(); }
  std::vector<Span> spans() const {
    std::vector<std::string> problems;
    return fs::exists(jsonl_) ? load_spans(jsonl_, problems) : std::vector<Span>{};
  }

 private:
  fs::path state_dir() const { return dir_ / "runc-state"; }
  fs::path dir_;
  std::string id_;
  fs::path jsonl_;
  std::optional<Process> process_;
};

// Two Python servers, `front` traced and `leaf` not: a request to front's /chain/ makes it
// call leaf, whose answer lists the traceparent headers it received (what injection added).
// front runs as an unprivileged user (as pods mostly do) with its own OTEL_SERVICE_NAME: what
// the agent reads of it under /proc needs SYS_PTRACE and DAC_READ_SEARCH.
constexpr const char* kFrontService = "image-front";
struct Chain {
  Process leaf, front;
  int front_port;
};
Chain start_chain(const fs::path& dir) {
  const int leaf_port = reserve_port(25110);
  const int front_port = reserve_port(25111);
  Process leaf = start_python_server(dir, leaf_port);
  Process front(
      {.argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                (peers_dir() / "python" / "http_server.py").string(), std::to_string(front_port)},
       .env = {{"CHAIN_NEXT", "http://127.0.0.1:" + std::to_string(leaf_port)},
               {"OTEL_SERVICE_NAME", kFrontService}},
       .stderr_path = dir / "front.log"});
  REQUIRE(wait_for_port(front_port, 10s));
  return {std::move(leaf), std::move(front), front_port};
}

// One request through the chain: the SERVER span of front with its path, and the
// traceparent headers leaf received (empty when nothing was injected).
struct ChainResult {
  std::optional<Span> server_span;
  std::vector<std::string> leaf_traceparents;
  // Traced as the chart promises: front's span with front's own service name and executable,
  // and its call to leaf carrying the span's trace.
  bool complete() const {
    return server_span && server_span->status() == 200 && server_span->service() == kFrontService &&
           server_span->res_str("process.executable.path").has_value() &&
           leaf_traceparents.size() == 1 &&
           leaf_traceparents[0].substr(3, 32) == server_span->trace_id;
  }
};
ChainResult request_through(const fs::path& dir, const Chain& chain, const RuncAgent& agent,
                            const std::string& path) {
  ChainResult result;
  const std::string out =
      must_run(dir, {"curl", "-sS", "--max-time", "10", url(chain.front_port, path)});
  const json answer = json::parse(out);
  for (const auto& t : answer["next"]["traceparent"]) result.leaf_traceparents.push_back(t);
  wait_until(
      [&] {
        for (const Span& s : agent.spans()) {
          if (s.kind == "SERVER" && s.path() == path) result.server_span = s;
        }
        return result.server_span.has_value();
      },
      5s);
  return result;
}

}  // namespace

TEST_CASE(
    "image: the agent of the image runs under runc with exactly the chart's capabilities, "
    "and names the one that is missing",
    "[e2e][image]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  require_control_plane();
  REQUIRE(fs::exists(kImageRoot / "usr/local/bin/ztrace"));
  const auto dir = fresh_dir("image_caps");
  std::string chart_yaml;
  const std::string token = apply_chart_and_mint_token(dir, "ztrace-image", &chart_yaml);
  const ChartContainer chart = chart_container(dir, chart_yaml);
  const std::vector<std::string> caps = chart.capabilities();
  INFO("chart capabilities: " << json(caps).dump());
  CHECK(chart.container["securityContext"].value("privileged", true) == false);
  CHECK(chart.container["securityContext"]["capabilities"]["drop"] == json({"ALL"}));

  Chain chain = start_chain(dir);
  // front by pid (it is in no pod); the control port in this test's range, as the container
  // shares the host's network namespace.
  const std::vector<std::string> select = {"--pid", std::to_string(chain.front.pid()),
                                           "--api-listen", "127.0.0.1:25112"};

  SECTION("with the chart's set it traces a request, injects its context, and lists pods") {
    RuncAgent agent(dir, chart, token, caps, select);
    REQUIRE(agent.wait_ready());
    const ChainResult r = request_through(dir, chain, agent, "/chain/image-caps");
    INFO(agent.log());
    REQUIRE(r.server_span.has_value());
    INFO(r.server_span->describe());
    CHECK(r.server_span->status() == 200);
    CHECK(r.server_span->service() == kFrontService);
    // The kernel writes a path outside the agent's root from the host's root: the test's own
    // root may be a chroot (the fresh-host CI run), whose path then comes first.
    CHECK(r.server_span->res_str("process.executable.path")
              .value_or("")
              .ends_with(fs::canonical("/usr/bin/python3").string()));
    // The agent's sk_msg program added the traceparent to front's request to leaf.
    REQUIRE(r.leaf_traceparents.size() == 1);
    CHECK(r.leaf_traceparents[0].substr(3, 32) == r.server_span->trace_id);
    CHECK(r.complete());
    CHECK(agent.stop() == 0);
    // The pod list came from the API server, as the chart's service account.
    const std::string log = agent.log();
    CHECK(log.find(" 1 lists") != std::string::npos);
    CHECK(log.find(" 0 failed requests") != std::string::npos);
  }

  for (const std::string& missing : caps) {
    std::vector<std::string> fewer;
    for (const auto& c : caps) {
      if (c != missing) fewer.push_back(c);
    }
    DYNAMIC_SECTION("without " << missing << " it refuses to start and says why") {
      RuncAgent agent(dir, chart, token, fewer, select);
      const auto code = agent.wait_exit(60s);
      INFO(agent.log());
      REQUIRE(code.has_value());
      CHECK(*code != 0);
      CHECK(agent.log().find("missing capabilities: " + missing) != std::string::npos);
    }
    // Needed for real: past the check, something the chart promises does not happen.
    DYNAMIC_SECTION("without " << missing << " it cannot trace fully (the check skipped)") {
      std::vector<std::string> args = select;
      args.push_back("--no-capability-check");
      RuncAgent agent(dir, chart, token, fewer, args);
      std::optional<ChainResult> r;
      if (agent.wait_ready()) r = request_through(dir, chain, agent, "/chain/without-" + missing);
      INFO(agent.log());
      INFO("front's span: " << (r && r->server_span ? r->server_span->describe() : "none"));
      CHECK_FALSE((r && r->complete()));
    }
  }
}

}  // namespace ztrace::e2e
