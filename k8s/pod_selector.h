#pragma once

// Which pods are traced: all of the required labels (KEY=VALUE, as a Kubernetes equality
// label selector) and a namespace matching an include glob and no exclude glob. An empty
// selector selects every pod.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/pod.h"

namespace ztrace::k8s {

struct PodSelector {
  std::map<std::string, std::string> labels;    // all must match
  std::vector<std::string> namespaces;          // fnmatch(3) globs; empty: every namespace
  std::vector<std::string> exclude_namespaces;  // fnmatch(3) globs

  bool empty() const { return labels.empty() && namespaces.empty() && exclude_namespaces.empty(); }
  bool matches(const Pod& pod) const;

  // Adds "KEY=VALUE"; false and `error` when malformed (no '=', an empty or invalid key).
  bool add_label(std::string_view key_value, std::string* error);
};

}  // namespace ztrace::k8s
