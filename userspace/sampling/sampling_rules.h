#pragma once

// On-demand sampling rules: an operator asks, through the control API, for a rate of new
// traces for some processes for a while ("every trace of checkout for ten minutes"). A rule
// selects processes by service, pid, container or Kubernetes pod; it ends at its expiry or
// when disabled. This is the rule book only: process_sampling.h applies it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/spans/span.h"

namespace ztrace::sampling {

// What the rules know of a process, from its resource.
struct ProcessIdentity {
  uint32_t pid = 0;
  std::string service;       // service.name
  std::string container_id;  // container.id
  std::string k8s_namespace;
  std::string k8s_pod;
};
ProcessIdentity identity_of(uint32_t pid, const spans::Resource& resource);

// Every field set must match; at least one is set (a pod needs its namespace too).
struct RuleSelector {
  std::optional<std::string> service;
  std::optional<uint32_t> pid;
  std::optional<std::string> container_id;
  std::optional<std::string> k8s_namespace;  // k8s.namespace.name, with k8s_pod
  std::optional<std::string> k8s_pod;        // k8s.pod.name

  bool empty() const { return !service && !pid && !container_id && !k8s_namespace && !k8s_pod; }
  bool matches(const ProcessIdentity& process) const;
  bool operator==(const RuleSelector&) const = default;
};

inline constexpr uint64_t kDefaultRuleDurationNs = 600'000'000'000;  // 10m
inline constexpr uint64_t kMaxRuleDurationNs = 86'400'000'000'000;   // 24h

// POST /api/tracing/enable: {"service": "checkout", "rate": 1.0, "duration": "10m"}, with any
// selector keys (service, pid, container_id, k8s.namespace.name + k8s.pod.name). rate defaults
// to 1.0 and duration to 10m.
struct EnableRequest {
  RuleSelector selector;
  double rate = 1.0;
  uint64_t duration_ns = kDefaultRuleDurationNs;
};
std::optional<EnableRequest> parse_enable_request(std::string_view body, std::string* error);

// POST /api/tracing/disable: {"id": 3}, or a selector (every rule with exactly it).
struct DisableRequest {
  std::optional<uint64_t> id;
  RuleSelector selector;
};
std::optional<DisableRequest> parse_disable_request(std::string_view body, std::string* error);

struct Rule {
  uint64_t id = 0;
  RuleSelector selector;
  double rate = 1.0;
  uint64_t expires_at_ns = 0;  // steady clock
};

class RuleBook {
 public:
  static constexpr size_t kMaxRules = 64;

  // The new rule, or nullopt and `error` when the book is full.
  std::optional<Rule> add(const EnableRequest& request, uint64_t now_ns, std::string* error);
  // The rules removed.
  std::vector<Rule> remove(const DisableRequest& request);
  std::vector<Rule> expire(uint64_t now_ns);
  // The highest rate of the rules that select `process`; nullopt when none does.
  std::optional<double> rate_for(const ProcessIdentity& process) const;

  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;
  uint64_t next_id_ = 1;
};

// {"id":1,"selector":{...},"rate":1.0,"expires_in_s":599}
std::string rule_json(const Rule& rule, uint64_t now_ns);

}  // namespace ztrace::sampling
