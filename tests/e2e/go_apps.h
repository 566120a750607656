#pragma once

// The Go test programs (tests/go_apps/goapp) CMake built with every installed Go version,
// plain, stripped and PIE (ZTRACE_E2E_GO_APPS: "version:variant:path,...").

#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

struct GoApp {
  std::string version, variant;
  fs::path path;
  std::string label() const { return version + "-" + variant; }
};

std::vector<GoApp> go_apps();

// "https://127.0.0.1:PORT/PATH"
std::string https_url(int port, const std::string& path);

// `binary server [-tls] PORT` (outputs in dir/name.out and .err), once its port listens;
// throws std::runtime_error when it does not listen within 10 s.
Process start_goapp_server(const fs::path& dir, const fs::path& binary, int port, bool tls,
                           const std::string& name,
                           std::vector<std::pair<std::string, std::string>> env = {});

}  // namespace ztrace::e2e
