#include "userspace/view/view_command.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <ostream>
#include <thread>

#include "userspace/view/trace_index.h"

namespace ztrace::view {
namespace {

bool passes(const TraceFilter& filter, const TraceSummary& trace) {
  if (filter.errors_only && !trace.error) return false;
  if (trace.duration_ns() < filter.min_duration_ns) return false;
  if (!trace.trace_id.starts_with(filter.trace_id_prefix)) return false;
  if (filter.from_unix_ns && trace.start_ns < *filter.from_unix_ns) return false;
  if (filter.to_unix_ns && trace.start_ns >= *filter.to_unix_ns) return false;
  if (!filter.services.empty() &&
      std::none_of(filter.services.begin(), filter.services.end(), [&](const std::string& s) {
        return std::find(trace.services.begin(), trace.services.end(), s) != trace.services.end();
      })) {
    return false;
  }
  return true;
}

std::string trace_header(const TraceSummary& trace, size_t span_count) {
  std::string services;
  for (const auto& service : trace.services) services += (services.empty() ? "" : ", ") + service;
  return "trace " + trace.trace_id + "  " + std::to_string(span_count) +
         (span_count == 1 ? " span  " : " spans  ") + format_duration(trace.duration_ns()) + "  " +
         format_time(trace.start_ns) + (trace.error ? "  ERROR" : "") +
         (services.empty() ? "" : "  [" + services + "]") + "\n";
}

// The header's facts from the spans themselves (sorted here by start), services in order of
// their first span.
TraceSummary summarize(std::vector<ViewSpan>& spans) {
  std::stable_sort(spans.begin(), spans.end(),
                   [](const ViewSpan& a, const ViewSpan& b) { return a.start_ns < b.start_ns; });
  TraceSummary trace;
  for (const auto& span : spans) trace.add(span);
  return trace;
}

void print_trace(std::vector<ViewSpan> spans, const WaterfallOptions& options, std::ostream& out) {
  const TraceSummary trace = summarize(spans);
  out << trace_header(trace, spans.size()) << render_waterfall(std::move(spans), options) << "\n";
}

int view_files(const ViewOptions& options, std::ostream& out, std::ostream& notes) {
  TraceIndex index(options.files);
  index.build();
  const std::vector<const TraceSummary*> traces = index.traces();
  std::vector<const TraceSummary*> shown;
  for (const TraceSummary* trace : traces) {
    if (passes(options.filter, *trace)) shown.push_back(trace);
  }
  if (options.last > 0 && shown.size() > options.last) {
    shown.erase(shown.begin(), shown.end() - static_cast<ptrdiff_t>(options.last));
  }
  ReadProblems problems = index.problems();
  for (const TraceSummary* trace : shown) {
    print_trace(index.load(*trace, &problems), options.waterfall, out);
  }
  notes << problems.describe();
  notes << shown.size() << " of " << traces.size() << " traces shown (" << index.span_count()
        << " spans read)\n";
  const bool none_readable = problems.unreadable_files.size() == options.files.size();
  return none_readable ? 1 : 0;
}

// --follow: spans are gathered per trace as the files grow; a trace is shown once quiet.
class Follower {
 public:
  Follower(const ViewOptions& options, std::ostream& out, std::ostream& notes)
      : options_(options), out_(out), notes_(notes) {
    for (const auto& file : options.files) files_.push_back({file});
  }

  [[noreturn]] void run() {
    for (;;) {
      for (auto& file : files_) read_new_lines(file);
      show_settled(std::chrono::steady_clock::now());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

 private:
  struct FollowedFile {
    std::string path;
    std::ifstream in;
    std::string partial;  // a line not yet ended
    uint64_t line_number = 0;
  };
  struct Pending {
    std::vector<ViewSpan> spans;
    std::chrono::steady_clock::time_point last_span;
  };
  static constexpr size_t kMaxPendingTraces = 10000;  // beyond: the oldest is shown as is

  void read_new_lines(FollowedFile& file) {
    if (!file.in.is_open()) {
      file.in.open(file.path, std::ios::binary);
      if (!file.in) return;  // not there yet
    }
    file.in.clear();  // past EOF: look again
    char buffer[65536];
    while (file.in.read(buffer, sizeof(buffer)) || file.in.gcount() > 0) {
      file.partial.append(buffer, static_cast<size_t>(file.in.gcount()));
      size_t begin = 0;
      for (size_t end; (end = file.partial.find('\n', begin)) != std::string::npos;
           begin = end + 1) {
        take_line(file, std::string_view(file.partial).substr(begin, end - begin));
      }
      file.partial.erase(0, begin);
    }
  }

  void take_line(FollowedFile& file, std::string_view line) {
    ++file.line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
    ViewSpan span;
    std::string error;
    if (!parse_span_line(line, &span, &error)) {
      notes_ << "note: " << file.path << ":" << file.line_number << ": skipped, " << error << "\n";
      return;
    }
    if (pending_.size() >= kMaxPendingTraces && !pending_.count(span.trace_id)) {
      show(pending_.begin());
    }
    Pending& trace = pending_[span.trace_id];
    trace.spans.push_back(std::move(span));
    trace.last_span = std::chrono::steady_clock::now();
  }

  void show_settled(std::chrono::steady_clock::time_point now) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = now - it->second.last_span >= options_.settle ? show(it) : std::next(it);
    }
    out_.flush();
  }

  std::map<std::string, Pending>::iterator show(std::map<std::string, Pending>::iterator it) {
    const TraceSummary summary = summarize(it->second.spans);
    if (passes(options_.filter, summary)) {
      print_trace(std::move(it->second.spans), options_.waterfall, out_);
    }
    return pending_.erase(it);
  }

  const ViewOptions& options_;
  std::ostream& out_;
  std::ostream& notes_;
  std::vector<FollowedFile> files_;
  std::map<std::string, Pending> pending_;
};

}  // namespace

int run_view(const ViewOptions& options, std::ostream& out, std::ostream& notes) {
  if (options.follow) Follower(options, out, notes).run();
  return view_files(options, out, notes);
}

std::optional<uint64_t> parse_time_unix_ns(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoull(text) * 1'000'000'000ULL;
  }
  std::tm utc{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &utc);
  if (rest == nullptr) return std::nullopt;
  uint64_t nanos = 0;
  if (*rest == '.') {
    uint64_t scale = 100'000'000;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10) nanos += (*rest - '0') * scale;
  }
  if (std::string(rest) != "Z") return std::nullopt;
  return static_cast<uint64_t>(timegm(&utc)) * 1'000'000'000ULL + nanos;
}

}  // namespace ztrace::view
