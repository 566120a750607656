#pragma once

// Keeps a PodStore in step with the API server for the pods of one node: list (paged), then
// watch from the list's resourceVersion with bookmarks; a 410 Gone re-lists; any error backs
// off (doubling, capped) and re-lists. Owners are resolved once per owner object
// (ReplicaSet → Deployment, Job → CronJob). The API server being away only stops updates:
// what the store holds stays, and the gap is counted.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <thread>

#include "k8s/api_config.h"
#include "k8s/pod_store.h"

namespace httplib {
class Client;
}

namespace ztrace::k8s {

struct WatcherCounters {
  std::atomic<uint64_t> lists{0};         // complete lists
  std::atomic<uint64_t> watch_events{0};  // ADDED, MODIFIED, DELETED
  std::atomic<uint64_t> bookmarks{0};
  std::atomic<uint64_t> relists_gone{0};   // 410: the resourceVersion was too old
  std::atomic<uint64_t> errors{0};         // failed requests (connection, HTTP status)
  std::atomic<uint64_t> malformed{0};      // objects or lines that did not parse (skipped)
  std::atomic<uint64_t> owner_lookups{0};  // GETs of ReplicaSets and Jobs
  std::atomic<uint64_t> owner_errors{0};
  std::atomic<bool> connected{false};  // the last list or watch succeeded
};

struct WatcherOptions {
  ApiConfig api;
  std::string node_name;
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{10'000};
  int watch_timeout_seconds = 300;  // the server ends a watch after this; it is re-opened
};

class PodWatcher {
 public:
  PodWatcher(WatcherOptions options, PodStore& store);
  ~PodWatcher();  // stops

  void start();
  void stop();
  // True once the first list is in the store (the selection then reflects the cluster).
  bool wait_synced(std::chrono::milliseconds timeout);

  const WatcherCounters& counters() const { return counters_; }
  const std::string& node_name() const { return options_.node_name; }

 private:
  enum class WatchEnd { kExpired, kGone, kError, kStopped };
  void run();
  std::optional<std::string> list();  // the list's resourceVersion; nullopt: failed
  WatchEnd watch(std::string& resource_version);
  bool apply_event(const std::string& line, std::string& resource_version, WatchEnd* end);
  std::optional<PodEntry> entry_from(const nlohmann::json& object);
  std::vector<OwnerRef> owners_of(const Pod& pod);
  std::optional<nlohmann::json> get_json(const std::string& path, int* status);
  std::string pods_path() const;
  bool sleep_for(std::chrono::milliseconds duration);  // false: stopping

  const WatcherOptions options_;
  PodStore& store_;
  WatcherCounters counters_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;                    // guarded by mutex_
  bool synced_ = false;                      // guarded by mutex_
  httplib::Client* watch_client_ = nullptr;  // guarded by mutex_: stop() ends the watch
  // "Kind/namespace/name" → that object's controller (nullopt: none). Owners do not change
  // their controller, so entries live until the map is cleared at 4096.
  std::map<std::string, std::optional<OwnerRef>> owner_cache_;
};

}  // namespace ztrace::k8s
