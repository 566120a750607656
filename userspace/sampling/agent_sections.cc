#include "userspace/sampling/agent_sections.h"

#include <charconv>

namespace ztrace::sampling {
namespace {

bool read_otlp(const YamlFields& fields, const YAML::Node& exports, OtlpFile* out) {
  YAML::Node otlp;
  if (!fields.section(
          exports, "export.", "otlp",
          {"endpoint", "protocol", "headers", "compression", "timeout", "ca_file", "client_cert",
           "client_key", "insecure_skip_verify", "queue_spans", "batch_delay", "retry_max",
           // multi-tenancy, read by read_tenancy (settings_sources.cc)
           "tenants", "unmatched_namespaces", "host_spans"},
          &otlp)) {
    return false;
  }
  if (!otlp) return true;
  const std::string p = "export.otlp.";
  return fields.text(otlp, p, "endpoint", &out->endpoint) &&
         fields.choice(otlp, p, "protocol", {"grpc", "http/protobuf"}, &out->protocol) &&
         fields.string_map(otlp, p, "headers", &out->headers) &&
         fields.choice(otlp, p, "compression", {"gzip", "none"}, &out->compression) &&
         fields.duration_ns(otlp, p, "timeout", 1'000'000, &out->timeout_ns) &&
         fields.text(otlp, p, "ca_file", &out->ca_file) &&
         fields.text(otlp, p, "client_cert", &out->client_cert) &&
         fields.text(otlp, p, "client_key", &out->client_key) &&
         fields.boolean(otlp, p, "insecure_skip_verify", &out->insecure_skip_verify) &&
         fields.whole_number(otlp, p, "queue_spans", 1, 100'000'000, &out->queue_spans) &&
         fields.duration_ns(otlp, p, "batch_delay", 1'000'000, &out->batch_delay_ns) &&
         fields.duration_ns(otlp, p, "retry_max", 0, &out->retry_max_ns);
}

bool read_export(const YamlFields& fields, const YAML::Node& root, ExportFile* out) {
  YAML::Node exports;
  if (!fields.section(root, "", "export", {"console", "view", "jsonl", "otlp"}, &exports))
    return false;
  if (!exports) return true;
  return fields.boolean(exports, "export.", "console", &out->console) &&
         fields.boolean(exports, "export.", "view", &out->console_view) &&
         fields.text(exports, "export.", "jsonl", &out->jsonl) &&
         read_otlp(fields, exports, &out->otlp);
}

// Whole numbers in [min, max], as a list (one number is a list of one).
bool numbers(const YamlFields& fields, const YAML::Node& map, const std::string& prefix,
             const char* key, int min, int max, std::optional<std::vector<int>>* out) {
  std::optional<std::vector<std::string>> texts;
  if (!fields.strings(map, prefix, key, &texts)) return false;
  if (!texts) return true;
  std::vector<int> values;
  for (const std::string& text : *texts) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
      return fields.fail(
          map[key], prefix + key,
          "must be whole numbers from " + std::to_string(min) + " to " + std::to_string(max));
    }
    values.push_back(value);
  }
  *out = std::move(values);
  return true;
}

bool read_start(const YamlFields& fields, const YAML::Node& root, StartFile* out) {
  YAML::Node capture, probes, log;
  if (!fields.section(root, "", "capture",
                      {"max_capture_bytes", "ring_buffer_bytes", "max_connections", "url_query"},
                      &capture) ||
      !fields.section(root, "", "probes",
                      {"go", "openssl", "kafka", "java_agent", "java_attach_timeout", "inject"},
                      &probes) ||
      !fields.section(root, "", "log", {"level", "stats_interval"}, &log)) {
    return false;
  }
  if (capture) {
    const std::string p = "capture.";
    if (!fields.whole_number(capture, p, "max_capture_bytes", 4096, 65536,
                             &out->max_capture_bytes) ||
        !fields.whole_number(capture, p, "ring_buffer_bytes", 1u << 16, 1u << 30,
                             &out->ring_buffer_bytes) ||
        !fields.whole_number(capture, p, "max_connections", 1, 10'000'000, &out->max_connections) ||
        !fields.boolean(capture, p, "url_query", &out->url_query)) {
      return false;
    }
  }
  if (probes && (!fields.boolean(probes, "probes.", "go", &out->go_probes) ||
                 !fields.boolean(probes, "probes.", "openssl", &out->openssl_probes) ||
                 !fields.boolean(probes, "probes.", "kafka", &out->kafka_probes) ||
                 !fields.boolean(probes, "probes.", "inject", &out->inject) ||
                 !fields.duration_ns(probes, "probes.", "java_attach_timeout", 1'000'000,
                                     &out->java_attach_timeout_ns))) {
    return false;
  }
  if (log && (!fields.choice(log, "log.", "level", {"trace", "debug", "info", "warn", "error"},
                             &out->log_level) ||
              !fields.duration_ns(log, "log.", "stats_interval", 0, &out->stats_interval_ns))) {
    return false;
  }
  const YAML::Node selection = root["selection"];
  if (!selection || !selection.IsMap()) return true;  // its shape is checked with the pod rules
  return numbers(fields, selection, "selection.", "pids", 1, 1 << 22, &out->pids) &&
         fields.strings(selection, "selection.", "exe", &out->exe_globs) &&
         numbers(fields, selection, "selection.", "ports", 1, 65535, &out->ports);
}

}  // namespace

bool read_agent_sections(const YamlFields& fields, const YAML::Node& root, AgentSections* out) {
  return read_export(fields, root, &out->exports) && read_start(fields, root, &out->start);
}

}  // namespace ztrace::sampling
