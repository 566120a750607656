#pragma once

// Owns the inject BPF object: sockops on the cgroup v2 root tracks client connections, sk_msg
// inserts the traceparent headers the socket tracer queued. Destroying it detaches both.

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
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
  static std::unique_ptr<HeaderInjector> open(SocketTracer& tracer, bool filter_by_port,
                                              std::string* error);
  ~HeaderInjector();
  HeaderInjector(const HeaderInjector&) = delete;
  HeaderInjector& operator=(const HeaderInjector&) = delete;

  const std::string& cgroup_path() const { return cgroup_path_; }

  // Connections are tracked from their connect(); client connections a process opened before
  // the agent (keep-alive pools) are adopted here, through a copy of the process's fd
  // (pidfd_getfd), and marked as clients for the kernel, which never injects into them: what
  // they sent before is unknown, so is where their next message starts (counted as
  // h1_joined_midway). `ports`: the --port rules (empty: any). Returns how many were adopted.
  size_t adopt_client_connections(pid_t pid, const std::vector<uint16_t>& ports);

 private:
  explicit HeaderInjector(SocketTracer& tracer) : tracer_(tracer) {}

  SocketTracer& tracer_;  // outlives the injector
  inject_bpf* skel_ = nullptr;
  bpf_link* sockops_link_ = nullptr;
  int cgroup_fd_ = -1;
  bool verdict_attached_ = false;
  std::string cgroup_path_;
};

// The cgroup v2 mount point from /proc/mounts (it may be /sys/fs/cgroup/unified on hybrid
// hosts); empty when there is none.
std::string find_cgroup2_mount();

}  // namespace ztrace::agent
