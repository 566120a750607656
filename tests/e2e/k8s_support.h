#pragma once

// The real Kubernetes control plane of the e2e tests (the e2e-k8s:control-plane-start ctest
// fixture, tests/e2e/k8s/control-plane.sh) and the chart rendered by tools/helm-render.

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

inline const fs::path kK8sDir = ZTRACE_E2E_K8S_DIR;
inline const fs::path kControlPlane = ZTRACE_E2E_K8S_SCRIPT;
inline const fs::path kHelmRender = ZTRACE_E2E_HELM_RENDER;
inline const fs::path kChart = ZTRACE_E2E_CHART_DIR;
inline constexpr int kApiServerPort = 25243;

fs::path admin_kubeconfig();
// FAILs when the fixture has not started the control plane.
void require_control_plane();

CommandResult kubectl(const fs::path& dir, std::vector<std::string> args,
                      const fs::path& kubeconfig = admin_kubeconfig());
std::string must_kubectl(const fs::path& dir, std::vector<std::string> args);

// A request to the API server as the admin, with curl: what kubectl 1.20 (Debian's
// kubernetes-client, what a fresh host has) cannot do yet (create token, patch a status).
nlohmann::json api_request(const fs::path& dir, const std::string& method, const std::string& path,
                           const std::string& content_type, const std::string& body);

// The chart rendered as release "ztrace" in namespace `ns` (YAML, every object).
std::string render(const fs::path& dir, const std::vector<std::string>& values_files,
                   const std::string& ns);

// Applies the rendered chart in `ns` (created if needed) and mints a token of its service
// account; `chart_yaml` gets the rendered objects.
std::string apply_chart_and_mint_token(const fs::path& dir, const std::string& ns,
                                       std::string* chart_yaml,
                                       const std::vector<std::string>& values_files = {});

// A kubeconfig at dir/agent.kubeconfig that reaches the API server with `token`.
fs::path write_agent_kubeconfig(const fs::path& dir, const std::string& token);

// The chart's config (its ConfigMap's ztrace.yaml as applied in `ns`) at dir/ztrace.yaml.
fs::path write_chart_config(const fs::path& dir, const std::string& ns);

// The node the k8s tests' pods are bound to, and the hybrid host's cgroup v2 tree.
inline const std::string kNode = "ztrace-test-node";
inline const fs::path kUnified = "/sys/fs/cgroup/unified";

// A pod's container cgroup under the hybrid host's cgroup v2 tree, as a kubelet with the
// given driver makes it; removed (after its processes are gone) at the end.
class PodCgroup {
 public:
  PodCgroup(const std::string& uid, const std::string& container_id, bool systemd_driver) {
    if (systemd_driver) {
      std::string underscored = uid;
      std::replace(underscored.begin(), underscored.end(), '-', '_');
      dirs_ = {kUnified / "kubepods.slice", kUnified / "kubepods.slice/kubepods-burstable.slice",
               kUnified / ("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                           underscored + ".slice")};
      dirs_.push_back(dirs_.back() / ("cri-containerd-" + container_id + ".scope"));
    } else {
      dirs_ = {kUnified / "kubepods", kUnified / "kubepods/besteffort",
               kUnified / ("kubepods/besteffort/pod" + uid)};
      dirs_.push_back(dirs_.back() / container_id);
    }
    for (const auto& d : dirs_) fs::create_directories(d);
  }
  ~PodCgroup() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      std::error_code ec;
      fs::remove(*it, ec);  // parents shared with another pod stay until both are gone
    }
  }
  void add(pid_t pid) const { write_file(dirs_.back() / "cgroup.procs", std::to_string(pid)); }

 private:
  std::vector<fs::path> dirs_;
};

std::string uid_of(const fs::path& dir, const std::string& ns, const std::string& kind,
                   const std::string& name);
void apply_yaml(const fs::path& dir, const std::string& name, const std::string& yaml);
// What a kubelet writes once the container runs.
void set_container_status(const fs::path& dir, const std::string& ns, const std::string& pod,
                          const std::string& container, const std::string& id);
std::vector<Span> spans_now(const fs::path& jsonl);
// Sends GET `path` to the server until a SERVER span with that path shows up (true), or
// `timeout` passes. Each try uses a fresh path (path + "-" + try), so a late span is told
// apart; `found` gets the span.
bool traced_within(const fs::path& dir, const fs::path& jsonl, int port, const std::string& path,
                   std::chrono::milliseconds timeout, Span* found = nullptr);

}  // namespace ztrace::e2e
