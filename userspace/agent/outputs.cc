#include "userspace/agent/outputs.h"

#include "userspace/export/batch_span_processor.h"
#include "userspace/export/console_exporter.h"
#include "userspace/export/jsonl_exporter.h"
#include "userspace/view/live_view_exporter.h"

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

std::vector<std::unique_ptr<exporter::SpanProcessor>> open_outputs(
    const Outputs& outputs, const exporter::TenancyConfig& tenancy, size_t queue_spans,
    std::string* error, std::vector<OtlpStatsOf>* otlp_stats) {
  const exporter::BatchOptions batch_options{.max_queue_spans = queue_spans};
  std::vector<std::unique_ptr<exporter::SpanProcessor>> exporters;
  if (outputs.console && outputs.console_view) {
    exporters.push_back(std::make_unique<exporter::BatchSpanProcessor>(
        std::make_unique<view::LiveViewExporter>(stdout, std::chrono::milliseconds(1000),
                                                 view::WaterfallOptions{}),
        batch_options));
  } else if (outputs.console) {
    exporters.push_back(std::make_unique<exporter::BatchSpanProcessor>(
        std::make_unique<exporter::ConsoleExporter>(), batch_options));
  }
  if (!outputs.jsonl_path.empty()) {
    auto jsonl = exporter::JsonlExporter::open(outputs.jsonl_path, error);
    if (!jsonl) return {};
    exporters.push_back(
        std::make_unique<exporter::BatchSpanProcessor>(std::move(jsonl), batch_options));
  }
  // OTLP only reads spans: first, so that the last processor takes each span without a copy.
  std::vector<std::unique_ptr<exporter::SpanProcessor>> otlp_outputs;
  if (!add_otlp_outputs(outputs.otlp, tenancy, otlp_outputs, *otlp_stats, error)) return {};
  exporters.insert(exporters.begin(), std::make_move_iterator(otlp_outputs.begin()),
                   std::make_move_iterator(otlp_outputs.end()));
  return exporters;
}

}  // namespace ztrace::agent
