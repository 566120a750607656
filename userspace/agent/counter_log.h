#pragma once

// The agent's counter lines: every SIGUSR1 and stats interval (`counters:`, `links:`,
// `outputs:`, `otlp:`), and at exit the kernel's `injection:` and `go probes:` lines.
// README "Counters" documents them; tests read them.

#include <cstdint>

#include "userspace/agent/otlp_outputs.h"
#include "userspace/common/kernel_counters.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/export/otlp/otlp_exporter.h"
#include "userspace/pipeline/event_pipeline.h"

namespace ztrace::probes::go {
class GoTracer;
}
namespace ztrace::probes::openssl {
class OpenSslTracer;
}
namespace ztrace::probes::kafka {
class RdKafkaTracer;
}

namespace ztrace::agent {

void log_counters(const pipeline::EventPipelineStats& pipeline,
                  const exporter::ExportStats& export_stats, const DropCounts& kernel_drops,
                  uint64_t intake_queue_drops);
// `stats` null: OTLP is off.
// One `otlp:` line for the agent's exporter, one `otlp/TENANT:` line per tenant's.
void log_otlp_counters(const std::vector<OtlpStatsOf>& exporters);
void log_injection_counters(const InjectOutcomeCounts& outcomes);
void log_go_probe_counters(const probes::go::GoTracer& go_tracer);
void log_openssl_probe_counters(const probes::openssl::OpenSslTracer& tracer);
void log_rdkafka_probe_counters(const probes::kafka::RdKafkaTracer& tracer);

}  // namespace ztrace::agent
