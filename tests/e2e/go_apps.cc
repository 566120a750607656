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

}  // namespace ztrace::e2e
