// The config file's Kubernetes keys: selection.k8s_pod_labels and namespaces, k8s.*.

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>

#include "userspace/sampling/settings_sources.h"

using namespace ztrace::sampling;
namespace fs = std::filesystem;

namespace {

std::string write_config(const std::string& yaml) {
  const fs::path path = fs::temp_directory_path() / "ztrace-k8s-config-test.yaml";
  std::ofstream(path, std::ios::trunc) << yaml;
  return path.string();
}

std::string fails(const std::string& yaml) {
  std::string error;
  const bool read = read_config_file(write_config(yaml), &error).has_value();
  return read ? std::string("(accepted)") : error.substr(error.find(".yaml:") + 6);
}

}  // namespace

TEST_CASE("config: selection.k8s_pod_labels, namespaces and k8s.*", "[k8s]") {
  std::string error;
  const auto config = read_config_file(write_config(R"(
selection:
  k8s_pod_labels:
    ztrace.io/trace: "true"
    tier: web
  k8s_namespaces: ["prod-*", staging]
  k8s_exclude_namespaces: kube-system
k8s:
  enabled: true
  node_name: node-a
)"),
                                       &error);
  INFO(error);
  REQUIRE(config);
  CHECK(config->selection.k8s_pod_labels ==
        std::map<std::string, std::string>{{"ztrace.io/trace", "true"}, {"tier", "web"}});
  CHECK(config->selection.k8s_namespaces == std::vector<std::string>{"prod-*", "staging"});
  CHECK(config->selection.k8s_exclude_namespaces == std::vector<std::string>{"kube-system"});
  CHECK(config->k8s_enabled == true);
  CHECK(config->k8s_node_name == "node-a");
}

TEST_CASE("config: bad Kubernetes keys are errors with their line", "[k8s]") {
  CHECK(fails("selection:\n  k8s_pod_labels: [a=b]\n") ==
        "2: selection.k8s_pod_labels: must be a mapping of label keys to values");
  CHECK(fails("selection:\n  k8s_pod_labels:\n    a: {b: c}\n") ==
        "3: selection.k8s_pod_labels.a: must be a string (quote \"true\")");
  CHECK(fails("selection:\n  k8s_namespaces: {a: b}\n") ==
        "2: selection.k8s_namespaces: must be a list of strings");
  CHECK(fails("selection:\n  exe: {nginx: 1}\n") == "2: selection.exe: must be a list of strings");
  CHECK(fails("selection:\n  k8s_labels: {}\n") == "2: selection.k8s_labels: unknown key");
  CHECK(fails("k8s:\n  enabled: maybe\n") == "2: k8s.enabled: must be true or false");
  CHECK(fails("k8s: on\n") == "1: k8s: must be a mapping");
}
