#pragma once

// Where the tracing settings come from, weakest first: the config file (`tracing:`), the
// OpenTelemetry environment (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG), the command line.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "userspace/export/tenancy_config.h"
#include "userspace/sampling/agent_sections.h"
#include "userspace/sampling/tracing_settings.h"

namespace ztrace::sampling {

// The settings one source gives; unset fields leave the weaker sources' values.
struct SettingsLayer {
  std::optional<TracingMode> mode;
  std::optional<double> ratio;
  std::optional<TailSettings> tail;  // the config file only
  // The config file only; `enabled: false` gives the set nullopt (off).
  std::optional<std::optional<AdaptiveSettings>> adaptive;

  bool operator==(const SettingsLayer&) const = default;
};

// `selection:` of the config file: Kubernetes pods (the agent reads it at start).
struct SelectionFile {
  std::map<std::string, std::string> k8s_pod_labels;  // selection.k8s_pod_labels: {KEY: VALUE}
  std::vector<std::string> k8s_namespaces;            // selection.k8s_namespaces: [glob]
  std::vector<std::string> k8s_exclude_namespaces;    // selection.k8s_exclude_namespaces: [glob]

  bool operator==(const SelectionFile&) const = default;
};

// A YAML config file (config/ztrace.example.yaml).
struct ConfigFile {
  SettingsLayer tracing;                  // tracing:
  std::optional<std::string> api_listen;  // api.listen: HOST:PORT, or "" for no control port
  std::optional<std::string> metrics_listen;  // api.metrics_listen: /metrics on its own port
  // api.token_file: state-changing API requests need the token in its first line.
  std::optional<std::string> api_token_file;
  std::optional<size_t> metrics_max_series;  // metrics.max_series
  SelectionFile selection;
  std::optional<bool> k8s_enabled;  // k8s.enabled: pod metadata on resources
  std::string k8s_node_name;        // k8s.node_name (default: NODE_NAME, else the host name)
  std::optional<bool> java_agent;   // probes.java_agent: load the Java TLS agent into JVMs
  AgentSections agent;              // export:, capture:, probes:, log:, selection's processes
  exporter::TenancyConfig tenancy;  // export.otlp: tenants and where the rest goes

  // The sections a reload cannot apply, by name, where `other` differs ("capture", "api").
  std::vector<std::string> restart_only_changes(const ConfigFile& other) const;
};

// An invalid file gives nullopt and `error` as "FILE:LINE: KEY: reason"; a key this version
// does not know is an error, not ignored.
std::optional<ConfigFile> read_config_file(const std::string& path, std::string* error);

// OTEL_TRACES_SAMPLER (always_on, always_off, traceidratio and their parentbased_ forms: the
// agent is always parent based) with OTEL_TRACES_SAMPLER_ARG. Bad values: nullopt, `error`.
std::optional<SettingsLayer> read_sampler_env(const std::map<std::string, std::string>& env,
                                              std::string* error);

TracingSettings merge(const SettingsLayer& file, const SettingsLayer& env,
                      const SettingsLayer& flags);

}  // namespace ztrace::sampling
