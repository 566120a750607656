#include "userspace/agent/agent_metrics.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "userspace/conntrack/protocols.h"
#include "userspace/control/metrics_text.h"
#include "userspace/control/request_metrics_text.h"

namespace ztrace::agent {
namespace {

using control::MetricsText;

// One counter family with a label naming each counter of a NamedCounters group.
template <typename Counters>
void labelled_counters(MetricsText& m, std::string_view name, std::string_view help,
                       std::string_view label, const Counters& counters) {
  m.counter(name, help);
  counters.for_each([&](std::string_view counter, uint64_t value) {
    m.sample(name, static_cast<double>(value), {{std::string(label), std::string(counter)}});
  });
}

void connection_metrics(MetricsText& m, const conntrack::ConnectionTableStats& c) {
  m.counter("ztrace_connections_total", "Connection events of the traced sockets");
  c.for_each([&](std::string_view counter, uint64_t value) {
    if (counter == "active") return;  // a gauge, below
    m.sample("ztrace_connections_total", value, {{"event", std::string(counter)}});
  });
  m.gauge("ztrace_connections_active", "Connections tracked now")
      .sample("ztrace_connections_active", c.connections_active);
  m.counter("ztrace_protocol_events_total",
            "What each protocol's parsers counted (connections, failures, skips), open "
            "connections included");
  conntrack::Protocols::for_each([&]<typename Protocol>() {
    c.template of<Protocol>().for_each([&](std::string_view counter, uint64_t value) {
      m.sample("ztrace_protocol_events_total", value,
               {{"protocol", std::string(Protocol::kName)}, {"counter", std::string(counter)}});
    });
  });
}

void export_metrics(MetricsText& m, const exporter::ExportStats& e) {
  m.counter("ztrace_spans_handed_total", "Spans handed to every output")
      .sample("ztrace_spans_handed_total", e.spans_handed);
  m.counter("ztrace_output_spans_total",
            "Per output, what became of the spans it was handed (accepted, write_failed, "
            "refused, ...)");
  for (const auto& output : e.processors) {
    output.for_each([&](std::string_view counter, uint64_t value) {
      m.sample("ztrace_output_spans_total", value,
               {{"output", output.name}, {"outcome", std::string(counter)}});
    });
  }
}

// Each exporter's samples; a tenant's carry its name (label `tenant`).
void otlp_metrics(MetricsText& m, const std::vector<OtlpStatsOf>& exporters) {
  const auto labels = [](const OtlpStatsOf& e, control::Labels more) {
    if (!e.tenant.empty()) more.emplace_back("tenant", e.tenant);
    return more;
  };
  m.counter("ztrace_otlp_spans_total", "OTLP exporter: spans by outcome");
  for (const auto& e : exporters) {
    const otlp::OtlpStats& s = *e.stats;
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"queued", s.spans_queued.load()},
        {"exported", s.spans_exported.load()},
        {"rejected", s.spans_rejected.load()},
        {"dropped_queue_full", s.spans_dropped_queue_full.load()},
        {"dropped_queue_bytes", s.spans_dropped_queue_bytes.load()},
        {"dropped_retries_exhausted", s.spans_dropped_retries_exhausted.load()},
        {"dropped_export_error", s.spans_dropped_export_error.load()},
        {"dropped_shutdown", s.spans_dropped_shutdown.load()}};
    for (const auto& [outcome, value] : outcomes) {
      m.sample("ztrace_otlp_spans_total", value, labels(e, {{"outcome", outcome}}));
    }
  }
  m.counter("ztrace_otlp_requests_total", "OTLP export requests");
  for (const auto& e : exporters) {
    m.sample("ztrace_otlp_requests_total", e.stats->requests_sent.load(),
             labels(e, {{"result", "sent"}}))
        .sample("ztrace_otlp_requests_total", e.stats->requests_failed.load(),
                labels(e, {{"result", "failed"}}))
        .sample("ztrace_otlp_requests_total", e.stats->retries.load(),
                labels(e, {{"result", "retry"}}));
  }
  m.counter("ztrace_otlp_sent_bytes_total", "Bytes sent to the OTLP backend (after compression)");
  for (const auto& e : exporters) {
    m.sample("ztrace_otlp_sent_bytes_total", e.stats->bytes_sent.load(), labels(e, {}));
  }
  m.gauge("ztrace_otlp_queue_spans", "Spans waiting in the OTLP queue, in flight included");
  for (const auto& e : exporters) {
    m.sample("ztrace_otlp_queue_spans", e.stats->queue_spans.load(), labels(e, {}));
  }
  m.gauge("ztrace_otlp_queue_bytes", "Bytes the OTLP queue holds");
  for (const auto& e : exporters) {
    m.sample("ztrace_otlp_queue_bytes", e.stats->queue_bytes.load(), labels(e, {}));
  }
}

void k8s_metrics(MetricsText& m, const K8sSnapshot& k) {
  m.gauge("ztrace_k8s_pods", "Pods of this node the agent knows").sample("ztrace_k8s_pods", k.pods);
  m.gauge("ztrace_k8s_api_connected", "1 when the last list or watch of the API server succeeded")
      .sample("ztrace_k8s_api_connected", k.connected ? 1 : 0);
  m.counter("ztrace_k8s_api_total",
            "Pod watcher: lists, watch events, bookmarks, re-lists after 410, failed requests, "
            "malformed objects, owner lookups and their failures");
  const std::pair<const char*, uint64_t> counters[] = {{"list", k.lists},
                                                       {"watch_event", k.watch_events},
                                                       {"bookmark", k.bookmarks},
                                                       {"relist_gone", k.relists_gone},
                                                       {"error", k.errors},
                                                       {"malformed", k.malformed},
                                                       {"owner_lookup", k.owner_lookups},
                                                       {"owner_error", k.owner_errors}};
  for (const auto& [what, value] : counters) {
    m.sample("ztrace_k8s_api_total", value, {{"what", what}});
  }
}

void adaptive_metrics(MetricsText& m, const sampling::AdaptiveSnapshot& a) {
  m.gauge("ztrace_adaptive_enabled", "1 while adaptive sampling is on")
      .sample("ztrace_adaptive_enabled", a.enabled ? 1 : 0);
  m.gauge("ztrace_adaptive_boosted_services",
          "Services whose latency or error rate raised their sampling rate now")
      .sample("ztrace_adaptive_boosted_services", a.stats.boosted_services);
  m.counter("ztrace_adaptive_changes_total", "Adaptive sampling boosts and recoveries")
      .sample("ztrace_adaptive_changes_total", a.stats.boosts, {{"change", "boost"}})
      .sample("ztrace_adaptive_changes_total", a.stats.recoveries, {{"change", "recovery"}});
  m.counter("ztrace_adaptive_budget_refused_total",
            "Traces and spans over adaptive.max_traces_per_second, not exported")
      .sample("ztrace_adaptive_budget_refused_total", a.budget_traces_refused, {{"what", "traces"}})
      .sample("ztrace_adaptive_budget_refused_total", a.budget_spans_refused, {{"what", "spans"}});
  m.counter("ztrace_adaptive_untracked_spans_total",
            "SERVER spans of services past the adaptive sampler's limit of services")
      .sample("ztrace_adaptive_untracked_spans_total", a.stats.untracked_spans);
}

// Each BPF program's run time and runs, as the kernel counts them, and each map's memory
// (bpf_program_stats.h).
void bpf_program_metrics(MetricsText& m, const AgentSnapshot& s) {
  m.gauge("ztrace_bpf_stats_enabled",
          "1 while kernel.bpf_stats_enabled is on: the BPF run time and runs below then count")
      .sample("ztrace_bpf_stats_enabled", s.bpf_stats_enabled ? 1 : 0);
  m.counter("ztrace_bpf_program_run_seconds_total",
            "Run time of each of the agent's BPF programs, in seconds (kernel accounting)");
  for (const BpfProgramStat& p : s.bpf_programs) {
    m.sample("ztrace_bpf_program_run_seconds_total", p.run_time_ns / 1e9, {{"program", p.name}});
  }
  m.counter("ztrace_bpf_program_runs_total", "Runs of each of the agent's BPF programs");
  for (const BpfProgramStat& p : s.bpf_programs) {
    m.sample("ztrace_bpf_program_runs_total", p.run_count, {{"program", p.name}});
  }
  m.gauge("ztrace_bpf_map_memory_bytes",
          "Kernel memory of each of the agent's BPF maps (kernel accounting; a shared map once)");
  for (const BpfMapMemory& map : s.bpf_maps) {
    m.sample("ztrace_bpf_map_memory_bytes", static_cast<double>(map.bytes), {{"map", map.name}});
  }
}

// The standard process metrics (as Prometheus client libraries name them), from /proc/self/stat:
// the agent's CPU and memory on the agent dashboard.
void process_metrics(MetricsText& m) {
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t after_name = text.rfind(')');  // the command name may hold spaces
  if (after_name == std::string::npos) return;
  std::istringstream fields(text.substr(after_name + 2));
  std::string field;
  double utime = 0, stime = 0, rss_pages = 0;
  // Fields from the 3rd (state): utime is the 14th, stime the 15th, rss the 24th.
  for (int index = 3; fields >> field && index <= 24; ++index) {
    if (index == 14) utime = std::stod(field);
    if (index == 15) stime = std::stod(field);
    if (index == 24) rss_pages = std::stod(field);
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  m.counter("process_cpu_seconds_total", "CPU time of the agent, user and system, in seconds")
      .sample("process_cpu_seconds_total", (utime + stime) / ticks);
  m.gauge("process_resident_memory_bytes", "Resident memory of the agent in bytes")
      .sample("process_resident_memory_bytes", rss_pages * static_cast<double>(getpagesize()));
}

}  // namespace

std::string adaptive_status_json(const sampling::AdaptiveSnapshot& a) {
  if (!a.enabled) return "null";
  nlohmann::ordered_json services = nlohmann::ordered_json::array();
  for (const sampling::ServiceHealth& h : a.services) {
    services.push_back({{"service", h.service},
                        {"requests", h.requests},
                        {"p95_seconds", h.p95_ns / 1e9},
                        {"error_rate", h.error_rate},
                        {"boosted", h.boosted}});
  }
  return nlohmann::ordered_json{
      {"latency_threshold_seconds", a.settings.latency_threshold_ns / 1e9},
      {"error_rate", a.settings.error_rate_threshold},
      {"rate", a.settings.rate},
      {"max_traces_per_second", a.settings.max_traces_per_second},
      {"window_seconds", a.settings.window_ns / 1e9},
      {"services", services}}
      .dump();
}

std::string render_metrics(const AgentSnapshot& s, const std::string& version) {
  MetricsText m;
  m.gauge("ztrace_build_info", "The agent's version")
      .sample("ztrace_build_info", 1, {{"version", version}});
  m.gauge("ztrace_tracing_mode", "1 for the tracing mode in force");
  for (auto mode : {sampling::TracingMode::kOff, sampling::TracingMode::kSystemOnly,
                    sampling::TracingMode::kHybrid, sampling::TracingMode::kFullE2e}) {
    m.sample("ztrace_tracing_mode", s.tracing.mode == mode ? 1 : 0,
             {{"mode", std::string(sampling::to_string(mode))}});
  }
  m.gauge("ztrace_sampling_ratio", "Head sampling ratio of new traces (hybrid mode)")
      .sample("ztrace_sampling_ratio", s.tracing.ratio);
  m.gauge("ztrace_sampling_rules", "On-demand sampling rules in force")
      .sample("ztrace_sampling_rules", s.sampling_rules);
  m.gauge("ztrace_sampling_rule_processes",
          "Processes sampled at their own rate (an on-demand rule or an adaptive boost)")
      .sample("ztrace_sampling_rule_processes", s.sampling_rule_processes);
  adaptive_metrics(m, s.pipeline.adaptive);
  labelled_counters(m, "ztrace_events_total", "Kernel events handled, by type", "type",
                    s.pipeline.events);
  labelled_counters(m, "ztrace_kernel_drops_total", "Events the kernel could not send, by reason",
                    "reason", s.kernel_drops);
  m.counter("ztrace_intake_queue_drops_total", "Events dropped between intake and pipeline")
      .sample("ztrace_intake_queue_drops_total", s.intake_queue_drops);
  connection_metrics(m, s.pipeline.connections);
  labelled_counters(m, "ztrace_spans_total",
                    "Spans by outcome: built (handed to export), unsampled, withheld (mode), "
                    "trace_corrections",
                    "outcome", s.pipeline.spans);
  control::render_request_metrics(m, s.request_metrics);
  labelled_counters(m, "ztrace_tail_sampling_total",
                    "Tail sampling: traces by decision, and spans that came after theirs",
                    "outcome", s.pipeline.tail);
  m.gauge("ztrace_tail_sampling_held_spans", "Spans held for a tail-sampling decision")
      .sample("ztrace_tail_sampling_held_spans", s.pipeline.tail.spans_held);
  m.gauge("ztrace_tail_sampling_held_traces", "Traces held for a tail-sampling decision")
      .sample("ztrace_tail_sampling_held_traces", s.pipeline.tail.traces_held);
  m.counter("ztrace_span_contexts_total", "How each span's trace context came about");
  for (size_t origin = 0; origin < kContextOriginNames.size(); ++origin) {
    m.sample("ztrace_span_contexts_total", s.pipeline.link_outcomes[origin],
             {{"origin", std::string(kContextOriginNames[origin])}});
  }
  labelled_counters(m, "ztrace_injections_total", "traceparent injection outcomes", "outcome",
                    s.injections);
  export_metrics(m, s.exports);
  if (!s.otlp.empty()) otlp_metrics(m, s.otlp);
  if (s.k8s) k8s_metrics(m, *s.k8s);
  bpf_program_metrics(m, s);
  process_metrics(m);
  return m.text();
}

std::string render_tracing_status(const sampling::TracingSettings& tracing,
                                  const std::string& rules_json, const std::string& adaptive_json) {
  char ratio[32];
  std::snprintf(ratio, sizeof(ratio), "%g", tracing.ratio);
  std::string tail = "null";
  if (tracing.tail) {
    char text[160];
    std::snprintf(text, sizeof(text),
                  R"({"decision_wait_seconds":%g,"keep_errors":%s,"latency_threshold_seconds":%g})",
                  tracing.tail->decision_wait_ns / 1e9,
                  tracing.tail->keep_errors ? "true" : "false",
                  tracing.tail->latency_threshold_ns / 1e9);
    tail = text;
  }
  return std::string(R"({"mode":")") + std::string(sampling::to_string(tracing.mode)) +
         R"(","ratio":)" + ratio + R"(,"tail":)" + tail + R"(,"rules":)" + rules_json +
         R"(,"adaptive":)" + adaptive_json + "}";
}

}  // namespace ztrace::agent
