#include "userspace/sampling/settings_sources.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "userspace/common/duration.h"
#include "userspace/sampling/yaml_fields.h"

namespace ztrace::sampling {
namespace {

std::optional<double> parse_ratio(const std::string& text) {
  size_t used = 0;
  try {
    const double ratio = std::stod(text, &used);
    if (used == text.size() && ratio >= 0 && ratio <= 1) return ratio;
  } catch (...) {
  }
  return std::nullopt;
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
    if (!fields.known_keys(node, key + ".", {"service", "route", "threshold"})) return false;
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
bool read_tail(const YamlFields& fields, const YAML::Node& tail, TailSettings* out) {
  const std::string prefix = "tracing.sampling.tail.";
  std::optional<uint64_t> decision_wait, latency_threshold;
  std::optional<bool> keep_errors;
  if (!fields.duration_ns(tail, prefix, "decision_wait", 0, &decision_wait) ||
      !fields.duration_ns(tail, prefix, "latency_threshold", 0, &latency_threshold) ||
      !fields.boolean(tail, prefix, "keep_errors", &keep_errors) ||
      !read_latency_rules(fields, tail, &out->latency_rules)) {
    return false;
  }
  out->decision_wait_ns = decision_wait.value_or(out->decision_wait_ns);
  out->latency_threshold_ns = latency_threshold.value_or(out->latency_threshold_ns);
  out->keep_errors = keep_errors.value_or(out->keep_errors);
  return true;
}

// tracing.sampling.adaptive: nullopt in `out` when `enabled: false`.
bool read_adaptive(const YamlFields& fields, const YAML::Node& adaptive,
                   std::optional<AdaptiveSettings>* out) {
  const std::string prefix = "tracing.sampling.adaptive.";
  std::optional<bool> enabled;
  std::optional<uint64_t> latency_threshold, window;
  std::optional<double> error_rate, rate, budget;
  if (!fields.boolean(adaptive, prefix, "enabled", &enabled) ||
      !fields.duration_ns(adaptive, prefix, "latency_threshold", 0, &latency_threshold) ||
      !fields.duration_ns(adaptive, prefix, "window", 0, &window) ||
      !fields.number(adaptive, prefix, "error_rate", 0, 1, &error_rate) ||
      !fields.number(adaptive, prefix, "rate", 0, 1, &rate) ||
      !fields.number(adaptive, prefix, "max_traces_per_second", 0, 1e9, &budget)) {
    return false;
  }
  if (window && *window < 1'000'000'000) {
    return fields.fail(adaptive["window"], prefix + "window", "must be a duration of 1s or more");
  }
  AdaptiveSettings settings;
  settings.latency_threshold_ns = latency_threshold.value_or(settings.latency_threshold_ns);
  settings.window_ns = window.value_or(settings.window_ns);
  settings.error_rate_threshold = error_rate.value_or(settings.error_rate_threshold);
  settings.rate = rate.value_or(settings.rate);
  if (budget) settings.max_traces_per_second = static_cast<uint64_t>(*budget);
  *out = enabled.value_or(true) ? std::optional(settings) : std::nullopt;
  return true;
}

// tracing: {mode, sampling: {ratio, tail, adaptive}}
bool read_tracing(const YamlFields& fields, const YAML::Node& root, SettingsLayer* layer) {
  YAML::Node tracing, sampling, tail, adaptive;
  if (!fields.section(root, "", "tracing", {"mode", "sampling"}, &tracing)) return false;
  if (!tracing) return true;
  std::optional<std::string> mode;
  if (!fields.choice(tracing, "tracing.", "mode", {"off", "system-only", "hybrid", "full-e2e"},
                     &mode) ||
      !fields.section(tracing, "tracing.", "sampling", {"ratio", "tail", "adaptive"}, &sampling)) {
    return false;
  }
  if (mode) layer->mode = parse_mode(*mode);
  if (!sampling) return true;
  const std::string prefix = "tracing.sampling.";
  if (!fields.number(sampling, prefix, "ratio", 0, 1, &layer->ratio) ||
      !fields.section(
          sampling, prefix, "adaptive",
          {"enabled", "latency_threshold", "error_rate", "rate", "max_traces_per_second", "window"},
          &adaptive) ||
      !fields.section(sampling, prefix, "tail",
                      {"decision_wait", "keep_errors", "latency_threshold", "latency_rules"},
                      &tail)) {
    return false;
  }
  if (adaptive) {
    std::optional<AdaptiveSettings> settings;
    if (!read_adaptive(fields, adaptive, &settings)) return false;
    layer->adaptive = settings;
  }
  if (tail) {
    TailSettings settings;
    if (!read_tail(fields, tail, &settings)) return false;
    layer->tail = settings;
  }
  return true;
}

// api: {listen, token_file, metrics_listen}; probes.java_agent (the rest of probes: is
// read_agent_sections').
bool read_api_and_java(const YamlFields& fields, const YAML::Node& root, ConfigFile* config) {
  YAML::Node api;
  if (!fields.section(root, "", "api", {"listen", "token_file", "metrics_listen"}, &api)) {
    return false;
  }
  if (api) {
    if (!fields.text(api, "api.", "metrics_listen", &config->metrics_listen)) return false;
    if (const YAML::Node listen = api["listen"]) {
      if (!listen.IsScalar())
        return fields.fail(listen, "api.listen", "must be HOST:PORT, or \"\" for none");
      config->api_listen = listen.Scalar();
    }
    if (const YAML::Node token_file = api["token_file"]) {
      if (!token_file.IsScalar() || token_file.Scalar().empty())
        return fields.fail(token_file, "api.token_file", "must be a file path");
      config->api_token_file = token_file.Scalar();
    }
  }
  const YAML::Node probes = root["probes"];  // checked as a mapping by read_agent_sections
  return !probes || !probes.IsMap() ||
         fields.boolean(probes, "probes.", "java_agent", &config->java_agent);
}

// selection: (Kubernetes pods) and k8s:.
bool read_selection(const YamlFields& fields, const YAML::Node& root, ConfigFile* config) {
  YAML::Node k8s, selection;
  if (!fields.section(root, "", "k8s", {"enabled", "node_name"}, &k8s) ||
      !fields.section(
          root, "", "selection",
          {"k8s_pod_labels", "k8s_namespaces", "k8s_exclude_namespaces", "pids", "exe", "ports"},
          &selection)) {
    return false;
  }
  if (k8s) {
    std::optional<std::string> node_name;
    if (!fields.boolean(k8s, "k8s.", "enabled", &config->k8s_enabled) ||
        !fields.text(k8s, "k8s.", "node_name", &node_name)) {
      return false;
    }
    if (node_name) config->k8s_node_name = *node_name;
  }
  if (!selection) return true;
  const std::string prefix = "selection.";
  std::optional<std::vector<std::pair<std::string, std::string>>> labels;
  std::optional<std::vector<std::string>> namespaces, excluded;
  if (!fields.string_map(selection, prefix, "k8s_pod_labels", &labels,
                         "a mapping of label keys to values") ||
      !fields.strings(selection, prefix, "k8s_namespaces", &namespaces) ||
      !fields.strings(selection, prefix, "k8s_exclude_namespaces", &excluded)) {
    return false;
  }
  auto& pods = config->selection;
  for (auto& [key, value] : labels.value_or(decltype(labels)::value_type{})) {
    pods.k8s_pod_labels[key] = value;
  }
  if (namespaces) pods.k8s_namespaces = std::move(*namespaces);
  if (excluded) pods.k8s_exclude_namespaces = std::move(*excluded);
  return true;
}

// metrics: {max_series: N}
bool read_metrics(const YamlFields& fields, const YAML::Node& root, ConfigFile* config) {
  YAML::Node metrics;
  std::optional<uint64_t> max_series;
  if (!fields.section(root, "", "metrics", {"max_series"}, &metrics) ||
      (metrics &&
       !fields.whole_number(metrics, "metrics.", "max_series", 2, 1'000'000, &max_series))) {
    return false;
  }
  if (max_series) config->metrics_max_series = *max_series;
  return true;
}

std::optional<exporter::UnroutedPolicy> parse_policy(const std::string& word) {
  if (word == "default") return exporter::UnroutedPolicy::kDefault;
  if (word == "drop") return exporter::UnroutedPolicy::kDrop;
  return std::nullopt;
}

// export.otlp.tenants[i]: {name, namespaces, endpoint, headers, headers_file}
bool read_tenant(const YamlFields& fields, const YAML::Node& node, const std::string& key,
                 exporter::TenantConfig* out) {
  if (!node.IsMap()) return fields.fail(node, key, "must be a mapping");
  const std::string prefix = key + ".";
  if (!fields.known_keys(node, prefix,
                         {"name", "namespaces", "endpoint", "headers", "headers_file"})) {
    return false;
  }
  const YAML::Node name = node["name"];
  if (!name || !name.IsScalar() || name.Scalar().empty() ||
      name.Scalar().find_first_of(" \t/=") != std::string::npos) {
    return fields.fail(name ? name : node, prefix + "name",
                       "must be a name without spaces, '/' or '='");
  }
  out->name = name.Scalar();
  std::optional<std::vector<std::string>> namespaces;
  std::optional<std::vector<std::pair<std::string, std::string>>> headers;
  if (!fields.strings(node, prefix, "namespaces", &namespaces) ||
      !fields.string_map(node, prefix, "headers", &headers)) {
    return false;
  }
  if (!namespaces || namespaces->empty()) {
    const YAML::Node at = node["namespaces"];
    return fields.fail(at ? at : node, prefix + "namespaces",
                       "must list at least one namespace glob");
  }
  out->namespaces = std::move(*namespaces);
  for (auto& [header, value] : headers.value_or(decltype(headers)::value_type{})) {
    out->headers[header] = value;
  }
  for (const char* field : {"endpoint", "headers_file"}) {
    if (const YAML::Node value = node[field]) {
      if (!value.IsScalar() || value.Scalar().empty())
        return fields.fail(value, prefix + field, "must be a non-empty string");
      (std::string_view(field) == "endpoint" ? out->endpoint : out->headers_file) = value.Scalar();
    }
  }
  return true;
}

// export.otlp's tenants and policies (the sections' shapes and keys: read_agent_sections).
bool read_tenancy(const YamlFields& fields, const YAML::Node& root, ConfigFile* config) {
  const YAML::Node exports = root["export"];
  if (!exports || !exports.IsMap()) return true;
  const YAML::Node otlp = exports["otlp"];
  if (!otlp || !otlp.IsMap()) return true;
  auto& tenancy = config->tenancy;
  for (const char* key : {"unmatched_namespaces", "host_spans"}) {
    std::optional<std::string> word;
    if (!fields.choice(otlp, "export.otlp.", key, {"default", "drop"}, &word)) return false;
    if (!word) continue;
    (std::string_view(key) == "host_spans" ? tenancy.host_spans : tenancy.unmatched_namespaces) =
        *parse_policy(*word);
  }
  const YAML::Node tenants = otlp["tenants"];
  if (!tenants || tenants.IsNull()) return true;
  if (!tenants.IsSequence()) {
    return fields.fail(tenants, "export.otlp.tenants", "must be a list of tenants");
  }
  for (size_t i = 0; i < tenants.size(); ++i) {
    const std::string key = "export.otlp.tenants[" + std::to_string(i) + "]";
    exporter::TenantConfig tenant;
    if (!read_tenant(fields, tenants[i], key, &tenant)) return false;
    for (const auto& other : tenancy.tenants) {
      if (other.name == tenant.name)
        return fields.fail(tenants[i], key + ".name", "'" + tenant.name + "' is taken");
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
  if (root.IsNull()) return config;  // an empty file
  const YamlFields fields(path, error);
  if (!root.IsMap())
    return fields.fail(root, "(top level)", "must be a mapping of sections"), std::nullopt;
  if (!fields.known_keys(root, "",
                         {"tracing", "api", "selection", "k8s", "metrics", "probes", "export",
                          "capture", "log"}) ||
      !read_agent_sections(fields, root, &config.agent) || !read_tenancy(fields, root, &config) ||
      !read_metrics(fields, root, &config) || !read_selection(fields, root, &config) ||
      !read_api_and_java(fields, root, &config) || !read_tracing(fields, root, &config.tracing)) {
    return std::nullopt;
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
           a.kafka_probes != b.kafka_probes ||
           a.java_attach_timeout_ns != b.java_attach_timeout_ns || java_agent != other.java_agent,
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
