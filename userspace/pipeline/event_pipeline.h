#pragma once

// The pipeline thread's work: decode raw kernel events, feed connections, turn completed
// exchanges into spans and hand them to export. Single-threaded by design.

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "userspace/conntrack/connection_table.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/pipeline/http2_span_builder.h"
#include "userspace/pipeline/http_span_builder.h"
#include "userspace/process/process_table.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/trace_context.h"

namespace ztrace::pipeline {

struct EventPipelineOptions {
  conntrack::ConnectionTable::Options connections;
  HttpSpanOptions http;
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

struct EventPipelineStats {
  uint64_t data_events = 0;
  uint64_t connection_events = 0;
  uint64_t process_events = 0;
  uint64_t malformed_events = 0;  // too short for their type, or unknown type
  uint64_t spans_built = 0;
  uint64_t exchanges_without_request_line = 0;  // start of the request not captured
  uint64_t http2_exchanges_without_path = 0;    // :path unknown (joined mid-way) or absent
  uint64_t spans_unsampled = 0;             // the incoming context said not sampled: not exported
  uint64_t trace_corrections = 0;           // kernel traces moved to a header it could not see
  uint64_t h2_stream_contexts = 0;          // kernel contexts of injected HTTP/2 client streams
  uint64_t h2_stream_contexts_evicted = 0;  // never claimed by a span (bound reached)
  // Spans by how their context came about (enum zt_context_origin; 0: no kernel context).
  std::array<uint64_t, ZT_CTX_ORIGIN_COUNT> link_outcomes{};
  conntrack::ConnectionTableStats connections;
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

 private:
  void on_exchange(const conntrack::ConnectionView& view, const http1::Exchange& exchange,
                   const zt_trace_context* context);
  void on_http2_exchange(const conntrack::ConnectionView& view, const http2::Exchange& exchange);
  void submit(spans::Span span);
  bool was_received_by(uint32_t pid, const spans::SpanId& parent_span_id) const;
  void on_server_head(uint32_t pid, const zt_trace_context* kernel_context,
                      const std::string& traceparent);
  void correct_trace(const uint8_t (&kernel_trace_id)[16], const spans::TraceParent& header);
  void on_h2_stream_context(const zt_h2_stream_event& event);
  std::optional<zt_trace_context> take_h2_stream_context(const conntrack::ConnectionView& view,
                                                         uint32_t stream_id);

  HttpSpanBuilder http_spans_;
  Http2SpanBuilder http2_spans_;
  process::ProcessTable& processes_;
  exporter::ExportPipeline& exporter_;
  ProcessHooks hooks_;
  conntrack::ConnectionTable connections_;
  EventPipelineStats stats_;
  // Parent span ids of traceparents that processes received lately, per process: a client
  // request carrying one of them forwards its caller's context. Bounded ring per process.
  static constexpr size_t kReceivedParentsPerProcess = 256;
  std::unordered_map<uint32_t, std::deque<uint64_t>> received_parents_;
  // Kernel trace ids that turned out to belong to a request's own trace (the kernel missed
  // its header): spans made under them are moved to that trace. Bounded, oldest dropped.
  static constexpr size_t kMaxTraceCorrections = 4096;
  struct TraceIdHash {
    size_t operator()(const spans::TraceId& id) const {
      size_t h;  // ids are random: any 8 bytes hash well
      std::memcpy(&h, id.data(), sizeof(h));
      return h;
    }
  };
  std::unordered_map<spans::TraceId, spans::TraceId, TraceIdHash> trace_corrections_;
  std::deque<spans::TraceId> trace_correction_order_;
  // Contexts the kernel injected into HTTP/2 client streams, until the stream's span is built
  // (the event comes before the stream's bytes). Bounded, oldest dropped.
  struct StreamKey {
    uint32_t pid = 0;
    int32_t fd = 0;
    uint64_t generation = 0;
    uint32_t stream_id = 0;
    bool operator==(const StreamKey&) const = default;
  };
  struct StreamKeyHash {
    size_t operator()(const StreamKey& k) const {
      return std::hash<uint64_t>()((uint64_t{k.pid} << 32 | static_cast<uint32_t>(k.fd)) ^
                                   (k.generation * 0x9e3779b97f4a7c15ull) ^
                                   (uint64_t{k.stream_id} << 17));
    }
  };
  static constexpr size_t kMaxH2StreamContexts = 16384;
  std::unordered_map<StreamKey, zt_trace_context, StreamKeyHash> h2_stream_contexts_;
  std::deque<StreamKey> h2_stream_context_order_;
};

}  // namespace ztrace::pipeline
