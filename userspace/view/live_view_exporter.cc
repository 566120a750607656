#include "userspace/view/live_view_exporter.h"

#include <sstream>

#include "userspace/export/jsonl_exporter.h"
#include "userspace/view/trace_output.h"

namespace ztrace::view {

LiveViewExporter::LiveViewExporter(FILE* out, std::chrono::milliseconds settle,
                                   WaterfallOptions options)
    : out_(out),
      options_(options),
      traces_(settle),
      printer_([this](std::stop_token stop) { run(stop); }) {}

LiveViewExporter::~LiveViewExporter() {
  printer_.request_stop();
  printer_.join();
  flush();
}

exporter::ExportResult LiveViewExporter::export_spans(std::span<const spans::Span> batch) noexcept {
  exporter::ExportResult result;
  try {
    std::vector<SettlingTraces::Trace> pushed_out;
    std::string error;
    for (const spans::Span& span : batch) {
      ViewSpan parsed;
      if (!parse_span_line(exporter::JsonlExporter::format_line(span), &parsed, &error)) {
        ++result.refused;  // cannot happen with the agent's own lines; counted if it does
        continue;
      }
      std::lock_guard lock(mutex_);
      traces_.add(std::move(parsed), SettlingTraces::Clock::now(), &pushed_out);
      ++result.accepted;
    }
    print(std::move(pushed_out));
  } catch (const std::exception&) {  // memory: what was not taken is counted refused
    result.refused = batch.size() - result.accepted;
  }
  return result;
}

void LiveViewExporter::flush() noexcept {
  try {
    std::vector<SettlingTraces::Trace> all;
    {
      std::lock_guard lock(mutex_);
      traces_.take_settled(SettlingTraces::Clock::now(), &all, /*everything=*/true);
    }
    print(std::move(all));
  } catch (const std::exception&) {
  }
}

void LiveViewExporter::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::vector<SettlingTraces::Trace> settled;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, stop, std::chrono::milliseconds(200), [] { return false; });
      traces_.take_settled(SettlingTraces::Clock::now(), &settled);
    }
    print(std::move(settled));
  }
}

void LiveViewExporter::print(std::vector<SettlingTraces::Trace> traces) {
  if (traces.empty()) return;
  std::ostringstream text;
  for (auto& trace : traces) print_trace(std::move(trace), options_, text);
  const std::string out = text.str();
  std::lock_guard lock(print_mutex_);  // whole traces, from the batch and the printer thread
  std::fwrite(out.data(), 1, out.size(), out_);
  std::fflush(out_);
}

}  // namespace ztrace::view
