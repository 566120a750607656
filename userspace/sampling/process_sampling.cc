#include "userspace/sampling/process_sampling.h"

#include <spdlog/spdlog.h>

#include "userspace/sampling/tracing_settings.h"

namespace ztrace::sampling {

ProcessSampling::ProcessSampling(ProcessThresholdSink sink) : sink_(std::move(sink)) {}

void ProcessSampling::set_active(bool active) {
  std::lock_guard lock(mutex_);
  active_ = active;
  apply_locked();
}

// Processes are remembered only while rules or boosts exist: a new one reads the running
// processes anyway.
void ProcessSampling::on_process(uint32_t pid, const spans::Resource& resource) {
  if (!has_overrides_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  if (processes_.size() >= kMaxProcesses && !processes_.count(pid)) return;
  const ProcessIdentity& identity = processes_[pid] = identity_of(pid, resource);
  // One process: only its own threshold can change.
  const auto rate = active_ ? rate_locked(identity) : std::nullopt;
  const auto applied = applied_.find(pid);
  const std::optional<uint64_t> before =
      applied == applied_.end() ? std::nullopt : std::optional(applied->second);
  const std::optional<uint64_t> after =
      rate ? std::optional(threshold_for_ratio(*rate)) : std::nullopt;
  if (before != after) apply_locked();
}

void ProcessSampling::on_exit(uint32_t pid) {
  if (!has_overrides_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  processes_.erase(pid);
  if (applied_.count(pid)) apply_locked();
}

std::optional<Rule> ProcessSampling::enable(const EnableRequest& request, uint64_t now_ns,
                                            std::string* error) {
  // Outside the lock: reading every process's resource takes milliseconds.
  const RunningProcesses running =
      sink_.running_processes ? sink_.running_processes() : RunningProcesses{};
  std::lock_guard lock(mutex_);
  auto rule = book_.add(request, now_ns, error);
  if (!rule) return std::nullopt;
  for (const auto& [pid, resource] : running) {
    if (processes_.size() >= kMaxProcesses) break;
    processes_.try_emplace(pid, identity_of(pid, *resource));
  }
  log_rules_changed("on-demand rule added", {*rule}, now_ns);
  apply_locked();
  return rule;
}

std::vector<Rule> ProcessSampling::disable(const DisableRequest& request, uint64_t now_ns) {
  std::lock_guard lock(mutex_);
  auto removed = book_.remove(request);
  if (!removed.empty()) {
    log_rules_changed("on-demand rule disabled", removed, now_ns);
    apply_locked();
  }
  return removed;
}

void ProcessSampling::tick(uint64_t now_ns) {
  std::lock_guard lock(mutex_);
  if (book_.rules().empty()) return;
  auto expired = book_.expire(now_ns);
  if (expired.empty()) return;
  log_rules_changed("on-demand rule expired", expired, now_ns);
  apply_locked();
}

void ProcessSampling::set_service_boosts(const std::map<std::string, double>& boosts) {
  bool new_service = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [service, rate] : boosts) new_service |= !boosts_.count(service);
  }
  // A newly boosted service's processes may not have been seen yet (no overrides before).
  const RunningProcesses running =
      new_service && sink_.running_processes ? sink_.running_processes() : RunningProcesses{};
  std::lock_guard lock(mutex_);
  for (const auto& [pid, resource] : running) {
    if (processes_.size() >= kMaxProcesses) break;
    processes_.try_emplace(pid, identity_of(pid, *resource));
  }
  boosts_ = boosts;
  apply_locked();
}

std::optional<double> ProcessSampling::rate_locked(const ProcessIdentity& process) const {
  std::optional<double> rate = book_.rate_for(process);
  if (auto boost = boosts_.find(process.service); boost != boosts_.end()) {
    rate = std::max(rate.value_or(0.0), boost->second);
  }
  return rate;
}

std::optional<uint64_t> ProcessSampling::threshold_for(uint32_t pid) const {
  if (!any_applied_.load(std::memory_order_relaxed)) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = applied_.find(pid);
  if (it == applied_.end()) return std::nullopt;
  return it->second;
}

std::vector<Rule> ProcessSampling::rules() const {
  std::lock_guard lock(mutex_);
  return book_.rules();
}

bool ProcessSampling::active() const {
  std::lock_guard lock(mutex_);
  return active_;
}

size_t ProcessSampling::processes_with_own_threshold() const {
  std::lock_guard lock(mutex_);
  return applied_.size();
}

void ProcessSampling::apply_locked() {
  has_overrides_.store(has_overrides_locked());
  if (!has_overrides_locked()) processes_.clear();
  std::unordered_map<uint32_t, uint64_t> wanted;
  if (active_ && has_overrides_locked()) {
    for (const auto& [pid, identity] : processes_) {
      if (auto rate = rate_locked(identity)) wanted.emplace(pid, threshold_for_ratio(*rate));
    }
  }
  // The kernel sees the new entries before the flag, and loses the flag before the entries.
  if (!wanted.empty()) any_applied_.store(true);
  for (const auto& [pid, threshold] : wanted) {
    auto it = applied_.find(pid);
    if (it == applied_.end() || it->second != threshold)
      sink_.set_process_threshold(pid, threshold);
  }
  sink_.set_in_use(!wanted.empty());
  for (const auto& [pid, threshold] : applied_) {
    if (!wanted.count(pid)) sink_.set_process_threshold(pid, std::nullopt);
  }
  applied_ = std::move(wanted);
  any_applied_.store(!applied_.empty());
}

void ProcessSampling::log_rules_changed(const char* what, const std::vector<Rule>& rules,
                                        uint64_t now_ns) {
  for (const Rule& rule : rules) {
    spdlog::info("sampling: {} {}{}", what, rule_json(rule, now_ns),
                 active_ ? "" : " (kept, applied in hybrid mode without tail sampling only)");
  }
}

}  // namespace ztrace::sampling
