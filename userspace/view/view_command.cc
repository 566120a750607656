#include "userspace/view/view_command.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <ostream>

#include "userspace/view/follow.h"
#include "userspace/view/terminal.h"
#include "userspace/view/trace_browser.h"
#include "userspace/view/trace_index.h"
#include "userspace/view/trace_output.h"

namespace ztrace::view {
namespace {

// The numbers of the traces that pass the filters, by start time: a summary at a time, never
// all at once.
std::vector<uint32_t> shown_traces(const TraceIndex& index, const ViewOptions& options) {
  std::vector<uint32_t> shown;
  for (uint32_t trace : index.by_start()) {
    if (passes(options.filter, index.summary(trace))) shown.push_back(trace);
  }
  if (options.last > 0 && shown.size() > options.last) {
    shown.erase(shown.begin(), shown.end() - static_cast<ptrdiff_t>(options.last));
  }
  return shown;
}

void print_totals(const TraceIndex& index, const ReadProblems& problems, size_t shown,
                  std::ostream& notes) {
  notes << problems.describe();
  notes << shown << " of " << index.trace_count() << " traces shown (" << index.span_count()
        << " spans read)\n";
}

int view_files(const ViewOptions& options, std::ostream& out, std::ostream& notes) {
  TraceIndex index(options.files);
  index.build();
  const std::vector<uint32_t> shown = shown_traces(index, options);
  ReadProblems problems = index.problems();
  for (uint32_t trace : shown) print_trace(index.load(trace, &problems), options.waterfall, out);
  print_totals(index, problems, shown.size(), notes);
  const bool none_readable = problems.unreadable_files.size() == options.files.size();
  return none_readable ? 1 : 0;
}

// The interactive view: the notes are printed once the terminal is given back.
int browse_files(const ViewOptions& options, std::ostream& notes) {
  TraceIndex index(options.files);
  index.build();
  const std::vector<uint32_t> shown = shown_traces(index, options);
  ReadProblems problems = index.problems();
  {
    TraceBrowser browser({.count = shown.size(),
                          .summary = [&](size_t i) { return index.summary(shown[i]); },
                          .load = [&](size_t i) { return index.load(shown[i], &problems); }},
                         options.waterfall);
    Terminal terminal;
    if (!terminal.ok()) {
      notes << "note: the terminal cannot be put in raw mode\n";
      return 1;
    }
    do {
      terminal.draw(browser.screen(terminal.rows(), terminal.columns()));
    } while (browser.handle(terminal.read_key(), terminal.rows() - 2));
  }
  print_totals(index, problems, shown.size(), notes);
  return problems.unreadable_files.size() == options.files.size() ? 1 : 0;
}

}  // namespace

int run_view(const ViewOptions& options, std::ostream& out, std::ostream& notes) {
  if (options.follow) {
    const FollowOptions follow{options.files, options.filter, options.settle};
    follow_files(
        follow, std::stop_token(),
        [&](std::vector<ViewSpan> spans) {
          print_trace(std::move(spans), options.waterfall, out);
          out.flush();
        },
        notes);
    return 0;
  }
  if (options.interactive) return browse_files(options, notes);
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
