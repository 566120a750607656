#include "userspace/view/service_map.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

namespace ztrace::view {

void ServiceMap::add_trace(const std::vector<ViewSpan>& spans) {
  std::unordered_map<std::string_view, const ViewSpan*> by_id;
  for (const auto& span : spans) by_id.emplace(span.span_id, &span);
  for (const auto& span : spans) {
    const std::string service = span.service.empty() ? "?" : span.service;
    ++services_[service];
    const auto parent = by_id.find(span.parent_span_id);
    if (parent == by_id.end()) continue;
    const std::string parent_service =
        parent->second->service.empty() ? "?" : parent->second->service;
    if (parent_service == service) continue;
    ServiceEdge& edge = edges_[{parent_service, service}];
    ++edge.calls;
    if (span.error) ++edge.errors;
  }
}

std::string ServiceMap::json() const {
  nlohmann::ordered_json out{{"services", nlohmann::ordered_json::array()},
                             {"edges", nlohmann::ordered_json::array()}};
  for (const auto& [name, spans] : services_) {
    out["services"].push_back({{"name", name}, {"spans", spans}});
  }
  for (const auto& [ends, edge] : edges_) {
    out["edges"].push_back({{"client", ends.first},
                            {"server", ends.second},
                            {"calls", edge.calls},
                            {"errors", edge.errors}});
  }
  return out.dump();
}

}  // namespace ztrace::view
