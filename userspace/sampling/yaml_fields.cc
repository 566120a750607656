#include "userspace/sampling/yaml_fields.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "userspace/common/duration.h"

namespace ztrace::sampling {

bool YamlFields::fail(const YAML::Node& node, const std::string& key,
                      const std::string& reason) const {
  // yaml-cpp's marks count lines from 0.
  *error_ = path_ + ":" + std::to_string(node.Mark().line + 1) + ": " + key + ": " + reason;
  return false;
}

bool YamlFields::known_keys(const YAML::Node& map, const std::string& prefix,
                            std::initializer_list<std::string_view> known) const {
  for (const auto& entry : map) {
    const std::string key = entry.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return fail(entry.first, prefix + key, "unknown key");
    }
  }
  return true;
}

bool YamlFields::section(const YAML::Node& parent, const std::string& prefix, const char* key,
                         std::initializer_list<std::string_view> known, YAML::Node* out) const {
  *out = YAML::Node(YAML::NodeType::Undefined);  // false, unlike YAML::Node() (a null node)
  const YAML::Node node = parent[key];
  const std::string name = prefix + key;
  if (!node || node.IsNull()) return true;
  if (!node.IsMap()) return fail(node, name, "must be a mapping");
  if (!known_keys(node, name + ".", known)) return false;
  *out = node;
  return true;
}

bool YamlFields::boolean(const YAML::Node& map, const std::string& prefix, const char* key,
                         std::optional<bool>* out) const {
  const YAML::Node node = map[key];
  if (!node) return true;
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return fail(node, prefix + key, "must be true or false");
  }
  *out = value;
  return true;
}

bool YamlFields::text(const YAML::Node& map, const std::string& prefix, const char* key,
                      std::optional<std::string>* out) const {
  const YAML::Node node = map[key];
  if (!node) return true;
  if (!node.IsScalar()) return fail(node, prefix + key, "must be a string");
  *out = node.Scalar();
  return true;
}

bool YamlFields::choice(const YAML::Node& map, const std::string& prefix, const char* key,
                        std::initializer_list<std::string_view> allowed,
                        std::optional<std::string>* out) const {
  const YAML::Node node = map[key];
  if (!node) return true;
  if (!node.IsScalar() ||
      std::find(allowed.begin(), allowed.end(), node.Scalar()) == allowed.end()) {
    std::string words;
    for (std::string_view word : allowed) words += (words.empty() ? "" : ", ") + std::string(word);
    return fail(node, prefix + key, "must be one of " + words);
  }
  *out = node.Scalar();
  return true;
}

bool YamlFields::duration_ns(const YAML::Node& map, const std::string& prefix, const char* key,
                             uint64_t min_ns, std::optional<uint64_t>* out) const {
  const YAML::Node node = map[key];
  if (!node) return true;
  const std::optional<uint64_t> ns =
      node.IsScalar() ? parse_duration_ns(node.Scalar()) : std::nullopt;
  if (!ns || *ns < min_ns) {
    return fail(node, prefix + key, "must be a duration such as 500ms, 5s or 1m");
  }
  *out = ns;
  return true;
}

bool YamlFields::number(const YAML::Node& map, const std::string& prefix, const char* key,
                        double min, double max, std::optional<double>* out) const {
  const YAML::Node node = map[key];
  if (!node) return true;
  double value = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !(value >= min) ||
      !(value <= max)) {
    char range[64];
    std::snprintf(range, sizeof(range), "must be a number from %g to %g", min, max);
    return fail(node, prefix + key, range);
  }
  *out = value;
  return true;
}

bool YamlFields::whole_number(const YAML::Node& map, const std::string& prefix, const char* key,
                              uint64_t min, uint64_t max, std::optional<uint64_t>* out) const {
  const YAML::Node node = map[key];
  if (!node) return true;
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return fail(
        node, prefix + key,
        "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  *out = value;
  return true;
}

bool YamlFields::strings(const YAML::Node& map, const std::string& prefix, const char* key,
                         std::optional<std::vector<std::string>>* out) const {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return true;
  std::vector<std::string> values;
  if (node.IsScalar()) {
    values.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) return fail(item, prefix + key, "must be a list of strings");
      values.push_back(item.Scalar());
    }
  } else {
    return fail(node, prefix + key, "must be a list of strings");
  }
  *out = std::move(values);
  return true;
}

bool YamlFields::string_map(const YAML::Node& map, const std::string& prefix, const char* key,
                            std::optional<std::vector<std::pair<std::string, std::string>>>* out,
                            const char* what) const {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return true;
  if (!node.IsMap()) return fail(node, prefix + key, std::string("must be ") + what);
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    if (!entry.second.IsScalar()) {
      return fail(entry.second, prefix + key + "." + name, "must be a string (quote \"true\")");
    }
    values.emplace_back(name, entry.second.Scalar());
  }
  *out = std::move(values);
  return true;
}

}  // namespace ztrace::sampling
