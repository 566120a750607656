#pragma once

// What the agent asks about Kubernetes, answered from /proc/PID/cgroup and the watched pods of
// this node: a process's resource attributes, and whether its pod is selected. Tells a
// listener when a pod's metadata or selection changes, so resources are rebuilt and the
// kernel's selection follows a relabel within the watch's latency.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "k8s/api_config.h"
#include "k8s/pod_selector.h"
#include "k8s/pod_store.h"
#include "k8s/pod_watcher.h"
#include "userspace/spans/span.h"

namespace ztrace::k8s {

struct K8sOptions {
  bool enabled = false;      // pod metadata (and pod selection) on
  PodSelector selector;      // empty: pods do not restrict the selection
  bool select_pods = false;  // pods take part in the selection (labels or namespaces given)
  std::string kubeconfig;    // empty: KUBECONFIG, else the in-cluster service account
  std::string node_name;     // empty: NODE_NAME, else the host name
};

// NODE_NAME if set and not empty, else the host name.
std::string resolve_node_name(const std::string& configured);

class PodMetadata {
 public:
  // `pod`: as now (as last known when deleted); `selection_changed`: it entered or left the
  // selection (`selected` now). Called on the watcher thread.
  using Listener = std::function<void(const Pod& pod, bool selection_changed, bool selected)>;

  PodMetadata(K8sOptions options, ApiConfig api, std::string proc_root = "/proc");
  ~PodMetadata();

  void start();
  void stop();
  bool wait_synced(std::chrono::milliseconds timeout) { return watcher_.wait_synced(timeout); }
  void set_listener(Listener listener);

  // The pod attributes of `pid` (see add_pod_attributes); only container.id, k8s.pod.uid and
  // k8s.node.name while its pod is unknown. Nothing for a host process.
  void enrich(pid_t pid, spans::Attributes& attributes) const;
  // `pid` runs in a known pod the selector matches.
  bool pod_selected(pid_t pid) const;
  // The processes whose cgroup names this pod (a /proc scan).
  std::vector<pid_t> pids_in_pod(const std::string& uid) const;

  const WatcherCounters& counters() const { return watcher_.counters(); }
  size_t pod_count() const { return store_.size(); }
  const std::string& node_name() const { return node_name_; }
  const K8sOptions& options() const { return options_; }

 private:
  void on_change(const PodPtr& before, const PodPtr& after);

  const K8sOptions options_;
  const std::string node_name_;
  const std::string proc_root_;
  PodStore store_;
  PodWatcher watcher_;
  std::mutex listener_mutex_;
  Listener listener_;  // guarded by listener_mutex_
};

}  // namespace ztrace::k8s
