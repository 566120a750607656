#include "userspace/agent/outputs.h"

namespace ztrace::agent {
namespace {

int64_t ms_of(uint64_t ns) { return static_cast<int64_t>(ns / 1'000'000); }

otlp::OtlpFileLayer otlp_layer_of(const sampling::OtlpFile& file) {
  otlp::OtlpFileLayer layer;
  layer.endpoint = file.endpoint.value_or("");
  layer.protocol = file.protocol.value_or("");
  if (file.headers) layer.headers = *file.headers;
  layer.compression = file.compression.value_or("");
  if (file.timeout_ns) layer.timeout_ms = ms_of(*file.timeout_ns);
  layer.ca_file = file.ca_file.value_or("");
  layer.client_cert_file = file.client_cert.value_or("");
  layer.client_key_file = file.client_key.value_or("");
  layer.insecure_skip_verify = file.insecure_skip_verify.value_or(false);
  layer.max_queue_spans = file.queue_spans;
  if (file.batch_delay_ns) layer.batch_delay_ms = ms_of(*file.batch_delay_ns);
  if (file.retry_max_ns) layer.max_retry_elapsed_ms = ms_of(*file.retry_max_ns);
  return layer;
}

}  // namespace

bool resolve_outputs(const OutputFlags& flags, const sampling::ExportFile& file,
                     const otlp::EnvLookup& env, const std::string& agent_version, Outputs* out,
                     std::string* error, std::vector<std::string>* warnings) {
  out->console = !flags.no_console && file.console.value_or(true);
  out->console_view = flags.view || file.console_view.value_or(false);
  out->jsonl_path = !flags.jsonl_path.empty() ? flags.jsonl_path : file.jsonl.value_or("");
  if (!otlp::resolve_options(flags.otlp, env, &out->otlp, error, warnings,
                             otlp_layer_of(file.otlp))) {
    return false;
  }
  out->otlp.agent_version = agent_version;
  return true;
}

}  // namespace ztrace::agent
