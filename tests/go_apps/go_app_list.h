#pragma once

// The Go test programs tests/go_apps/CMakeLists.txt builds, as CMake hands them to the test
// binaries: "version:variant:path,..." (e.g. "1.21:stripped:/build/go_apps/goapp-1.21-stripped").

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ztrace::testing {

struct GoAppBuild {
  std::string version;  // "1.21"
  std::string variant;  // plain, stripped, pie
  std::string path;
};

inline std::vector<GoAppBuild> parse_go_app_list(std::string_view list) {
  std::vector<GoAppBuild> apps;
  std::stringstream items{std::string(list)};
  std::string item;
  while (std::getline(items, item, ',')) {
    auto a = item.find(':'), b = item.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    apps.push_back({item.substr(0, a), item.substr(a + 1, b - a - 1), item.substr(b + 1)});
  }
  return apps;
}

}  // namespace ztrace::testing
