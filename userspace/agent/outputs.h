#pragma once

// Where spans go, from the flags over the OTEL_EXPORTER_OTLP_* environment over the config
// file's `export:` section. Resolved at start and again when a reload changes the section.

#include <memory>
#include <string>
#include <vector>

#include "userspace/agent/otlp_outputs.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/export/tenancy_config.h"
#include "userspace/sampling/agent_sections.h"

namespace ztrace::agent {

// What --no-console, --view, --jsonl and the --otlp-* flags said; they beat the file.
struct OutputFlags {
  bool no_console = false;
  bool view = false;
  std::string jsonl_path;
  otlp::OtlpFlags otlp;
};

struct Outputs {
  bool console = true;
  bool console_view = false;  // the console shows waterfalls (run --view), not span lines
  std::string jsonl_path;     // empty: no JSON lines file
  otlp::OtlpOptions otlp;     // .enabled: also export over OTLP
};

// False with `error` (naming the flag, variable or config key) when a value is invalid.
bool resolve_outputs(const OutputFlags& flags, const sampling::ExportFile& file,
                     const otlp::EnvLookup& env, const std::string& agent_version, Outputs* out,
                     std::string* error, std::vector<std::string>* warnings);

// The span processors of `outputs`: console and JSON lines each behind their own batch
// processor, OTLP (per tenant) batching itself. Empty, with `error`, when one cannot open.
std::vector<std::unique_ptr<exporter::SpanProcessor>> open_outputs(
    const Outputs& outputs, const exporter::TenancyConfig& tenancy, size_t queue_spans,
    std::string* error, std::vector<OtlpStatsOf>* otlp_stats);

}  // namespace ztrace::agent
