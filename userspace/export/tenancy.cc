#include "userspace/export/tenancy.h"

#include <fnmatch.h>

#include <variant>

namespace ztrace::exporter {
namespace {

const std::string* string_attribute(const spans::Resource& resource, std::string_view key) {
  for (const auto& attribute : resource.attributes) {
    if (attribute.key == key) return std::get_if<std::string>(&attribute.value);
  }
  return nullptr;
}

bool any_glob_matches(const std::vector<std::string>& globs, const std::string& name) {
  for (const auto& glob : globs) {
    if (fnmatch(glob.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

Route by_policy(UnroutedPolicy policy, UnroutedReason reason) {
  return policy == UnroutedPolicy::kDefault ? Route{} : Route{Route::kNone, reason};
}

}  // namespace

std::string_view to_string(UnroutedReason reason) {
  switch (reason) {
    case UnroutedReason::kHost:
      return "dropped_host";
    case UnroutedReason::kUnmatchedNamespace:
      return "dropped_unmatched_namespace";
    case UnroutedReason::kPodWithoutNamespace:
      return "dropped_pod_without_namespace";
    case UnroutedReason::kCount:
      break;
  }
  return "?";
}

Route TenantRouter::route_of(const spans::Resource* resource) const {
  const std::string* ns = resource ? string_attribute(*resource, "k8s.namespace.name") : nullptr;
  if (ns == nullptr || ns->empty()) {
    // A pod known from its cgroup before its metadata arrives belongs to a tenant not yet
    // known: it must not go out with the default exporter's credentials.
    const bool in_pod = resource && string_attribute(*resource, "k8s.pod.uid") != nullptr;
    return in_pod ? Route{Route::kNone, UnroutedReason::kPodWithoutNamespace}
                  : by_policy(config_.host_spans, UnroutedReason::kHost);
  }
  for (size_t i = 0; i < config_.tenants.size(); ++i) {
    if (any_glob_matches(config_.tenants[i].namespaces, *ns)) return {static_cast<int>(i)};
  }
  return by_policy(config_.unmatched_namespaces, UnroutedReason::kUnmatchedNamespace);
}

Route TenantRouter::route(const spans::Span& span) {
  if (!last_resource_ || span.resource != last_resource_) {
    last_route_ = route_of(span.resource.get());
    last_resource_ = span.resource;
  }
  return last_route_;
}

ExportOutcome RoutedProcessor::on_span(const spans::Span& span) noexcept {
  if (router_->route(span).target != target_) return ExportOutcome::kSuccess;  // another's
  return output_->on_span(span);
}

ExportOutcome UnroutedCounter::on_span(const spans::Span& span) noexcept {
  const Route route = router_->route(span);
  if (route.target == Route::kNone) {
    dropped_[static_cast<size_t>(route.reason)].fetch_add(1, std::memory_order_relaxed);
  }
  return ExportOutcome::kSuccess;
}

void UnroutedCounter::for_each_counter(const CounterVisitor& visit) const {
  for (size_t i = 0; i < dropped_.size(); ++i) {
    visit(to_string(static_cast<UnroutedReason>(i)), dropped_[i].load(std::memory_order_relaxed));
  }
}

}  // namespace ztrace::exporter
