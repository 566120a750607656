#pragma once

// Head sampling per process: on-demand rules (sampling_rules.h) and adaptive boosts
// (adaptive_sampler.h) give the processes they select their own threshold for the traces
// those processes start; where both apply, the higher rate. The threshold goes to the kernel,
// which makes most trace ids (bpf/trace_sampling.bpf.h), and serves the pipeline for the
// traces it starts itself. Rules apply in hybrid mode without tail sampling: full-e2e keeps
// every trace already, and tail sampling decides after the fact.
//
// Thread-safe: processes come from the pipeline thread, rules from the control port, expiry
// from the agent's tick.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "userspace/sampling/sampling_rules.h"

namespace ztrace::sampling {

using RunningProcesses = std::vector<std::pair<uint32_t, std::shared_ptr<const spans::Resource>>>;

struct ProcessThresholdSink {
  // A process's own threshold, or nullopt: the settings' threshold again.
  std::function<void(uint32_t pid, std::optional<uint64_t> threshold)> set_process_threshold;
  // Whether any process has its own threshold (the kernel skips the lookup otherwise).
  std::function<void(bool in_use)> set_in_use;
  // The processes running now, with their resources: a new rule also selects processes the
  // pipeline has not seen yet (one whose first request is still to come).
  std::function<RunningProcesses()> running_processes;
};

class ProcessSampling {
 public:
  explicit ProcessSampling(ProcessThresholdSink sink);

  // Hybrid mode without tail sampling: rules apply. Otherwise they are kept, not applied.
  void set_active(bool active);

  void on_process(uint32_t pid, const spans::Resource& resource);
  void on_exit(uint32_t pid);

  std::optional<Rule> enable(const EnableRequest& request, uint64_t now_ns, std::string* error);
  std::vector<Rule> disable(const DisableRequest& request, uint64_t now_ns);
  // Ends the rules whose time is up.
  void tick(uint64_t now_ns);
  // Adaptive sampling's boosted services and their rate (replacing the previous set).
  void set_service_boosts(const std::map<std::string, double>& boosts);

  // The process's own threshold; nullopt (at once, with no lock) when none has one.
  std::optional<uint64_t> threshold_for(uint32_t pid) const;

  std::vector<Rule> rules() const;
  bool active() const;
  size_t processes_with_own_threshold() const;

  static constexpr size_t kMaxProcesses = 65'536;

 private:
  // What the rules give each known process, applied where it changed.
  void apply_locked();
  std::optional<double> rate_locked(const ProcessIdentity& process) const;
  bool has_overrides_locked() const { return !book_.rules().empty() || !boosts_.empty(); }
  void log_rules_changed(const char* what, const std::vector<Rule>& rules, uint64_t now_ns);

  ProcessThresholdSink sink_;
  mutable std::mutex mutex_;
  RuleBook book_;
  std::map<std::string, double> boosts_;  // service → rate
  bool active_ = false;
  std::unordered_map<uint32_t, ProcessIdentity> processes_;
  std::unordered_map<uint32_t, uint64_t> applied_;
  std::atomic<bool> any_applied_{false};
  std::atomic<bool> has_overrides_{false};  // rules or boosts
};

}  // namespace ztrace::sampling
