#include "tests/e2e/go_apps.h"

#include "tests/go_apps/go_app_list.h"

namespace ztrace::e2e {

std::vector<GoApp> go_apps() {
  std::vector<GoApp> apps;
  for (auto& build : testing::parse_go_app_list(ZTRACE_E2E_GO_APPS)) {
    apps.push_back({build.version, build.variant, build.path});
  }
  return apps;
}

std::string https_url(int port, const std::string& path) {
  return "https://127.0.0.1:" + std::to_string(port) + path;
}

Process start_goapp_server(const fs::path& dir, const fs::path& binary, int port, bool tls,
                           const std::string& name,
                           std::vector<std::pair<std::string, std::string>> env) {
  std::vector<std::string> argv = {binary.string(), "server"};
  if (tls) argv.push_back("-tls");
  argv.push_back(std::to_string(port));
  Process p({.argv = argv,
             .env = std::move(env),
             .stdout_path = dir / (name + ".out"),
             .stderr_path = dir / (name + ".err")});
  if (!wait_for_port(port, 10s)) throw std::runtime_error("server did not listen: " + p.describe());
  return p;
}

}  // namespace ztrace::e2e
