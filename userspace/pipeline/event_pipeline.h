#pragma once

// The pipeline thread's work: decode raw kernel events, feed connections, turn completed
// exchanges into spans and hand them to export. Single-threaded by design.

#include <cstdint>
#include <functional>
#include <span>

#include "userspace/conntrack/connection_table.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/pipeline/http_span_builder.h"
#include "userspace/process/process_table.h"
#include "userspace/spans/clock.h"

namespace ztrace::pipeline {

struct EventPipelineOptions {
  conntrack::ConnectionTable::Options connections;
  HttpSpanOptions http;
};

// Process lifecycle, for the agent's selection rules and kernel-side cleanup.
struct ProcessHooks {
  // pid exec'd a new image; had_connections: the table knew sockets of the old image.
  std::function<void(uint32_t pid, bool had_connections)> on_exec;
  std::function<void(uint32_t pid, bool had_connections)> on_exit;
};

struct EventPipelineStats {
  uint64_t data_events = 0;
  uint64_t connection_events = 0;
  uint64_t process_events = 0;
  uint64_t malformed_events = 0;  // too short for their type, or unknown type
  uint64_t spans_built = 0;
  uint64_t exchanges_without_request_line = 0;  // start of the request not captured
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
  bool process_has_connections(uint32_t pid) const;

  HttpSpanBuilder http_spans_;
  process::ProcessTable& processes_;
  exporter::ExportPipeline& exporter_;
  ProcessHooks hooks_;
  conntrack::ConnectionTable connections_;
  EventPipelineStats stats_;
  std::unordered_map<uint32_t, uint32_t> connections_per_pid_;
};

}  // namespace ztrace::pipeline
