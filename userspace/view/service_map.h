#pragma once

// The service map: an edge from one service to another for each span whose parent span is of
// another service (a call crossing services, whichever side recorded it), with the number of
// such spans and how many of them are errors.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "userspace/view/span_line.h"

namespace ztrace::view {

struct ServiceEdge {
  uint64_t calls = 0;
  uint64_t errors = 0;
};

class ServiceMap {
 public:
  // One trace's spans.
  void add_trace(const std::vector<ViewSpan>& spans);
  // {"edges":[{"client":..,"server":..,"calls":..,"errors":..}], "services":[..]}
  std::string json() const;
  const std::map<std::pair<std::string, std::string>, ServiceEdge>& edges() const { return edges_; }

 private:
  std::map<std::pair<std::string, std::string>, ServiceEdge> edges_;  // (client, server)
  std::map<std::string, uint64_t> services_;                          // spans per service
};

}  // namespace ztrace::view
