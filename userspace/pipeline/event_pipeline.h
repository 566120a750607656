#pragma once

// The pipeline thread's work: decode raw kernel events, feed connections, turn completed
// exchanges into spans and hand them to export. Single-threaded by design.

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "userspace/conntrack/connection_table.h"
#include "userspace/conntrack/protocols.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/metrics/request_metrics.h"
#include "userspace/process/process_table.h"
#include "userspace/protocols/protocol.h"
#include "userspace/sampling/adaptive_stage.h"
#include "userspace/sampling/process_sampling.h"
#include "userspace/sampling/tail_sampler.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/recent_traces.h"
#include "userspace/spans/trace_context.h"
#include "userspace/spans/trace_slots.h"

namespace ztrace::pipeline {

struct EventPipelineOptions {
  conntrack::ConnectionTable::Options connections;
  protocols::SpanOptions spans;
  metrics::RequestMetricsOptions request_metrics;
};

// Process lifecycle, for the agent's selection rules and kernel-side cleanup.
struct ProcessHooks {
  // pid exec'd a new image (or exited); socket_fds: the sockets of the old image the table
  // knew, whose kernel-side entries are now stale (CLOEXEC closes them without close()).
  std::function<void(uint32_t pid, const std::vector<int32_t>& socket_fds)> on_exec;
  std::function<void(uint32_t pid, const std::vector<int32_t>& socket_fds)> on_exit;
  // A process was first seen with this resource (e.g. to mark Go processes in the kernel).
  std::function<void(uint32_t pid, const spans::Resource& resource)> on_resource;
};

struct EventCounts {
  uint64_t data = 0;
  uint64_t connection = 0;
  uint64_t process = 0;
  uint64_t malformed = 0;  // too short for their type, or unknown type

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("data", data);
    visit("conn", connection);
    visit("proc", process);
    visit("malformed", malformed);
  }
};

struct SpanCounts {
  uint64_t built = 0;
  uint64_t unsampled = 0;          // not sampled: counted in the request metrics, not exported
  uint64_t trace_corrections = 0;  // kernel traces moved to a header it could not see
  uint64_t withheld = 0;           // mode system-only (or off): in the metrics, not exported
  uint64_t over_budget = 0;        // adaptive.max_traces_per_second refused their trace

  template <typename Visit>
  void for_each(Visit&& visit) const {
    visit("built", built);
    visit("unsampled", unsampled);
    visit("withheld", withheld);
    visit("over_budget", over_budget);
    visit("trace_corrections", trace_corrections);
  }
};

// Client spans of one runtime (process.runtime.name) by how their context came about: whether
// in-process linking works is a property of the runtime.
struct RuntimeLinkOutcomes {
  std::string runtime;  // "" when the resource names none; "other" past kMaxRuntimes
  std::array<uint64_t, ZT_CTX_ORIGIN_COUNT> outcomes{};
};

struct EventPipelineStats {
  EventCounts events;
  SpanCounts spans;
  // Spans by how their context came about (enum zt_context_origin; 0: no kernel context).
  std::array<uint64_t, ZT_CTX_ORIGIN_COUNT> link_outcomes{};
  static constexpr size_t kMaxRuntimes = 16;
  std::vector<RuntimeLinkOutcomes> client_links_by_runtime;
  conntrack::ConnectionTableStats connections;  // and each protocol's counters
  sampling::TailStats tail;                     // zero without tail sampling
  sampling::AdaptiveSnapshot adaptive;          // .enabled false without adaptive sampling
};

class EventPipeline {
 public:
  EventPipeline(EventPipelineOptions options, const spans::KernelClock& clock,
                process::ProcessTable& processes, exporter::ExportPipeline& exporter,
                ProcessHooks hooks);

  // `event`: one kernel event, 8-byte aligned (data events are read in place).
  void handle(std::span<const uint8_t> event);
  // Periodic housekeeping (idle connections).
  void tick(uint64_t now_monotonic_ns);

  EventPipelineStats stats() const;
  // Span metrics and the service graph, copied (for /metrics).
  metrics::RequestMetricsSnapshot request_metrics() const { return request_metrics_.snapshot(); }

  // Run-time tracing settings, from any thread: the sampling threshold of the traces the
  // pipeline starts itself (the kernel starts most, bpf/settings.bpf.h), and whether traces
  // are exported at all.
  void set_tracing(uint64_t new_trace_threshold, bool export_traces);
  // Per-process thresholds (on-demand rules, adaptive boosts), for the traces the pipeline
  // starts itself; adaptive boosts go there too. Set before the first event (null: none); it
  // must outlive the pipeline.
  void set_process_sampling(sampling::ProcessSampling* process_sampling) {
    process_sampling_ = process_sampling;
  }
  // Adaptive sampling from any thread (nullopt: off), taken before the next span or tick.
  void set_adaptive(std::optional<sampling::AdaptiveSettings> settings) {
    adaptive_.configure(settings);
  }
  // Tail sampling from any thread (nullopt: none), with the ratio threshold of the traces no
  // rule keeps; the pipeline thread takes it before its next span or tick, deciding what the
  // old settings held.
  void set_tail_sampling(std::optional<sampling::TailSettings> settings, uint64_t ratio_threshold);
  // At shutdown, on the pipeline thread (or after it stopped): every trace held is decided.
  void finish();

 private:
  // False when the exchange made no span.
  template <typename Protocol>
  bool on_exchange(const protocols::ConnectionView& view,
                   const typename Protocol::Exchange& exchange, const zt_trace_context* context);
  // An exchange that will not be exported, summarized for the metrics without its span.
  template <typename Protocol>
  bool record_summary(const protocols::ExchangeContext& context,
                      const typename Protocol::Exchange& exchange, bool sampled);
  void record_span(const spans::Span& span, const protocols::ConnectionView& view);
  void record_metrics(const metrics::SpanRecord& record);
  void submit(spans::Span&& span);
  void export_kept();  // tail_kept_ → exporter
  void take_tail_settings();
  void count_client_link(const protocols::ConnectionView& view, uint8_t origin);
  bool was_received_by(uint32_t pid, const spans::SpanId& parent_span_id) const;
  void on_server_head(uint32_t pid, const zt_trace_context* kernel_context,
                      const std::string& traceparent, const std::string& tracestate);
  void correct_trace(const uint8_t (&kernel_trace_id)[16], const spans::TraceParent& header);
  void note_trace_start(uint32_t pid, const zt_trace_context& context);
  void mark_started_trace(uint32_t pid, const spans::TraceId& id);

  // A librdkafka consumer's poll gave its thread a message: the `process` span.
  void on_message_polled(const zt_kafka_message_event& event);
  const std::string& tracestate_for(uint64_t threshold);

  std::atomic<uint64_t> new_trace_threshold_{0};
  // The last threshold's tracestate: thresholds change on reconfiguration only, and
  // formatting one costs more than the rest of linking a span.
  std::optional<uint64_t> tracestate_threshold_;
  std::string tracestate_;
  sampling::ProcessSampling* process_sampling_ = nullptr;
  sampling::AdaptiveStage adaptive_{[this](const std::map<std::string, double>& boosts) {
    if (process_sampling_) process_sampling_->set_service_boosts(boosts);
  }};
  std::atomic<bool> export_traces_{true};
  // Tail sampling: settings handed over from other threads, the sampler on this one.
  struct TailHandover {
    std::optional<sampling::TailSettings> settings;
    uint64_t ratio_threshold = 0;
  };
  std::mutex tail_handover_mutex_;
  std::optional<TailHandover> tail_handover_;  // guarded by tail_handover_mutex_
  std::atomic<bool> tail_handover_pending_{false};
  std::unique_ptr<sampling::TailSampler> tail_;  // kept once made: its counters go on
  bool tail_active_ = false;
  std::vector<spans::Span> tail_kept_;
  conntrack::Protocols::SpanBuilders span_builders_;
  process::ProcessTable& processes_;
  exporter::ExportPipeline& exporter_;
  ProcessHooks hooks_;
  conntrack::ConnectionTable connections_;
  EventPipelineStats stats_;
  metrics::RequestMetrics request_metrics_;
  uint64_t now_ns_;       // monotonic, at the last tick: the service graph's clock
  spans::Span span_ids_;  // scratch: the ids an exchange's span would get
  // Parent span ids of traceparents that processes received lately, per process: a client
  // request carrying one of them forwards its caller's context. Bounded ring per process.
  static constexpr size_t kReceivedParentsPerProcess = 256;
  std::unordered_map<uint32_t, std::deque<uint64_t>> received_parents_;
  // Kernel trace ids that turned out to belong to a request's own trace (the kernel missed
  // its header): spans made under them are moved to that trace. Bounded, oldest dropped.
  static constexpr size_t kMaxTraceCorrections = 4096;
  spans::RecentTraces<spans::TraceId> trace_corrections_{kMaxTraceCorrections};
  // The tracestate a served request brought, by its trace: the trace's spans here carry it,
  // as an instrumented service's would (only non-empty ones are kept).
  spans::RecentTraces<std::string> incoming_trace_states_{kMaxTraceCorrections};
  // The threshold each sampled trace the kernel started here was sampled at, marked at its
  // first request: every span of the trace here records it in tracestate (`ot=th`), not only
  // the root, which is built last. 4,096 traces, one slot each.
  spans::TraceSlots<uint64_t> started_traces_{12};
};

}  // namespace ztrace::pipeline
