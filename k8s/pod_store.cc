#include "k8s/pod_store.h"

#include <unordered_set>

namespace ztrace::k8s {
namespace {

// Every status update bumps the resourceVersion; only what attributes and selection use counts.
bool same_metadata(const PodEntry& a, const PodEntry& b) {
  return a.pod.uid == b.pod.uid && a.pod.namespace_name == b.pod.namespace_name &&
         a.pod.name == b.pod.name && a.pod.node_name == b.pod.node_name &&
         a.pod.labels == b.pod.labels && a.pod.annotations == b.pod.annotations &&
         a.pod.controller == b.pod.controller && a.pod.containers == b.pod.containers &&
         a.owners == b.owners;
}

}  // namespace

PodPtr PodStore::find(const std::string& uid) const {
  std::lock_guard lock(mutex_);
  const auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : it->second;
}

size_t PodStore::size() const {
  std::lock_guard lock(mutex_);
  return pods_.size();
}

void PodStore::notify(const std::vector<std::pair<PodPtr, PodPtr>>& changes) {
  if (!listener_) return;
  for (const auto& [before, after] : changes) listener_(before, after);
}

void PodStore::upsert(PodEntry entry) {
  auto after = std::make_shared<const PodEntry>(std::move(entry));
  PodPtr before;
  {
    std::lock_guard lock(mutex_);
    PodPtr& slot = pods_[after->pod.uid];
    before = slot;
    slot = after;
  }
  // A resync or bookmark-free re-list repeats unchanged pods: no news for the listener.
  if (before && same_metadata(*before, *after)) return;
  notify({{before, after}});
}

void PodStore::erase(const std::string& uid) {
  PodPtr before;
  {
    std::lock_guard lock(mutex_);
    const auto it = pods_.find(uid);
    if (it == pods_.end()) return;
    before = it->second;
    pods_.erase(it);
  }
  notify({{before, nullptr}});
}

void PodStore::replace_all(std::vector<PodEntry> entries) {
  std::unordered_set<std::string> listed;
  for (const PodEntry& entry : entries) listed.insert(entry.pod.uid);
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [uid, pod] : pods_) {
      if (!listed.count(uid)) gone.push_back(uid);
    }
  }
  for (const std::string& uid : gone) erase(uid);
  for (PodEntry& entry : entries) upsert(std::move(entry));
}

}  // namespace ztrace::k8s
