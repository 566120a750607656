// Pipeline throughput on recorded traffic: raw kernel events per second per core through
// stream reassembly, HTTP/1 parsing, span building and (second row) OTLP encoding.
//
//   build/bench/pipeline_bench RECORDING [passes] [all|otlp|unsampled]
//
// `otlp` runs only the second row (everything a span costs, from event to OTLP bytes): what
// bench/span_cost.sh counts under callgrind. `unsampled` runs only the third: every request
// as one that is not exported (the path of a request the kernel did not sample, and of mode
// system-only): counted in the span metrics and the service graph, no span built; its "spans"
// are the requests the span metrics counted.
// RECORDING comes from `ztrace run --record-events FILE` (bench/run.sh records its nginx run).
// The recording is replayed `passes` times; each pass renumbers connection generations and
// shifts timestamps, so every pass is new connections carrying the same bytes.
// "per core" = events / CPU seconds of this process (the pipeline thread and the export
// worker, a batch span processor as the console's and the JSONL file's). A span dropped by the
// export queue fails the run: a fast result that loses spans is not a result.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/export/batch_span_processor.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/export/otlp/otlp_encoder.h"
#include "userspace/pipeline/event_pipeline.h"
#include "userspace/pipeline/event_recording.h"

namespace {

using namespace ztrace;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Counts spans; the cheapest possible sink, so the row measures assembly alone.
class CountingExporter final : public exporter::SpanExporter {
 public:
  std::string_view name() const noexcept override { return "count"; }
  exporter::ExportResult export_spans(std::span<const spans::Span> batch) noexcept override {
    spans_ += batch.size();
    return exporter::ExportResult::all_accepted(batch.size());
  }
  size_t spans_ = 0;
};

// What the OTLP exporter does before the network: each span serialized once, a request framed
// around the bytes per batch (here on the batch worker: the same work as in earlier runs).
class EncodingExporter final : public exporter::SpanExporter {
 public:
  EncodingExporter() : framer_(otlp::EncoderOptions{.agent_version = "bench"}) {}
  std::string_view name() const noexcept override { return "otlp-encode"; }
  exporter::ExportResult export_spans(std::span<const spans::Span> batch) noexcept override {
    serialized_.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      serializer_.serialize(batch[i], &serialized_[i].bytes);
      serialized_[i].resource = batch[i].resource;
    }
    framer_.frame(serialized_, &request_);
    spans_ += batch.size();
    return exporter::ExportResult::all_accepted(batch.size());
  }
  otlp::SpanSerializer serializer_;
  otlp::RequestFramer framer_;
  std::vector<otlp::SerializedSpan> serialized_;
  std::string request_;
  size_t spans_ = 0;
};

// Before pass `pass` of a replay: the pass's own connection generations, and timestamps moved
// `time_shift_ns` past the previous pass.
void renumber(pipeline::EventRecording& recording, uint64_t pass, uint64_t time_shift_ns) {
  for (size_t i = 0; i < recording.size(); ++i) {
    auto event = recording.mutable_event(i);
    if (event.empty()) continue;
    __u64* generation = nullptr;
    __u64* timestamp = nullptr;
    if (event[0] == ZT_EVENT_DATA && event.size() >= offsetof(zt_data_event, data)) {
      auto* e = reinterpret_cast<zt_data_event*>(event.data());
      generation = &e->generation;
      timestamp = &e->timestamp_ns;
    } else if ((event[0] == ZT_EVENT_CONN_OPEN || event[0] == ZT_EVENT_CONN_CLOSE) &&
               event.size() >= sizeof(zt_conn_event)) {
      auto* e = reinterpret_cast<zt_conn_event*>(event.data());
      generation = &e->generation;
      timestamp = &e->timestamp_ns;
    } else if (event[0] == ZT_EVENT_FDS_CLOSED && event.size() >= sizeof(zt_fds_closed_event)) {
      reinterpret_cast<zt_fds_closed_event*>(event.data())->timestamp_ns += time_shift_ns;
    }
    if (generation) {
      *generation = (*generation & ((uint64_t{1} << 40) - 1)) | pass << 40;
      *timestamp += time_shift_ns;
    }
  }
}

struct Row {
  std::string name;
  size_t events = 0, spans = 0;
  double cpu_s = 0;
  uint64_t dropped = 0;
};

Row replay(const std::string& name, pipeline::EventRecording& recording, int passes,
           std::unique_ptr<exporter::SpanExporter> sink, const size_t* spans_seen,
           bool export_traces = true) {
  spans::KernelClock clock;
  process::ProcessTable processes;
  exporter::BatchOptions batch_options;
  batch_options.max_queue_spans = size_t{1} << 24;  // never the bottleneck of this bench
  auto processor = std::make_unique<exporter::BatchSpanProcessor>(std::move(sink), batch_options);
  const exporter::BatchStats& export_stats = processor->stats();
  std::vector<std::unique_ptr<exporter::SpanProcessor>> processors;
  processors.push_back(std::move(processor));
  exporter::ExportPipeline exporter(std::move(processors));
  pipeline::EventPipeline pipeline({}, clock, processes, exporter, {});
  if (!export_traces) pipeline.set_tracing(0, false);

  uint64_t first_ns = UINT64_MAX, last_ns = 0;
  for (size_t i = 0; i < recording.size(); ++i) {
    auto event = recording.event(i);
    if (!event.empty() && event[0] == ZT_EVENT_DATA &&
        event.size() >= offsetof(zt_data_event, data)) {
      const auto* e = reinterpret_cast<const zt_data_event*>(event.data());
      first_ns = std::min<uint64_t>(first_ns, e->timestamp_ns);
      last_ns = std::max<uint64_t>(last_ns, e->timestamp_ns);
    }
  }
  const uint64_t recording_ns = last_ns >= first_ns ? last_ns - first_ns + 1'000'000'000 : 0;

  Row row{.name = name};
  const double cpu0 = cpu_seconds();
  for (int pass = 0; pass < passes; ++pass) {
    renumber(recording, pass, pass == 0 ? 0 : recording_ns);
    for (size_t i = 0; i < recording.size(); ++i) pipeline.handle(recording.event(i));
    row.events += recording.size();
  }
  exporter.shutdown(std::chrono::seconds(60));
  row.cpu_s = cpu_seconds() - cpu0;
  row.spans = *spans_seen;
  if (!export_traces) {
    for (const auto& series : pipeline.request_metrics().spans) row.spans += series.calls;
  }
  row.dropped = export_stats.spans_dropped_queue_full + export_stats.spans_dropped_shutdown;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s RECORDING [passes]\n", argv[0]);
    return 2;
  }
  const int passes = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::string_view only = argc > 3 ? argv[3] : "all";
  std::string error;
  auto recording = pipeline::EventRecording::load(argv[1], &error);
  if (!error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  if (recording.size() == 0) {
    std::fprintf(stderr, "%s holds no events\n", argv[1]);
    return 2;
  }

  std::vector<Row> rows;
  if (only == "all") {
    auto sink = std::make_unique<CountingExporter>();
    const size_t* spans = &sink->spans_;
    rows.push_back(replay("assembly (reassembly, HTTP parsing, spans)", recording, passes,
                          std::move(sink), spans));
  }
  if (only == "all" || only == "otlp") {
    auto sink = std::make_unique<EncodingExporter>();
    const size_t* spans = &sink->spans_;
    rows.push_back(replay("assembly + OTLP encoding", recording, passes, std::move(sink), spans));
  }
  if (only == "all" || only == "unsampled") {
    auto sink = std::make_unique<CountingExporter>();
    const size_t* spans = &sink->spans_;
    rows.push_back(
        replay("not exported: metrics only", recording, passes, std::move(sink), spans, false));
  }

  std::printf("%zu events recorded, %d passes\n\n", recording.size(), passes);
  std::printf(
      "| stage | events | spans | CPU s | events/s per core | spans/s per core | spans dropped "
      "|\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  bool lost = false;
  for (const auto& row : rows) {
    std::printf("| %s | %zu | %zu | %.2f | %.0f | %.0f | %llu |\n", row.name.c_str(), row.events,
                row.spans, row.cpu_s, row.events / row.cpu_s, row.spans / row.cpu_s,
                static_cast<unsigned long long>(row.dropped));
    lost |= row.dropped > 0 || row.spans == 0;
  }
  for (const auto& row : rows) {
    if (row.spans != rows[0].spans) {
      std::fprintf(stderr, "the rows counted different spans (%zu vs %zu)\n", rows[0].spans,
                   row.spans);
      lost = true;
    }
  }
  return lost ? 1 : 0;
}
