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
                                       std::string* chart_yaml) {
  kubectl(dir, {"create", "namespace", ns});
  *chart_yaml = render(dir, {}, ns);
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

}  // namespace ztrace::e2e
