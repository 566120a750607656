#pragma once

// Cache of process resources, keyed by (pid, start time) so a reused pid never gets the
// resource of the process that held it before.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "userspace/process/process_info.h"
#include "userspace/spans/span.h"

namespace ztrace::process {

struct ProcessTableOptions {
  ResourceOptions resource;
  size_t max_entries = 4096;  // least recently used entries are evicted beyond this
};

class ProcessTable {
 public:
  explicit ProcessTable(ProcessTableOptions options = {});

  // Never null. Reads /proc/PID/stat on every call to check the start time (a few µs); a
  // miss builds the resource (tens of µs) outside the lock. A vanished pid gets its cached
  // resource until forget(pid), else an uncached minimal one. Thread-safe.
  std::shared_ptr<const spans::Resource> get(pid_t pid);

  // Same, with a start time the caller already knows (/proc/PID/stat field 22; from BPF:
  // task->start_boottime / (1e9 / USER_HZ)), saving the stat read on hits.
  std::shared_ptr<const spans::Resource> get(pid_t pid, uint64_t start_time_ticks);

  // How long a process whose argv or environment read empty is re-read before that is
  // believed: exec finishes setting them up within microseconds.
  static constexpr std::chrono::milliseconds kSettleTime{100};

  // Stores a resource built elsewhere (from an exec event when /proc was already gone).
  void put(pid_t pid, uint64_t start_time_ticks, spans::Resource resource);

  // Drops the entry of an exited process. Thread-safe.
  void forget(pid_t pid);

  size_t size() const;
  const ResourceOptions& resource_options() const { return options_.resource; }

 private:
  struct Entry {
    uint64_t start_time_ticks = 0;
    std::shared_ptr<const spans::Resource> resource;
    uint64_t last_used = 0;
    // Not settled (see build_resource): rebuilt on each get() until settled, or until
    // kSettleTime after the first build (then an empty argv/environment is the real one).
    bool settled = false;
    std::chrono::steady_clock::time_point first_built;
  };

  std::shared_ptr<const spans::Resource> lookup(pid_t pid, uint64_t start_time_ticks);
  std::shared_ptr<const spans::Resource> insert(pid_t pid, uint64_t start_time_ticks,
                                                std::shared_ptr<const spans::Resource> resource,
                                                bool settled);

  const ProcessTableOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<pid_t, Entry> entries_;  // guarded by mutex_
  uint64_t use_clock_ = 0;                    // guarded by mutex_
};

}  // namespace ztrace::process
