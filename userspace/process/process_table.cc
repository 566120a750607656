#include "userspace/process/process_table.h"

#include <utility>

#include "userspace/spans/semconv.h"

namespace ztrace::process {

namespace {

// For a process instance that /proc no longer describes: nothing read from /proc would be
// about it, so only what the caller knows goes in.
std::shared_ptr<const spans::Resource> unidentified_resource(pid_t pid,
                                                             const ResourceOptions& options) {
  auto resource = std::make_shared<spans::Resource>();
  resource->attributes.push_back({semconv::service::kServiceName, std::string("unknown_service")});
  if (!options.host_name.empty()) {
    resource->attributes.push_back({semconv::host::kHostName, options.host_name});
  }
  resource->attributes.push_back({semconv::process::kProcessPid, static_cast<int64_t>(pid)});
  return resource;
}

}  // namespace

ProcessTable::ProcessTable(ProcessTableOptions options) : options_(std::move(options)) {}

std::shared_ptr<const spans::Resource> ProcessTable::get(pid_t pid) {
  const auto start_time_ticks = read_start_time_ticks(pid, options_.resource.proc_root);
  if (!start_time_ticks) {
    // The process is gone: its events still arrive after it exited (short-lived clients),
    // and the cached resource is still its own until the exit event makes us forget it.
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(pid);
      if (it != entries_.end()) return it->second.resource;
    }
    return std::make_shared<const spans::Resource>(build_resource(pid, options_.resource));
  }
  return get(pid, *start_time_ticks);
}

std::shared_ptr<const spans::Resource> ProcessTable::get(pid_t pid, uint64_t start_time_ticks) {
  if (auto cached = lookup(pid, start_time_ticks)) return cached;
  if (read_start_time_ticks(pid, options_.resource.proc_root) != start_time_ticks) {
    // A late event of an exited process whose pid is gone or reused.
    return unidentified_resource(pid, options_.resource);
  }
  bool settled = true;
  auto resource =
      std::make_shared<const spans::Resource>(build_resource(pid, options_.resource, &settled));
  // The pid may have been reused while /proc was read: the resource would then describe
  // another process.
  if (read_start_time_ticks(pid, options_.resource.proc_root) != start_time_ticks) {
    return unidentified_resource(pid, options_.resource);
  }
  return insert(pid, start_time_ticks, std::move(resource), settled);
}

void ProcessTable::put(pid_t pid, uint64_t start_time_ticks, spans::Resource resource) {
  forget(pid);
  insert(pid, start_time_ticks, std::make_shared<const spans::Resource>(std::move(resource)),
         true);
}

void ProcessTable::forget(pid_t pid) {
  std::lock_guard lock(mutex_);
  entries_.erase(pid);
}

size_t ProcessTable::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::shared_ptr<const spans::Resource> ProcessTable::lookup(pid_t pid, uint64_t start_time_ticks) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(pid);
  if (it == entries_.end()) return nullptr;
  if (it->second.start_time_ticks != start_time_ticks) {
    // Start times only grow for a reused pid: an older one is a late event of the previous
    // process and must not evict the current entry.
    if (it->second.start_time_ticks < start_time_ticks) entries_.erase(it);
    return nullptr;
  }
  it->second.last_used = ++use_clock_;
  if (!it->second.settled) return nullptr;  // possibly caught mid-exec: read /proc again
  return it->second.resource;
}

std::shared_ptr<const spans::Resource> ProcessTable::insert(
    pid_t pid, uint64_t start_time_ticks, std::shared_ptr<const spans::Resource> resource,
    bool settled) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(pid);
  if (it != entries_.end() && it->second.start_time_ticks == start_time_ticks) {
    Entry& entry = it->second;
    entry.last_used = ++use_clock_;
    // Another thread built it concurrently: keep one instance so spans share it.
    if (entry.settled) return entry.resource;
    entry.resource = resource;
    entry.settled = settled || now - entry.first_built >= kSettleTime;
    return resource;
  }
  if (it == entries_.end() && options_.max_entries > 0 && entries_.size() >= options_.max_entries) {
    // O(n), only when full and on a miss; a miss already costs far more in /proc reads.
    auto oldest = entries_.begin();
    for (auto candidate = entries_.begin(); candidate != entries_.end(); ++candidate) {
      if (candidate->second.last_used < oldest->second.last_used) oldest = candidate;
    }
    entries_.erase(oldest);
  }
  Entry& entry = entries_[pid];
  entry.start_time_ticks = start_time_ticks;
  entry.resource = resource;
  entry.last_used = ++use_clock_;
  entry.settled = settled;
  entry.first_built = now;
  return resource;
}

}  // namespace ztrace::process
