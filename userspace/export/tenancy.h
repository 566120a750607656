#pragma once

// Routing of spans to one output per tenant by their resource's Kubernetes namespace
// (tenancy_config.h). Each tenant's exporter sees only its tenant's spans, so every request
// it sends holds one tenant's spans and goes out with that tenant's endpoint and headers.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "userspace/export/exporter.h"
#include "userspace/export/tenancy_config.h"
#include "userspace/spans/span.h"

namespace ztrace::exporter {

// Why no output takes a span.
enum class UnroutedReason : uint8_t {
  kHost,                 // no pod, and host_spans: drop
  kUnmatchedNamespace,   // a namespace no tenant lists, and unmatched_namespaces: drop
  kPodWithoutNamespace,  // a pod whose metadata is not known (yet): never to a default
  kCount,
};
std::string_view to_string(UnroutedReason reason);

// A span's destination: a tenant (its index), the default exporter, or none (and why).
struct Route {
  static constexpr int kDefault = -1;
  static constexpr int kNone = -2;
  int target = kDefault;
  UnroutedReason reason = UnroutedReason::kHost;  // when target == kNone
  bool operator==(const Route&) const = default;
};

// Decides routes. The processors of one ExportPipeline share it and call it from the pipeline
// thread only; spans of one process share a resource, so the last decision is kept.
class TenantRouter {
 public:
  explicit TenantRouter(TenancyConfig config) : config_(std::move(config)) {}

  Route route(const spans::Span& span);
  // The same, from the resource's attributes alone (no cache).
  Route route_of(const spans::Resource* resource) const;
  const TenancyConfig& config() const { return config_; }

 private:
  const TenancyConfig config_;
  std::shared_ptr<const spans::Resource> last_resource_;  // held so its address is not reused
  Route last_route_;
};

// An output that takes only the spans routed to `target` (a tenant's index or the default).
class RoutedProcessor final : public SpanProcessor {
 public:
  RoutedProcessor(std::string name, std::shared_ptr<TenantRouter> router, int target,
                  std::unique_ptr<SpanProcessor> output)
      : name_(std::move(name)),
        router_(std::move(router)),
        target_(target),
        output_(std::move(output)) {}

  std::string_view name() const noexcept override { return name_; }
  ExportOutcome on_span(const spans::Span& span) noexcept override;
  bool shutdown(std::chrono::steady_clock::time_point deadline) noexcept override {
    return output_->shutdown(deadline);
  }
  void for_each_counter(const CounterVisitor& visit) const override {
    output_->for_each_counter(visit);
  }

 private:
  const std::string name_;
  const std::shared_ptr<TenantRouter> router_;
  const int target_;
  const std::unique_ptr<SpanProcessor> output_;
};

// Counts the spans no output takes, by reason (the `outputs:` line's `otlp/unrouted`).
class UnroutedCounter final : public SpanProcessor {
 public:
  explicit UnroutedCounter(std::shared_ptr<TenantRouter> router) : router_(std::move(router)) {}

  std::string_view name() const noexcept override { return "otlp/unrouted"; }
  ExportOutcome on_span(const spans::Span& span) noexcept override;
  bool shutdown(std::chrono::steady_clock::time_point) noexcept override { return true; }
  void for_each_counter(const CounterVisitor& visit) const override;

 private:
  const std::shared_ptr<TenantRouter> router_;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(UnroutedReason::kCount)> dropped_{};
};

}  // namespace ztrace::exporter
