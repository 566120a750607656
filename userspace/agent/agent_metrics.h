#pragma once

// What the agent says about itself on /metrics: the same counters as its log lines, under
// Prometheus names (ztrace_*), from a snapshot the pipeline thread publishes each second.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "userspace/agent/bpf_program_stats.h"
#include "userspace/agent/otlp_outputs.h"
#include "userspace/common/kernel_counters.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/export/otlp/otlp_stats.h"
#include "userspace/metrics/request_metrics.h"
#include "userspace/pipeline/event_pipeline.h"
#include "userspace/sampling/tracing_settings.h"

namespace ztrace::agent {

// The Kubernetes pod watcher's state (k8s/pod_watcher.h), copied.
struct K8sSnapshot {
  uint64_t pods = 0;
  bool connected = false;
  uint64_t lists = 0, watch_events = 0, bookmarks = 0, relists_gone = 0, errors = 0, malformed = 0,
           owner_lookups = 0, owner_errors = 0;
};

struct AgentSnapshot {
  pipeline::EventPipelineStats pipeline;
  metrics::RequestMetricsSnapshot request_metrics;  // span metrics and the service graph
  exporter::ExportStats exports;
  DropCounts kernel_drops;
  InjectOutcomeCounts injections;
  uint64_t intake_queue_drops = 0;
  std::vector<OtlpStatsOf> otlp;  // empty: OTLP off; else the agent's and each tenant's
  sampling::TracingSettings tracing;
  size_t sampling_rules = 0;           // on-demand rules in force
  size_t sampling_rule_processes = 0;  // processes with a rule's own threshold
  std::optional<K8sSnapshot> k8s;  // none: Kubernetes metadata off
  std::vector<BpfProgramStat> bpf_programs;  // counted while kernel.bpf_stats_enabled is 1
  std::vector<BpfMapMemory> bpf_maps;
  bool bpf_stats_enabled = false;
};

std::string render_metrics(const AgentSnapshot& snapshot, const std::string& version);
// {"mode":"hybrid","ratio":0.1,"tail":null,"rules":[...],"adaptive":null}; `rules_json`: a
// JSON array; `adaptive_json`: adaptive_status_json().
std::string render_tracing_status(const sampling::TracingSettings& tracing,
                                  const std::string& rules_json, const std::string& adaptive_json);
// null, or the settings and each watched service's window.
std::string adaptive_status_json(const sampling::AdaptiveSnapshot& adaptive);

}  // namespace ztrace::agent
