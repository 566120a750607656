#include "userspace/sampling/settings_sources.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "userspace/common/duration.h"
#include "userspace/sampling/yaml_fields.h"

namespace ztrace::sampling {
namespace {

// "FILE:LINE: KEY: reason" (yaml-cpp's marks count lines from 0).
std::string at(const std::string& path, const YAML::Node& node, const std::string& key,
               const std::string& reason) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": " + key + ": " + reason;
}

std::optional<double> parse_ratio(const std::string& text) {
  size_t used = 0;
  try {
    const double ratio = std::stod(text, &used);
    if (used == text.size() && ratio >= 0 && ratio <= 1) return ratio;
  } catch (...) {
  }
  return std::nullopt;
}

// Every key of `map` must be one of `known` (a typo must not pass as a default).
bool only_known_keys(const std::string& path, const YAML::Node& map, const std::string& prefix,
                     std::initializer_list<std::string_view> known,
                     std::initializer_list<std::string_view> not_yet, std::string* error) {
  for (const auto& entry : map) {
    const std::string key = entry.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const bool later = std::find(not_yet.begin(), not_yet.end(), key) != not_yet.end();
    *error = at(path, entry.first, prefix + key,
                later ? "not supported by this version yet" : "unknown key");
    return false;
  }
  return true;
}

// tracing.sampling.tail.latency_rules: [{service: checkout, route: "/api/*", threshold: 200ms}]
bool read_latency_rules(const YamlFields& fields, const YAML::Node& tail,
                        std::vector<LatencyRule>* out) {
  const YAML::Node rules = tail["latency_rules"];
  const std::string key = "tracing.sampling.tail.latency_rules";
  if (!rules || rules.IsNull()) return true;
  if (!rules.IsSequence()) return fields.fail(rules, key, "must be a list of rules");
  for (const YAML::Node& node : rules) {
    if (!node.IsMap()) return fields.fail(node, key, "each rule must be a mapping");
    for (const auto& entry : node) {
      const std::string name = entry.first.as<std::string>();
      if (name != "service" && name != "route" && name != "threshold") {
        return fields.fail(entry.first, key + "." + name, "unknown key");
      }
    }
    std::optional<std::string> service, route;
    std::optional<uint64_t> threshold;
    if (!fields.text(node, key + ".", "service", &service) ||
        !fields.text(node, key + ".", "route", &route) ||
        !fields.duration_ns(node, key + ".", "threshold", 0, &threshold)) {
      return false;
    }
    if (!threshold) return fields.fail(node, key + ".threshold", "is required");
    if (!service && !route)
      return fields.fail(node, key, "a rule needs a service, a route or both");
    out->push_back({service.value_or(""), route.value_or(""), *threshold});
  }
  return true;
}

// tracing.sampling.tail: {decision_wait: 5s, keep_errors: true, latency_threshold: 1s}
bool read_tail(const std::string& path, const YAML::Node& tail, TailSettings* out,
               std::string* error) {
  if (!tail.IsMap()) {
    *error = at(path, tail, "tracing.sampling.tail", "must be a mapping");
    return false;
  }
  if (!only_known_keys(path, tail, "tracing.sampling.tail.",
                       {"decision_wait", "keep_errors", "latency_threshold", "latency_rules"}, {},
                       error)) {
    return false;
  }
  for (const char* key : {"decision_wait", "latency_threshold"}) {
    const YAML::Node node = tail[key];
    if (!node) continue;
    const std::optional<uint64_t> ns =
        node.IsScalar() ? parse_duration_ns(node.Scalar()) : std::nullopt;
    if (!ns) {
      *error = at(path, node, std::string("tracing.sampling.tail.") + key,
                  "must be a duration such as 500ms, 5s or 1m");
      return false;
    }
    (std::string_view(key) == "decision_wait" ? out->decision_wait_ns : out->latency_threshold_ns) =
        *ns;
  }
  if (const YAML::Node keep = tail["keep_errors"]) {
    bool value = false;
    if (!keep.IsScalar() || !YAML::convert<bool>::decode(keep, value)) {
      *error = at(path, keep, "tracing.sampling.tail.keep_errors", "must be true or false");
      return false;
    }
    out->keep_errors = value;
  }
  return read_latency_rules(YamlFields(path, error), tail, &out->latency_rules);
}

// A number in [min, max] at `key` of `node`, if there.
bool read_number(const std::string& path, const YAML::Node& node, const std::string& key,
                 double min, double max, double* out, std::string* error) {
  const YAML::Node value = node[key];
  if (!value) return true;
  double number = 0;
  if (!value.IsScalar() || !YAML::convert<double>::decode(value, number) || !(number >= min) ||
      !(number <= max)) {
    char range[64];
    std::snprintf(range, sizeof(range), "must be a number from %g to %g", min, max);
    *error = at(path, value, "tracing.sampling.adaptive." + key, range);
    return false;
  }
  *out = number;
  return true;
}

bool read_adaptive(const std::string& path, const YAML::Node& adaptive,
                   std::optional<AdaptiveSettings>* out, std::string* error) {
  const std::string prefix = "tracing.sampling.adaptive.";
  if (!adaptive.IsMap()) {
    *error = at(path, adaptive, "tracing.sampling.adaptive", "must be a mapping");
    return false;
  }
  if (!only_known_keys(
          path, adaptive, prefix,
          {"enabled", "latency_threshold", "error_rate", "rate", "max_traces_per_second", "window"},
          {}, error)) {
    return false;
  }
  bool enabled = true;
  if (const YAML::Node node = adaptive["enabled"]) {
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, enabled)) {
      *error = at(path, node, prefix + "enabled", "must be true or false");
      return false;
    }
  }
  AdaptiveSettings settings;
  for (const char* key : {"latency_threshold", "window"}) {
    const YAML::Node node = adaptive[key];
    if (!node) continue;
    const std::optional<uint64_t> ns =
        node.IsScalar() ? parse_duration_ns(node.Scalar()) : std::nullopt;
    const bool window = std::string_view(key) == "window";
    if (!ns || (window && *ns < 1'000'000'000)) {
      *error = at(path, node, prefix + key,
                  window ? "must be a duration of 1s or more" : "must be a duration such as 500ms");
      return false;
    }
    (window ? settings.window_ns : settings.latency_threshold_ns) = *ns;
  }
  double budget = 0;
  if (!read_number(path, adaptive, "error_rate", 0, 1, &settings.error_rate_threshold, error) ||
      !read_number(path, adaptive, "rate", 0, 1, &settings.rate, error) ||
      !read_number(path, adaptive, "max_traces_per_second", 0, 1e9, &budget, error)) {
    return false;
  }
  settings.max_traces_per_second = static_cast<uint64_t>(budget);
  *out = enabled ? std::optional(settings) : std::nullopt;
  return true;
}

// A list of strings (a single string is a list of one).
bool string_list(const std::string& path, const YAML::Node& node, const std::string& key,
                 std::vector<std::string>& out, std::string* error) {
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return true;
  }
  if (!node.IsSequence()) {
    *error = at(path, node, key, "must be a list of strings");
    return false;
  }
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) {
      *error = at(path, item, key, "must be a list of strings");
      return false;
    }
    out.push_back(item.Scalar());
  }
  return true;
}

// selection: (Kubernetes pods) and k8s:.
bool read_selection(const std::string& path, const YAML::Node& root, ConfigFile& config,
                    std::string* error) {
  if (const YAML::Node k8s = root["k8s"]) {
    if (!k8s.IsMap()) return *error = at(path, k8s, "k8s", "must be a mapping"), false;
    if (!only_known_keys(path, k8s, "k8s.", {"enabled", "node_name"}, {}, error)) return false;
    if (const YAML::Node enabled = k8s["enabled"]) {
      bool value = false;
      if (!enabled.IsScalar() || !YAML::convert<bool>::decode(enabled, value)) {
        return *error = at(path, enabled, "k8s.enabled", "must be true or false"), false;
      }
      config.k8s_enabled = value;
    }
    if (const YAML::Node node = k8s["node_name"]) {
      if (!node.IsScalar())
        return *error = at(path, node, "k8s.node_name", "must be a string"), false;
      config.k8s_node_name = node.Scalar();
    }
  }
  const YAML::Node selection = root["selection"];
  if (!selection || selection.IsNull()) return true;
  if (!selection.IsMap())
    return *error = at(path, selection, "selection", "must be a mapping"), false;
  if (!only_known_keys(
          path, selection, "selection.",
          {"k8s_pod_labels", "k8s_namespaces", "k8s_exclude_namespaces", "pids", "exe", "ports"},
          {}, error)) {
    return false;
  }
  if (const YAML::Node labels = selection["k8s_pod_labels"]; labels && !labels.IsNull()) {
    if (!labels.IsMap()) {
      return *error = at(path, labels, "selection.k8s_pod_labels",
                         "must be a mapping of label keys to values"),
             false;
    }
    for (const auto& entry : labels) {
      if (!entry.second.IsScalar()) {
        return *error = at(path, entry.second,
                           "selection.k8s_pod_labels." + entry.first.as<std::string>(),
                           "must be a string (quote \"true\")"),
               false;
      }
      config.selection.k8s_pod_labels[entry.first.as<std::string>()] = entry.second.Scalar();
    }
  }
  if (const YAML::Node ns = selection["k8s_namespaces"]; ns && !ns.IsNull()) {
    if (!string_list(path, ns, "selection.k8s_namespaces", config.selection.k8s_namespaces,
                     error)) {
      return false;
    }
  }
  if (const YAML::Node ns = selection["k8s_exclude_namespaces"]; ns && !ns.IsNull()) {
    if (!string_list(path, ns, "selection.k8s_exclude_namespaces",
                     config.selection.k8s_exclude_namespaces, error)) {
      return false;
    }
  }
  return true;
}

// metrics: {max_series: N}
bool read_metrics(const std::string& path, const YAML::Node& root, ConfigFile& config,
                  std::string* error) {
  const YAML::Node metrics = root["metrics"];
  if (!metrics) return true;
  if (!metrics.IsMap()) return *error = at(path, metrics, "metrics", "must be a mapping"), false;
  if (!only_known_keys(path, metrics, "metrics.", {"max_series"}, {}, error)) return false;
  if (const YAML::Node max = metrics["max_series"]) {
    const std::string text = max.IsScalar() ? max.Scalar() : "";
    size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 2 ||
        value > 1000000) {
      return *error = at(path, max, "metrics.max_series",
                         "must be a whole number from 2 to "
                         "1000000"),
             false;
    }
    config.metrics_max_series = value;
  }
  return true;
}

std::optional<exporter::UnroutedPolicy> parse_policy(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  if (node.Scalar() == "default") return exporter::UnroutedPolicy::kDefault;
  if (node.Scalar() == "drop") return exporter::UnroutedPolicy::kDrop;
  return std::nullopt;
}

// export.otlp.tenants[i]: {name, namespaces, endpoint, headers, headers_file}
bool read_tenant(const std::string& path, const YAML::Node& node, const std::string& key,
                 exporter::TenantConfig* out, std::string* error) {
  if (!node.IsMap()) return *error = at(path, node, key, "must be a mapping"), false;
  if (!only_known_keys(path, node, key + ".",
                       {"name", "namespaces", "endpoint", "headers", "headers_file"}, {}, error)) {
    return false;
  }
  const YAML::Node name = node["name"];
  if (!name || !name.IsScalar() || name.Scalar().empty() ||
      name.Scalar().find_first_of(" \t/=") != std::string::npos) {
    return *error = at(path, name ? name : node, key + ".name",
                       "must be a name without spaces, '/' or '='"),
           false;
  }
  out->name = name.Scalar();
  const YAML::Node namespaces = node["namespaces"];
  const std::string namespaces_key = key + ".namespaces";
  if (namespaces && !namespaces.IsNull() &&
      !string_list(path, namespaces, namespaces_key, out->namespaces, error)) {
    return false;
  }
  if (out->namespaces.empty()) {
    return *error = at(path, namespaces ? namespaces : node, namespaces_key,
                       "must list at least one namespace glob"),
           false;
  }
  for (const char* field : {"endpoint", "headers_file"}) {
    if (const YAML::Node value = node[field]) {
      if (!value.IsScalar() || value.Scalar().empty()) {
        return *error = at(path, value, key + "." + field, "must be a non-empty string"), false;
      }
      (std::string_view(field) == "endpoint" ? out->endpoint : out->headers_file) = value.Scalar();
    }
  }
  if (const YAML::Node headers = node["headers"]; headers && !headers.IsNull()) {
    if (!headers.IsMap()) {
      return *error = at(path, headers, key + ".headers", "must be a mapping of names to values"),
             false;
    }
    for (const auto& entry : headers) {
      if (!entry.second.IsScalar()) {
        return *error = at(path, entry.second, key + ".headers." + entry.first.as<std::string>(),
                           "must be a string"),
               false;
      }
      out->headers[entry.first.as<std::string>()] = entry.second.Scalar();
    }
  }
  return true;
}

// export.otlp's tenants and policies (the sections' shapes and keys: read_agent_sections).
bool read_tenancy(const std::string& path, const YAML::Node& root, ConfigFile& config,
                  std::string* error) {
  const YAML::Node exports = root["export"];
  if (!exports || !exports.IsMap()) return true;
  const YAML::Node otlp = exports["otlp"];
  if (!otlp || !otlp.IsMap()) return true;
  auto& tenancy = config.tenancy;
  for (const char* key : {"unmatched_namespaces", "host_spans"}) {
    const YAML::Node node = otlp[key];
    if (!node) continue;
    const auto policy = parse_policy(node);
    if (!policy) {
      return *error = at(path, node, std::string("export.otlp.") + key, "must be default or drop"),
             false;
    }
    (std::string_view(key) == "host_spans" ? tenancy.host_spans : tenancy.unmatched_namespaces) =
        *policy;
  }
  const YAML::Node tenants = otlp["tenants"];
  if (!tenants || tenants.IsNull()) return true;
  if (!tenants.IsSequence()) {
    return *error = at(path, tenants, "export.otlp.tenants", "must be a list of tenants"), false;
  }
  for (size_t i = 0; i < tenants.size(); ++i) {
    const std::string key = "export.otlp.tenants[" + std::to_string(i) + "]";
    exporter::TenantConfig tenant;
    if (!read_tenant(path, tenants[i], key, &tenant, error)) return false;
    for (const auto& other : tenancy.tenants) {
      if (other.name == tenant.name) {
        return *error = at(path, tenants[i], key + ".name", "'" + tenant.name + "' is taken"),
               false;
      }
    }
    tenancy.tenants.push_back(std::move(tenant));
  }
  return true;
}

}  // namespace

std::optional<ConfigFile> read_config_file(const std::string& path, std::string* error) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    *error = path + ": cannot read the file";
    return std::nullopt;
  } catch (const YAML::ParserException& e) {
    *error = path + ":" + std::to_string(e.mark.line + 1) + ": not YAML: " + e.msg;
    return std::nullopt;
  }
  ConfigFile config;
  SettingsLayer& layer = config.tracing;
  if (root.IsNull()) return config;  // an empty file
  if (!root.IsMap()) {
    *error = at(path, root, "(top level)", "must be a mapping of sections");
    return std::nullopt;
  }
  if (!only_known_keys(
          path, root, "",
          {"tracing", "api", "selection", "k8s", "metrics", "probes", "export", "capture", "log"},
          {}, error)) {
    return std::nullopt;
  }
  if (!read_agent_sections(YamlFields(path, error), root, &config.agent)) return std::nullopt;
  if (!read_tenancy(path, root, config, error)) return std::nullopt;
  if (!read_metrics(path, root, config, error)) return std::nullopt;
  if (!read_selection(path, root, config, error)) return std::nullopt;
  if (const YAML::Node api = root["api"]) {
    if (!api.IsMap()) {
      *error = at(path, api, "api", "must be a mapping");
      return std::nullopt;
    }
    if (!only_known_keys(path, api, "api.", {"listen", "token_file", "metrics_listen"}, {},
                         error) ||
        !YamlFields(path, error).text(api, "api.", "metrics_listen", &config.metrics_listen)) {
      return std::nullopt;
    }
    if (const YAML::Node listen = api["listen"]) {
      if (!listen.IsScalar()) {
        *error = at(path, listen, "api.listen", "must be HOST:PORT, or \"\" for none");
        return std::nullopt;
      }
      config.api_listen = listen.Scalar();
    }
    if (const YAML::Node token_file = api["token_file"]) {
      if (!token_file.IsScalar() || token_file.Scalar().empty()) {
        *error = at(path, token_file, "api.token_file", "must be a file path");
        return std::nullopt;
      }
      config.api_token_file = token_file.Scalar();
    }
  }
  // probes: was checked as a mapping by read_agent_sections.
  if (const YAML::Node probes = root["probes"];
      probes && probes.IsMap() &&
      !YamlFields(path, error).boolean(probes, "probes.", "java_agent", &config.java_agent)) {
    return std::nullopt;
  }
  const YAML::Node tracing = root["tracing"];
  if (!tracing) return config;
  if (!tracing.IsMap()) {
    *error = at(path, tracing, "tracing", "must be a mapping");
    return std::nullopt;
  }
  if (!only_known_keys(path, tracing, "tracing.", {"mode", "sampling"}, {}, error)) {
    return std::nullopt;
  }
  if (const YAML::Node mode = tracing["mode"]) {
    layer.mode = mode.IsScalar() ? parse_mode(mode.Scalar()) : std::nullopt;
    if (!layer.mode) {
      *error = at(path, mode, "tracing.mode", "must be one of off, system-only, hybrid, full-e2e");
      return std::nullopt;
    }
  }
  if (const YAML::Node sampling = tracing["sampling"]) {
    if (!sampling.IsMap()) {
      *error = at(path, sampling, "tracing.sampling", "must be a mapping");
      return std::nullopt;
    }
    if (!only_known_keys(path, sampling, "tracing.sampling.", {"ratio", "tail", "adaptive"}, {},
                         error)) {
      return std::nullopt;
    }
    if (const YAML::Node adaptive = sampling["adaptive"]) {
      std::optional<AdaptiveSettings> settings;
      if (!read_adaptive(path, adaptive, &settings, error)) return std::nullopt;
      layer.adaptive = settings;
    }
    if (const YAML::Node tail = sampling["tail"]) {
      TailSettings settings;
      if (!read_tail(path, tail, &settings, error)) return std::nullopt;
      layer.tail = settings;
    }
    if (const YAML::Node ratio = sampling["ratio"]) {
      layer.ratio = ratio.IsScalar() ? parse_ratio(ratio.Scalar()) : std::nullopt;
      if (!layer.ratio) {
        *error = at(path, ratio, "tracing.sampling.ratio", "must be a number from 0 to 1");
        return std::nullopt;
      }
    }
  }
  return config;
}

std::vector<std::string> ConfigFile::restart_only_changes(const ConfigFile& other) const {
  std::vector<std::string> changed;
  const auto note = [&](bool differs, const char* section) {
    if (differs) changed.emplace_back(section);
  };
  const StartFile& a = agent.start;
  const StartFile& b = other.agent.start;
  note(a.max_capture_bytes != b.max_capture_bytes || a.ring_buffer_bytes != b.ring_buffer_bytes ||
           a.max_connections != b.max_connections || a.url_query != b.url_query,
       "capture");
  note(a.inject != b.inject || a.go_probes != b.go_probes || a.openssl_probes != b.openssl_probes ||
           a.kafka_probes != b.kafka_probes || java_agent != other.java_agent,
       "probes");
  note(a.log_level != b.log_level || a.stats_interval_ns != b.stats_interval_ns, "log");
  note(a.pids != b.pids || a.exe_globs != b.exe_globs || a.ports != b.ports ||
           !(selection == other.selection),
       "selection");
  note(api_listen != other.api_listen || api_token_file != other.api_token_file ||
           metrics_listen != other.metrics_listen,
       "api");
  note(metrics_max_series != other.metrics_max_series, "metrics");
  note(k8s_enabled != other.k8s_enabled || k8s_node_name != other.k8s_node_name, "k8s");
  return changed;
}

std::optional<SettingsLayer> read_sampler_env(const std::map<std::string, std::string>& env,
                                              std::string* error) {
  SettingsLayer layer;
  const auto sampler = env.find("OTEL_TRACES_SAMPLER");
  if (sampler == env.end() || sampler->second.empty()) return layer;
  std::string name = sampler->second;
  if (name.starts_with("parentbased_")) name = name.substr(12);
  if (name == "always_on") {
    layer.mode = TracingMode::kFullE2e;
  } else if (name == "always_off") {
    layer.mode = TracingMode::kHybrid;
    layer.ratio = 0;
  } else if (name == "traceidratio") {
    layer.mode = TracingMode::kHybrid;
    const auto arg = env.find("OTEL_TRACES_SAMPLER_ARG");
    layer.ratio =
        arg == env.end() || arg->second.empty() ? 1.0 : parse_ratio(arg->second).value_or(-1);
    if (*layer.ratio < 0) {
      *error = "OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, not '" + arg->second + "'";
      return std::nullopt;
    }
  } else {
    *error = "OTEL_TRACES_SAMPLER: '" + sampler->second +
             "' is not always_on, always_off, traceidratio or a parentbased_ form of them";
    return std::nullopt;
  }
  return layer;
}

TracingSettings merge(const SettingsLayer& file, const SettingsLayer& env,
                      const SettingsLayer& flags) {
  TracingSettings settings;
  for (const SettingsLayer* layer : {&file, &env, &flags}) {
    if (layer->mode) settings.mode = *layer->mode;
    if (layer->ratio) settings.ratio = *layer->ratio;
    if (layer->tail) settings.tail = *layer->tail;
    if (layer->adaptive) settings.adaptive = *layer->adaptive;
  }
  return settings;
}

}  // namespace ztrace::sampling
