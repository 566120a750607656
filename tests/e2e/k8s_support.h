#pragma once

// The real Kubernetes control plane of the e2e tests (the e2e-k8s:control-plane-start ctest
// fixture, tests/e2e/k8s/control-plane.sh) and the chart rendered by tools/helm-render.

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
                                       std::string* chart_yaml);

// A kubeconfig at dir/agent.kubeconfig that reaches the API server with `token`.
fs::path write_agent_kubeconfig(const fs::path& dir, const std::string& token);

// The chart's config (its ConfigMap's ztrace.yaml as applied in `ns`) at dir/ztrace.yaml.
fs::path write_chart_config(const fs::path& dir, const std::string& ns);

}  // namespace ztrace::e2e
