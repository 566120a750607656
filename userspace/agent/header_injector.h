#pragma once

// Owns the inject BPF object: sockops tracks client connections, sk_msg inserts the
// traceparent headers the socket tracer queued. sockops runs on the cgroup v2 root, or, when
// only Kubernetes pods are selected, on each selected pod's cgroup: then no connection of an
// unselected pod or of the host ever runs it. Destroying the injector detaches everything.

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "bpf/socket_trace.h"
#include "userspace/agent/socket_tracer.h"

struct inject_bpf;
struct bpf_link;

namespace ztrace::agent {

using InjectCounts = std::array<uint64_t, ZT_INJECT_OUTCOME_COUNT>;

class HeaderInjector {
 public:
  // Shares the pending-injection, counter and port maps of `tracer`, which must outlive it.
  // `per_pod`: sockops is attached by cover_process, per pod, instead of on the root.
  static std::unique_ptr<HeaderInjector> open(SocketTracer& tracer, bool filter_by_port,
                                              bool per_pod, std::string* error);
  ~HeaderInjector();
  HeaderInjector(const HeaderInjector&) = delete;
  HeaderInjector& operator=(const HeaderInjector&) = delete;

  const std::string& cgroup_path() const { return cgroup_path_; }
  bool per_pod() const { return per_pod_; }

  // Per pod: a selected process's pod cgroup gets sockops (once per pod; nothing for a
  // process outside a pod). Thread-safe.
  void cover_process(pid_t pid);
  // Per pod: the pod left the selection (or was deleted): its cgroup's sockops is detached.
  void uncover_pod(const std::string& pod_uid);
  size_t covered_pods();

  // Connections are tracked from their connect(); client connections a process opened before
  // the agent (keep-alive pools) are adopted here, through a copy of the process's fd
  // (pidfd_getfd), and marked as clients for the kernel, which never injects into them: what
  // they sent before is unknown, so is where their next message starts (counted as
  // h1_joined_midway). `ports`: the --port rules (empty: any). Returns how many were adopted.
  // A server's side is told apart by the listening ports of the process's own network
  // namespace (/proc/PID/net/tcp*, read once per namespace): a pod's are not the host's.
  size_t adopt_client_connections(const std::vector<pid_t>& pids,
                                  const std::vector<uint16_t>& ports);

 private:
  explicit HeaderInjector(SocketTracer& tracer) : tracer_(tracer) {}
  // One process's connections; `listening`: the listening ports of its network namespace.
  size_t adopt_process_connections(pid_t pid, const std::vector<uint16_t>& ports,
                                   const std::unordered_set<uint16_t>& listening);

  SocketTracer& tracer_;  // outlives the injector
  inject_bpf* skel_ = nullptr;
  bpf_link* sockops_link_ = nullptr;
  int cgroup_fd_ = -1;
  bool verdict_attached_ = false;
  std::string cgroup_path_;
  bool per_pod_ = false;
  struct PodLink {
    std::string pod_uid;
    bpf_link* link;
  };
  std::mutex pod_links_mutex_;
  std::map<std::string, PodLink> pod_links_;  // by pod cgroup path; guarded by the mutex
};

// The cgroup v2 mount point from /proc/mounts (it may be /sys/fs/cgroup/unified on hybrid
// hosts); empty when there is none.
std::string find_cgroup2_mount();

}  // namespace ztrace::agent
