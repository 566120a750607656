#pragma once

// The pods of this node the agent knows, by uid, with their resolved owners. Written by the
// watcher thread; read by the pipeline and intake threads. Entries are immutable and shared,
// so a reader never holds the lock while using one.

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "k8s/pod.h"

namespace ztrace::k8s {

struct PodEntry {
  Pod pod;
  std::vector<OwnerRef> owners;  // controller chain, nearest first
};
using PodPtr = std::shared_ptr<const PodEntry>;

class PodStore {
 public:
  // Called after each change, outside the lock, on the writer's thread: `before` null for a
  // new pod, `after` null for a deleted one.
  using Listener = std::function<void(const PodPtr& before, const PodPtr& after)>;
  void set_listener(Listener listener) { listener_ = std::move(listener); }  // before writes

  PodPtr find(const std::string& uid) const;
  size_t size() const;

  void upsert(PodEntry entry);
  void erase(const std::string& uid);
  // After a (re-)list: pods absent from `entries` were deleted meanwhile.
  void replace_all(std::vector<PodEntry> entries);

 private:
  void notify(const std::vector<std::pair<PodPtr, PodPtr>>& changes);

  Listener listener_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, PodPtr> pods_;  // guarded by mutex_
};

}  // namespace ztrace::k8s
