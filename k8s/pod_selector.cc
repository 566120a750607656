#include "k8s/pod_selector.h"

#include <fnmatch.h>

namespace ztrace::k8s {

bool PodSelector::matches(const Pod& pod) const {
  for (const auto& [key, value] : labels) {
    const auto it = pod.labels.find(key);
    if (it == pod.labels.end() || it->second != value) return false;
  }
  auto any_glob = [&](const std::vector<std::string>& globs) {
    for (const std::string& glob : globs) {
      if (fnmatch(glob.c_str(), pod.namespace_name.c_str(), 0) == 0) return true;
    }
    return false;
  };
  if (!namespaces.empty() && !any_glob(namespaces)) return false;
  return !any_glob(exclude_namespaces);
}

bool PodSelector::add_label(std::string_view key_value, std::string* error) {
  const size_t eq = key_value.find('=');
  if (eq == std::string_view::npos) {
    *error = "pod label '" + std::string(key_value) + "': must be KEY=VALUE";
    return false;
  }
  const std::string key(key_value.substr(0, eq));
  const std::string value(key_value.substr(eq + 1));
  // A label key is [prefix/]name: name up to 63 of [A-Za-z0-9._-], prefix a DNS subdomain.
  const size_t slash = key.rfind('/');
  const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  const bool name_ok = !name.empty() && name.size() <= 63 &&
                       name.find_first_not_of(
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                           "0123456789._-") == std::string::npos;
  const bool prefix_ok = slash == std::string::npos ||
                         (slash > 0 && slash <= 253 &&
                          key.substr(0, slash).find_first_not_of(
                              "abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos);
  if (!name_ok || !prefix_ok) {
    *error = "pod label '" + std::string(key_value) + "': '" + key + "' is not a label key";
    return false;
  }
  if (value.size() > 63) {
    *error = "pod label '" + std::string(key_value) + "': a label value is at most 63 characters";
    return false;
  }
  labels[key] = value;
  return true;
}

}  // namespace ztrace::k8s
