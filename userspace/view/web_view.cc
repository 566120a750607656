#include "userspace/view/web_view.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace ztrace::view {
namespace {

using nlohmann::ordered_json;

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A query matches a trace id prefix, a service name (part), or "error".
bool matches(const TraceSummary& trace, const std::string& query) {
  if (query.empty() || trace.trace_id.starts_with(query)) return true;
  if (query == "error" && trace.error) return true;
  return std::any_of(trace.services.begin(), trace.services.end(), [&](const std::string& s) {
    return lowercase(s).find(query) != std::string::npos;
  });
}

WebReply json_reply(std::string body, int status = 200) {
  return {status, "application/json", std::move(body)};
}

}  // namespace

const TraceIndex& WebView::index() {
  std::vector<std::pair<uintmax_t, int64_t>> states;
  for (const auto& file : files_) {
    std::error_code error;
    const uintmax_t size = std::filesystem::file_size(file, error);
    const auto time = std::filesystem::last_write_time(file, error);
    states.emplace_back(error ? 0 : size, error ? 0 : time.time_since_epoch().count());
  }
  if (!index_ || states != file_states_) {
    index_ = std::make_unique<TraceIndex>(files_);
    index_->build();
    file_states_ = std::move(states);
    service_map_.reset();
  }
  return *index_;
}

std::string WebView::traces_json(const std::string& query, size_t limit) {
  const TraceIndex& traces = index();
  const std::string wanted = lowercase(query);
  std::vector<uint32_t> order = traces.by_start();
  std::reverse(order.begin(), order.end());  // the newest first
  ordered_json out{{"total", traces.trace_count()}, {"spans", traces.span_count()}};
  ordered_json list = ordered_json::array();
  size_t matched = 0;
  for (uint32_t number : order) {
    TraceSummary summary = traces.summary(number);
    if (!passes(filter_, summary) || !matches(summary, wanted)) continue;
    if (matched++ >= limit) continue;
    std::sort(summary.services.begin(), summary.services.end());  // the index keeps file order
    list.push_back({{"trace_id", summary.trace_id},
                    {"start", format_time(summary.start_ns)},
                    {"duration_ns", summary.duration_ns()},
                    {"duration", format_duration(summary.duration_ns())},
                    {"error", summary.error},
                    {"services", summary.services}});
  }
  out["matched"] = matched;
  out["traces"] = std::move(list);
  out["problems"] = traces.problems().describe();
  return out.dump();
}

WebReply WebView::trace_json(const std::string& id) {
  const TraceIndex& traces = index();
  if (const std::optional<uint32_t> number = traces.find(id)) {
    const TraceSummary summary = traces.summary(*number);
    ReadProblems problems;
    std::vector<ViewSpan> spans = traces.load(*number, &problems);
    summarize(spans);  // by start time
    ordered_json list = ordered_json::array();
    for (const auto& span : spans) {
      list.push_back({{"span_id", span.span_id},
                      {"parent_span_id", span.parent_span_id},
                      {"name", span.name},
                      {"detail", span.detail},
                      {"kind", span.kind},
                      {"service", span.service},
                      {"start_ns", span.start_ns - summary.start_ns},
                      {"duration_ns", span.duration_ns()},
                      {"duration", format_duration(span.duration_ns())},
                      {"error", span.error},
                      {"status_message", span.status_message},
                      {"outcome", span.outcome},
                      {"attributes", ordered_json::parse(span.attributes_json, nullptr, false)}});
    }
    return json_reply(ordered_json{{"trace_id", id},
                                   {"start", format_time(summary.start_ns)},
                                   {"duration_ns", summary.duration_ns()},
                                   {"duration", format_duration(summary.duration_ns())},
                                   {"spans", std::move(list)},
                                   {"problems", problems.describe()}}
                          .dump());
  }
  return json_reply(R"({"error":"no such trace"})", 404);
}

std::string WebView::service_map_json() {
  const TraceIndex& traces = index();
  if (!service_map_) {
    ServiceMap map;
    ReadProblems problems;
    for (uint32_t number = 0; number < traces.trace_count(); ++number) {
      if (passes(filter_, traces.summary(number))) map.add_trace(traces.load(number, &problems));
    }
    service_map_ = map.json();
  }
  return *service_map_;
}

WebReply WebView::get(const std::string& path, const std::map<std::string, std::string>& params) {
  std::lock_guard lock(mutex_);
  const auto param = [&](const char* name) {
    const auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  };
  if (path.empty() || path == "index.html") {
    return {200, "text/html; charset=utf-8", web_page()};
  }
  if (path == "api/traces") {
    size_t limit = 500;
    const std::string text = param("limit");
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
        text.size() < 7) {
      limit = std::stoul(text);
    }
    return json_reply(traces_json(param("q"), limit));
  }
  if (path == "api/trace") return trace_json(param("id"));
  if (path == "api/service-map") return json_reply(service_map_json());
  return json_reply(R"({"error":"not found"})", 404);
}

}  // namespace ztrace::view
