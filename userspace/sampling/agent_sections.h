#pragma once

// The config file's sections about the agent itself, beside `tracing:`: where spans go
// (`export:`), what is captured (`capture:`), which probes attach (`probes:`), logging (`log:`)
// and the process rules of `selection:`. Every key has a flag of the same meaning (README
// "Configuration"); unset fields leave the environment's or the default value.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "userspace/sampling/yaml_fields.h"

namespace ztrace::sampling {

// export.otlp: as the OTEL_EXPORTER_OTLP_* variables and the --otlp-* flags.
struct OtlpFile {
  std::optional<std::string> endpoint;
  std::optional<std::string> protocol;  // grpc | http/protobuf
  std::optional<std::vector<std::pair<std::string, std::string>>> headers;
  std::optional<std::string> compression;  // gzip | none
  std::optional<uint64_t> timeout_ns;
  std::optional<std::string> ca_file;
  std::optional<std::string> client_cert;
  std::optional<std::string> client_key;
  std::optional<bool> insecure_skip_verify;
  std::optional<uint64_t> queue_spans;
  std::optional<uint64_t> batch_delay_ns;
  std::optional<uint64_t> retry_max_ns;

  bool operator==(const OtlpFile&) const = default;
};

// export: a reload that changes it replaces the exporters.
struct ExportFile {
  std::optional<bool> console;
  std::optional<bool> console_view;
  std::optional<std::string> jsonl;
  OtlpFile otlp;

  bool operator==(const ExportFile&) const = default;
};

// capture:, probes: and log: are read at start; a reload that changes them says so.
struct StartFile {
  std::optional<uint64_t> max_capture_bytes;
  std::optional<uint64_t> ring_buffer_bytes;
  std::optional<uint64_t> max_connections;
  std::optional<bool> url_query;
  std::optional<bool> inject;
  std::optional<bool> go_probes;
  std::optional<bool> openssl_probes;
  std::optional<uint64_t> java_attach_timeout_ns;
  std::optional<bool> kafka_probes;
  std::optional<std::string> log_level;
  std::optional<uint64_t> stats_interval_ns;
  // selection: (processes; the pod rules are in SelectionFile)
  std::optional<std::vector<int>> pids;
  std::optional<std::vector<std::string>> exe_globs;
  std::optional<std::vector<int>> ports;

  bool operator==(const StartFile&) const = default;
};

struct AgentSections {
  ExportFile exports;
  StartFile start;

  bool operator==(const AgentSections&) const = default;
};

// Reads export:, capture:, probes: (all but java_agent), log: and selection's pids, exe and
// ports; false with the fields' error on a bad value.
bool read_agent_sections(const YamlFields& fields, const YAML::Node& root, AgentSections* out);

}  // namespace ztrace::sampling
