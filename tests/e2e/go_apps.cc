#include "tests/e2e/go_apps.h"

#include <sstream>

namespace ztrace::e2e {

std::vector<GoApp> go_apps() {
  std::vector<GoApp> apps;
  std::stringstream list(ZTRACE_E2E_GO_APPS);
  std::string item;
  while (std::getline(list, item, ',')) {
    auto a = item.find(':'), b = item.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    apps.push_back({item.substr(0, a), item.substr(a + 1, b - a - 1), item.substr(b + 1)});
  }
  return apps;
}

}  // namespace ztrace::e2e
