#pragma once

// Where the tracing settings come from, weakest first: the config file (`tracing:`), the
// OpenTelemetry environment (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG), the command line.

#include <map>
#include <optional>
#include <string>

#include "userspace/sampling/tracing_settings.h"

namespace ztrace::sampling {

// The settings one source gives; unset fields leave the weaker sources' values.
struct SettingsLayer {
  std::optional<TracingMode> mode;
  std::optional<double> ratio;
  std::optional<TailSettings> tail;  // the config file only
};

// A YAML config file (config/ztrace.example.yaml).
struct ConfigFile {
  SettingsLayer tracing;                  // tracing:
  std::optional<std::string> api_listen;  // api.listen: HOST:PORT, or "" for no control port
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
