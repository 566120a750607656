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

}  // namespace ztrace::e2e
