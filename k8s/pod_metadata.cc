#include "k8s/pod_metadata.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>

#include "k8s/cgroup.h"
#include "k8s/pod_attributes.h"

namespace ztrace::k8s {

std::string resolve_node_name(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("NODE_NAME"); env && *env) return env;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "";
  return host;
}

PodMetadata::PodMetadata(K8sOptions options, ApiConfig api, std::string proc_root)
    : options_(std::move(options)),
      node_name_(resolve_node_name(options_.node_name)),
      proc_root_(std::move(proc_root)),
      watcher_({.api = std::move(api), .node_name = node_name_}, store_) {
  store_.set_listener(
      [this](const PodPtr& before, const PodPtr& after) { on_change(before, after); });
}

PodMetadata::~PodMetadata() { stop(); }

void PodMetadata::start() { watcher_.start(); }
void PodMetadata::stop() { watcher_.stop(); }

void PodMetadata::set_listener(Listener listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

void PodMetadata::on_change(const PodPtr& before, const PodPtr& after) {
  const bool was = before && options_.selector.matches(before->pod);
  const bool is = after && options_.selector.matches(after->pod);
  const Pod& pod = after ? after->pod : before->pod;
  std::lock_guard lock(listener_mutex_);
  if (listener_) listener_(pod, options_.select_pods && was != is, is);
}

void PodMetadata::enrich(pid_t pid, spans::Attributes& attributes) const {
  const auto ref = read_container_ref(pid, proc_root_);
  if (!ref) return;
  const PodPtr entry = ref->pod_uid.empty() ? nullptr : store_.find(ref->pod_uid);
  if (!entry) {
    add_cgroup_attributes(ref->pod_uid, ref->container_id, node_name_, attributes);
    return;
  }
  add_pod_attributes(entry->pod, entry->owners, ref->container_id, node_name_, attributes);
}

bool PodMetadata::pod_selected(pid_t pid) const {
  const auto ref = read_container_ref(pid, proc_root_);
  if (!ref || ref->pod_uid.empty()) return false;
  const PodPtr entry = store_.find(ref->pod_uid);
  return entry && options_.selector.matches(entry->pod);
}

std::vector<pid_t> PodMetadata::pids_in_pod(const std::string& uid) const {
  std::vector<pid_t> pids;
  DIR* dir = opendir(proc_root_.c_str());
  if (!dir) return pids;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const auto ref = read_container_ref(static_cast<pid_t>(pid), proc_root_);
    if (ref && ref->pod_uid == uid) pids.push_back(static_cast<pid_t>(pid));
  }
  closedir(dir);
  return pids;
}

}  // namespace ztrace::k8s
