#pragma once

// `ztrace run --view`: the console output as waterfalls, a trace printed once no span of it
// came for the settle time, instead of a line per span. The spans go through their JSON line
// (JsonlExporter::format_line), so the console shows exactly what `ztrace view` shows of the
// same trace in a file.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "userspace/export/exporter.h"
#include "userspace/view/settling_traces.h"
#include "userspace/view/waterfall.h"

namespace ztrace::view {

class LiveViewExporter final : public exporter::SpanExporter {
 public:
  // `out` is borrowed and must outlive the exporter.
  LiveViewExporter(FILE* out, std::chrono::milliseconds settle, WaterfallOptions options);
  ~LiveViewExporter() override;  // prints what still waits

  std::string_view name() const noexcept override { return "view"; }
  exporter::ExportResult export_spans(std::span<const spans::Span> batch) noexcept override;
  void flush() noexcept override;  // prints every waiting trace, settled or not

 private:
  void print(std::vector<SettlingTraces::Trace> traces);
  void run(std::stop_token stop);

  FILE* out_;
  WaterfallOptions options_;
  std::mutex mutex_;
  std::mutex print_mutex_;
  std::condition_variable_any wake_;
  SettlingTraces traces_;  // under mutex_
  std::jthread printer_;   // last: started once the rest is set
};

}  // namespace ztrace::view
