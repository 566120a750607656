#include "tests/e2e/k8s_support.h"

#include <catch2/catch_test_macros.hpp>

#include "tests/e2e/peers.h"

namespace ztrace::e2e {

fs::path admin_kubeconfig() { return kK8sDir / "admin.kubeconfig"; }

void require_control_plane() {
  if (!fs::exists(admin_kubeconfig())) {
    FAIL("no control plane at " << kK8sDir
                                << ": run through ctest (fixture e2e-k8s:control-plane-start)");
  }
}

CommandResult kubectl(const fs::path& dir, std::vector<std::string> args,
                      const fs::path& kubeconfig) {
  args.insert(args.begin(), {"kubectl", "--kubeconfig", kubeconfig.string()});
  return run_command(dir, std::move(args), 60s);
}

std::string must_kubectl(const fs::path& dir, std::vector<std::string> args) {
  CommandResult r = kubectl(dir, std::move(args));
  INFO(r.describe);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

nlohmann::json api_request(const fs::path& dir, const std::string& method, const std::string& path,
                           const std::string& content_type, const std::string& body) {
  const std::string token = read_file(kK8sDir / "admin.token");
  CommandResult r = run_command(
      dir, {"curl", "-sS", "--fail-with-body", "--cacert", (kK8sDir / "ca.crt").string(), "-X",
            method, "-H", "Authorization: Bearer " + token, "-H", "Content-Type: " + content_type,
            "--data-binary", body, "https://127.0.0.1:" + std::to_string(kApiServerPort) + path});
  INFO(r.describe);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

std::string render(const fs::path& dir, const std::vector<std::string>& values_files,
                   const std::string& ns) {
  std::vector<std::string> argv = {kHelmRender.string(), "-name", "ztrace", "-namespace", ns};
  for (const auto& f : values_files) argv.insert(argv.end(), {"-f", f});
  argv.push_back(kChart.string());
  return must_run(dir, argv);
}

std::string apply_chart_and_mint_token(const fs::path& dir, const std::string& ns,
                                       std::string* chart_yaml,
                                       const std::vector<std::string>& values_files) {
  kubectl(dir, {"create", "namespace", ns});
  *chart_yaml = render(dir, values_files, ns);
  write_file(dir / "chart.yaml", *chart_yaml);
  must_kubectl(dir, {"apply", "-f", (dir / "chart.yaml").string()});
  const std::string token =
      api_request(dir, "POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/ztrace/token",
                  "application/json",
                  R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",)"
                  R"("spec":{"expirationSeconds":3600}})")["status"]["token"]
          .get<std::string>();
  REQUIRE(token.size() > 100);
  return token;
}

fs::path write_agent_kubeconfig(const fs::path& dir, const std::string& token) {
  const fs::path path = dir / "agent.kubeconfig";
  write_file(path,
             "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n"
             "    server: https://127.0.0.1:" +
                 std::to_string(kApiServerPort) +
                 "\n    certificate-authority: " + (kK8sDir / "ca.crt").string() +
                 "\nusers:\n- name: ztrace\n  user:\n    token: " + token +
                 "\ncontexts:\n- name: ztrace\n  context: {cluster: test, user: "
                 "ztrace}\ncurrent-context: ztrace\n");
  return path;
}

fs::path write_chart_config(const fs::path& dir, const std::string& ns) {
  const fs::path path = dir / "ztrace.yaml";
  write_file(path, must_kubectl(dir, {"-n", ns, "get", "configmap", "ztrace", "-o",
                                      "jsonpath={.data.ztrace\\.yaml}"}));
  return path;
}

std::string uid_of(const fs::path& dir, const std::string& ns, const std::string& kind,
                   const std::string& name) {
  return must_kubectl(dir, {"-n", ns, "get", kind, name, "-o", "jsonpath={.metadata.uid}"});
}

void apply_yaml(const fs::path& dir, const std::string& name, const std::string& yaml) {
  write_file(dir / name, yaml);
  must_kubectl(dir, {"apply", "-f", (dir / name).string()});
}

// What a kubelet writes once the container runs.
void set_container_status(const fs::path& dir, const std::string& ns, const std::string& pod,
                          const std::string& container, const std::string& id) {
  const std::string patch =
      R"({"status":{"phase":"Running","containerStatuses":[{"name":")" + container +
      R"(","containerID":"containerd://)" + id +
      R"(","image":"docker.io/library/python:3.11","imageID":"","ready":true,"restartCount":0,"state":{"running":{}}}]}})";
  api_request(dir, "PATCH", "/api/v1/namespaces/" + ns + "/pods/" + pod + "/status",
              "application/merge-patch+json", patch);
}

std::vector<Span> spans_now(const fs::path& jsonl) {
  std::vector<std::string> problems;
  return fs::exists(jsonl) ? load_spans(jsonl, problems) : std::vector<Span>{};
}

// Sends GET `path` to the server until a SERVER span with that path shows up (true), or
// `timeout` passes. Each try uses a fresh path (path + "-" + try), so a late span is told
// apart; `tries` gets the number of requests.
bool traced_within(const fs::path& dir, const fs::path& jsonl, int port, const std::string& path,
                   std::chrono::milliseconds timeout, Span* found) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    const std::string p = path + "-" + std::to_string(i);
    run_command(dir, curl_command({{url(port, p)}}));
    const bool seen = wait_until(
        [&] {
          for (const Span& s : spans_now(jsonl)) {
            if (s.kind == "SERVER" && s.path() == p) {
              if (found) *found = s;
              return true;
            }
          }
          return false;
        },
        1500ms);
    if (seen) return true;
  }
  return false;
}

}  // namespace ztrace::e2e
