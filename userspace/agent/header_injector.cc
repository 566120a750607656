#include "userspace/agent/header_injector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "inject.skel.h"

namespace ztrace::agent {

std::string find_cgroup2_mount() {
  std::ifstream mounts("/proc/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return dir;
  }
  return "";
}

std::unique_ptr<HeaderInjector> HeaderInjector::open(SocketTracer& tracer, bool filter_by_port,
                                                     std::string* error) {
  std::unique_ptr<HeaderInjector> injector(new HeaderInjector());
  injector->cgroup_path_ = find_cgroup2_mount();
  if (injector->cgroup_path_.empty()) {
    *error = "no cgroup v2 mount in /proc/mounts (sockops needs one)";
    return nullptr;
  }
  injector->cgroup_fd_ = ::open(injector->cgroup_path_.c_str(), O_RDONLY | O_DIRECTORY);
  if (injector->cgroup_fd_ < 0) {
    *error = "cannot open " + injector->cgroup_path_ + ": " + std::strerror(errno);
    return nullptr;
  }
  inject_bpf* skel = inject_bpf__open();
  if (!skel) {
    *error = std::string("cannot open the inject BPF object: ") + std::strerror(errno);
    return nullptr;
  }
  injector->skel_ = skel;
  skel->rodata->filter_by_port = filter_by_port ? 1 : 0;
  const SharedMapFds shared = tracer.shared_map_fds();
  if (bpf_map__reuse_fd(skel->maps.pending_injections, shared.pending_injections) ||
      bpf_map__reuse_fd(skel->maps.inject_counters, shared.inject_counters) ||
      bpf_map__reuse_fd(skel->maps.traced_ports, shared.traced_ports)) {
    *error = std::string("cannot share maps with the socket tracer: ") + std::strerror(errno);
    return nullptr;
  }
  if (int err = inject_bpf__load(skel)) {
    *error = std::string("cannot load the inject programs: ") + std::strerror(-err);
    return nullptr;
  }
  injector->sockops_link_ =
      bpf_program__attach_cgroup(skel->progs.track_client_sockets, injector->cgroup_fd_);
  if (!injector->sockops_link_) {
    *error = "cannot attach sockops to " + injector->cgroup_path_ + ": " + std::strerror(errno);
    return nullptr;
  }
  // libbpf 1.4 has no link for sk_msg verdicts: attach to the map, detach in the destructor.
  if (bpf_prog_attach(bpf_program__fd(skel->progs.inject_traceparent),
                      bpf_map__fd(skel->maps.client_sockets), BPF_SK_MSG_VERDICT, 0)) {
    *error = std::string("cannot attach sk_msg: ") + std::strerror(errno);
    return nullptr;
  }
  injector->verdict_attached_ = true;
  return injector;
}

HeaderInjector::~HeaderInjector() {
  if (sockops_link_) bpf_link__destroy(sockops_link_);
  if (verdict_attached_) {
    bpf_prog_detach2(bpf_program__fd(skel_->progs.inject_traceparent),
                     bpf_map__fd(skel_->maps.client_sockets), BPF_SK_MSG_VERDICT);
  }
  if (skel_) inject_bpf__destroy(skel_);
  if (cgroup_fd_ >= 0) close(cgroup_fd_);
}

}  // namespace ztrace::agent
