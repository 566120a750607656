#pragma once

// The web view's answers, apart from any HTTP server: the page itself and its JSON (a
// searchable list of traces, one trace's spans with their attributes, the service map), read
// from JSON-lines files through a TraceIndex that is rebuilt when the files change. Served by
// `ztrace view --web` and by the agent's control port (under /view/).

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "userspace/view/service_map.h"
#include "userspace/view/trace_index.h"
#include "userspace/view/trace_output.h"

namespace ztrace::view {

struct WebReply {
  int status = 200;
  std::string content_type;
  std::string body;
};

class WebView {
 public:
  WebView(std::vector<std::string> files, TraceFilter filter)
      : files_(std::move(files)), filter_(std::move(filter)) {}

  // `path` below the view's root: "" (the page), "api/traces" (params q, limit),
  // "api/trace" (param id), "api/service-map". Thread-safe.
  WebReply get(const std::string& path, const std::map<std::string, std::string>& params);

 private:
  // The index, rebuilt when a file's size or modification time changed.
  const TraceIndex& index();
  std::string traces_json(const std::string& query, size_t limit);
  WebReply trace_json(const std::string& id);
  std::string service_map_json();

  std::vector<std::string> files_;
  TraceFilter filter_;
  std::mutex mutex_;
  std::unique_ptr<TraceIndex> index_;
  std::vector<std::pair<uintmax_t, int64_t>> file_states_;  // size, mtime
  std::optional<std::string> service_map_;                  // for the current index
};

// The page: HTML with its CSS and script inline (no CDN, no external font).
const std::string& web_page();

}  // namespace ztrace::view
