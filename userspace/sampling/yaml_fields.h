#pragma once

// Typed reads of a config file's YAML keys. Every failure becomes one message,
// "FILE:LINE: KEY: reason", so an operator sees which line to fix; absent keys leave the
// output untouched (the weaker source's value stands).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ztrace::sampling {

class YamlFields {
 public:
  YamlFields(std::string path, std::string* error) : path_(std::move(path)), error_(error) {}

  // Sets the error at `node`'s line; always false, to return it.
  bool fail(const YAML::Node& node, const std::string& key, const std::string& reason) const;

  // Every key of `map` (named `prefix + key`) is one of `known`: a typo must not pass as a
  // default.
  bool known_keys(const YAML::Node& map, const std::string& prefix,
                  std::initializer_list<std::string_view> known) const;

  // The section `key` of `parent` (named `prefix + key`) as a mapping whose keys are all in
  // `known`: a typo must not pass as a default. `out` is undefined (false) when the section is
  // absent or empty; false on an error.
  bool section(const YAML::Node& parent, const std::string& prefix, const char* key,
               std::initializer_list<std::string_view> known, YAML::Node* out) const;

  // Each reads `map[key]`, named `prefix + key` in errors, if there.
  bool boolean(const YAML::Node& map, const std::string& prefix, const char* key,
               std::optional<bool>* out) const;
  bool text(const YAML::Node& map, const std::string& prefix, const char* key,
            std::optional<std::string>* out) const;
  // A word of `allowed`.
  bool choice(const YAML::Node& map, const std::string& prefix, const char* key,
              std::initializer_list<std::string_view> allowed,
              std::optional<std::string>* out) const;
  // A duration such as 500ms, 5s or 1m, of at least `min_ns`.
  bool duration_ns(const YAML::Node& map, const std::string& prefix, const char* key,
                   uint64_t min_ns, std::optional<uint64_t>* out) const;
  // A number from `min` to `max`.
  bool number(const YAML::Node& map, const std::string& prefix, const char* key, double min,
              double max, std::optional<double>* out) const;
  bool whole_number(const YAML::Node& map, const std::string& prefix, const char* key, uint64_t min,
                    uint64_t max, std::optional<uint64_t>* out) const;
  // A list of strings; a single string is a list of one.
  bool strings(const YAML::Node& map, const std::string& prefix, const char* key,
               std::optional<std::vector<std::string>>* out) const;
  // A mapping of strings to strings, in file order; `what` names it in the error.
  bool string_map(const YAML::Node& map, const std::string& prefix, const char* key,
                  std::optional<std::vector<std::pair<std::string, std::string>>>* out,
                  const char* what = "a mapping of names to strings") const;

 private:
  std::string path_;
  std::string* error_;
};

}  // namespace ztrace::sampling
