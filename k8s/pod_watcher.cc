#include "k8s/pod_watcher.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace ztrace::k8s {
namespace {

using nlohmann::json;

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The API paths of the owner kinds whose own controller is looked up.
std::optional<std::string> owner_path(const std::string& kind, const std::string& ns,
                                      const std::string& name) {
  if (kind == "ReplicaSet") return "/apis/apps/v1/namespaces/" + ns + "/replicasets/" + name;
  if (kind == "Job") return "/apis/batch/v1/namespaces/" + ns + "/jobs/" + name;
  return std::nullopt;  // Deployment, StatefulSet, DaemonSet, CronJob: top level
}

}  // namespace

PodWatcher::PodWatcher(WatcherOptions options, PodStore& store)
    : options_(std::move(options)), store_(store) {}

PodWatcher::~PodWatcher() { stop(); }

void PodWatcher::start() {
  thread_ = std::thread([this] { run(); });
}

void PodWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (watch_client_) watch_client_->stop();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PodWatcher::wait_synced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return wake_.wait_for(lock, timeout, [&] { return synced_ || stopping_; }) && synced_;
}

bool PodWatcher::sleep_for(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, duration, [&] { return stopping_; });
}

std::string PodWatcher::pods_path() const {
  return "/api/v1/pods?fieldSelector=" + url_encode("spec.nodeName=" + options_.node_name);
}

std::optional<json> PodWatcher::get_json(const std::string& path, int* status) {
  *status = 0;
  std::string error;
  auto client = options_.api.connect(&error);
  if (!client) {
    spdlog::warn("k8s: {}", error);
    return std::nullopt;
  }
  client->set_read_timeout(std::chrono::seconds(30));
  auto response = client->Get(path);
  if (!response) {
    spdlog::warn("k8s: GET {}: {} ({})", path, httplib::to_string(response.error()),
                 options_.api.server);
    return std::nullopt;
  }
  *status = response->status;
  if (response->status != 200) {
    spdlog::warn("k8s: GET {}: HTTP {}: {}", path, response->status, response->body.substr(0, 300));
    return std::nullopt;
  }
  json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    ++counters_.malformed;
    spdlog::warn("k8s: GET {}: the answer is not JSON", path);
    return std::nullopt;
  }
  return body;
}

std::vector<OwnerRef> PodWatcher::owners_of(const Pod& pod) {
  std::vector<OwnerRef> chain;
  std::optional<OwnerRef> next = pod.controller;
  while (next && chain.size() < 4) {
    chain.push_back(*next);
    const auto path = owner_path(next->kind, pod.namespace_name, next->name);
    if (!path) break;
    const std::string key = next->kind + "/" + pod.namespace_name + "/" + next->name;
    auto cached = owner_cache_.find(key);
    if (cached == owner_cache_.end()) {
      ++counters_.owner_lookups;
      int status = 0;
      auto object = get_json(*path, &status);
      if (!object) {
        // Not cached: a later event of this pod retries. The pod keeps the nearest owner.
        ++counters_.owner_errors;
        break;
      }
      if (owner_cache_.size() >= 4096) owner_cache_.clear();
      cached = owner_cache_.emplace(key, controller_of(*object)).first;
    }
    next = cached->second;
  }
  return chain;
}

std::optional<PodEntry> PodWatcher::entry_from(const json& object) {
  std::string error;
  auto pod = parse_pod(object, &error);
  if (!pod) {
    ++counters_.malformed;
    spdlog::warn("k8s: a pod object was skipped: {}", error);
    return std::nullopt;
  }
  PodEntry entry;
  entry.owners = owners_of(*pod);
  entry.pod = std::move(*pod);
  return entry;
}

std::optional<std::string> PodWatcher::list() {
  std::vector<PodEntry> entries;
  std::string continue_token;
  std::string resource_version;
  do {
    std::string path = pods_path() + "&limit=500";
    if (!continue_token.empty()) path += "&continue=" + url_encode(continue_token);
    int status = 0;
    auto page = get_json(path, &status);
    if (!page) return std::nullopt;
    const json* items = page->contains("items") ? &(*page)["items"] : nullptr;
    const json* metadata = page->contains("metadata") ? &(*page)["metadata"] : nullptr;
    if (!metadata || !metadata->is_object() || !metadata->contains("resourceVersion") ||
        !(*metadata)["resourceVersion"].is_string() ||
        (items && !items->is_array() && !items->is_null())) {
      ++counters_.malformed;
      spdlog::warn("k8s: the pod list has no resourceVersion or its items are not a list");
      return std::nullopt;
    }
    resource_version = (*metadata)["resourceVersion"].get<std::string>();
    continue_token = metadata->value("continue", std::string());
    if (items && items->is_array()) {
      for (const json& item : *items) {
        if (auto entry = entry_from(item)) entries.push_back(std::move(*entry));
      }
    }
  } while (!continue_token.empty());
  store_.replace_all(std::move(entries));
  ++counters_.lists;
  return resource_version;
}

// One line of a watch stream. False when the watch must end (`end` says why).
bool PodWatcher::apply_event(const std::string& line, std::string& resource_version,
                             WatchEnd* end) {
  json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded() || !event.is_object() || !event.contains("type") ||
      !event["type"].is_string() || !event.contains("object")) {
    ++counters_.malformed;
    spdlog::warn("k8s: a watch event was skipped: not an event object");
    return true;
  }
  const std::string type = event["type"].get<std::string>();
  const json& object = event["object"];
  if (type == "ERROR") {
    const int code = object.is_object() ? object.value("code", 0) : 0;
    if (code == 410) {
      *end = WatchEnd::kGone;
    } else {
      spdlog::warn("k8s: the watch ended with an error: {}", object.dump().substr(0, 300));
      *end = WatchEnd::kError;
    }
    return false;
  }
  // Every other event carries the object's resourceVersion: the next watch starts there.
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    const auto& metadata = object["metadata"];
    if (metadata.contains("resourceVersion") && metadata["resourceVersion"].is_string()) {
      resource_version = metadata["resourceVersion"].get<std::string>();
    }
  }
  if (type == "BOOKMARK") {
    ++counters_.bookmarks;
    return true;
  }
  auto entry = entry_from(object);
  if (!entry) return true;
  ++counters_.watch_events;
  if (type == "DELETED" || entry->pod.node_name != options_.node_name) {
    store_.erase(entry->pod.uid);
  } else if (type == "ADDED" || type == "MODIFIED") {
    store_.upsert(std::move(*entry));
  } else {
    ++counters_.malformed;
    spdlog::warn("k8s: unknown watch event type '{}'", type);
  }
  return true;
}

PodWatcher::WatchEnd PodWatcher::watch(std::string& resource_version) {
  std::string error;
  auto client = options_.api.connect(&error);
  if (!client) {
    spdlog::warn("k8s: {}", error);
    return WatchEnd::kError;
  }
  // The server closes the watch after timeoutSeconds; a silent connection beyond that plus a
  // margin is a dead one.
  client->set_read_timeout(std::chrono::seconds(options_.watch_timeout_seconds + 30));
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return WatchEnd::kStopped;
    watch_client_ = client.get();
  }
  const std::string path = pods_path() + "&watch=1&allowWatchBookmarks=true&resourceVersion=" +
                           url_encode(resource_version) +
                           "&timeoutSeconds=" + std::to_string(options_.watch_timeout_seconds);
  WatchEnd end = WatchEnd::kExpired;
  std::string pending;
  int status = 0;
  auto response = client->Get(
      path,
      [&](const httplib::Response& r) {
        status = r.status;
        return r.status == 200;
      },
      [&](const char* data, size_t length) {
        pending.append(data, length);
        size_t newline;
        while ((newline = pending.find('\n')) != std::string::npos) {
          const std::string line = pending.substr(0, newline);
          pending.erase(0, newline + 1);
          if (!line.empty() && !apply_event(line, resource_version, &end)) return false;
        }
        return true;
      });
  {
    std::lock_guard lock(mutex_);
    watch_client_ = nullptr;
    if (stopping_) return WatchEnd::kStopped;
  }
  if (end != WatchEnd::kExpired) return end;
  if (status == 410) return WatchEnd::kGone;
  if (!response) {
    // Canceled by our own receiver only for an event that set `end` (handled above).
    if (response.error() == httplib::Error::Read && status == 200) return WatchEnd::kExpired;
    spdlog::warn("k8s: watch: {} ({})", httplib::to_string(response.error()), options_.api.server);
    return WatchEnd::kError;
  }
  if (status != 200) {
    spdlog::warn("k8s: watch: HTTP {}: {}", status, response->body.substr(0, 300));
    return WatchEnd::kError;
  }
  return WatchEnd::kExpired;
}

void PodWatcher::run() {
  spdlog::info("k8s: watching the pods of node '{}' at {} ({})", options_.node_name,
               options_.api.server, options_.api.source);
  auto backoff = options_.min_backoff;
  auto fail = [&] {
    ++counters_.errors;
    counters_.connected = false;
    const bool go_on = sleep_for(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
    return go_on;
  };
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    auto resource_version = list();
    if (!resource_version) {
      if (!fail()) return;
      continue;
    }
    if (!counters_.connected) {
      spdlog::info("k8s: {} pods on node '{}'", store_.size(), options_.node_name);
    }
    counters_.connected = true;
    {
      std::lock_guard lock(mutex_);
      synced_ = true;
    }
    wake_.notify_all();
    backoff = options_.min_backoff;
    // Watch, and watch again from the last resourceVersion, until it is too old or fails.
    // A watch the server ends at once, over and over, must not become a busy loop.
    WatchEnd end;
    while (true) {
      const auto started = std::chrono::steady_clock::now();
      end = watch(*resource_version);
      if (end != WatchEnd::kExpired) break;
      if (std::chrono::steady_clock::now() - started < std::chrono::seconds(1) &&
          !sleep_for(options_.min_backoff)) {
        return;
      }
    }
    if (end == WatchEnd::kStopped) return;
    if (end == WatchEnd::kGone) {
      ++counters_.relists_gone;
      spdlog::info("k8s: watch resourceVersion expired (410 Gone): listing again");
      continue;
    }
    if (!fail()) return;
  }
}

}  // namespace ztrace::k8s
