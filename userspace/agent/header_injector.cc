#include "userspace/agent/header_injector.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "inject.skel.h"
#include "k8s/cgroup.h"
#include "userspace/agent/listening_ports.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/bpf_support/shared_maps.h"

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
                                                     bool per_pod, std::string* error) {
  std::unique_ptr<HeaderInjector> injector(new HeaderInjector(tracer));
  injector->per_pod_ = per_pod;
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
  if (std::string why = bpf_support::share_maps_by_name(skel->obj, tracer.bpf_maps_owner());
      !why.empty()) {
    *error = "cannot share maps with the socket tracer: " + why;
    return nullptr;
  }
  if (int err = inject_bpf__load(skel)) {
    *error = bpf_support::with_verifier_rejection(std::string("cannot load the inject programs: ") +
                                                  std::strerror(-err));
    return nullptr;
  }
  if (!per_pod) {
    injector->sockops_link_ =
        bpf_program__attach_cgroup(skel->progs.track_client_sockets, injector->cgroup_fd_);
  }
  if (!per_pod && !injector->sockops_link_) {
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

namespace {

// The sockhash key of a connected TCP socket, as sockops would have made it.
bool inject_key_of(int fd, zt_inject_key* key) {
  sockaddr_storage local{}, remote{};
  socklen_t local_len = sizeof(local), remote_len = sizeof(remote);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) {
    return false;
  }
  *key = {};
  key->family = local.ss_family;
  if (local.ss_family == AF_INET) {
    const auto& l = reinterpret_cast<const sockaddr_in&>(local);
    const auto& r = reinterpret_cast<const sockaddr_in&>(remote);
    std::memcpy(key->local_addr, &l.sin_addr, 4);
    std::memcpy(key->remote_addr, &r.sin_addr, 4);
    key->local_port = ntohs(l.sin_port);
    key->remote_port = ntohs(r.sin_port);
    return true;
  }
  if (local.ss_family == AF_INET6) {
    const auto& l = reinterpret_cast<const sockaddr_in6&>(local);
    const auto& r = reinterpret_cast<const sockaddr_in6&>(remote);
    std::memcpy(key->local_addr, &l.sin6_addr, 16);
    std::memcpy(key->remote_addr, &r.sin6_addr, 16);
    key->local_port = ntohs(l.sin6_port);
    key->remote_port = ntohs(r.sin6_port);
    return true;
  }
  return false;
}

bool is_established_tcp(int fd) {
  int protocol = 0;
  socklen_t len = sizeof(protocol);
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 || protocol != IPPROTO_TCP) {
    return false;
  }
  tcp_info info{};
  len = sizeof(info);
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
         info.tcpi_state == TCP_ESTABLISHED;
}

}  // namespace

size_t HeaderInjector::adopt_client_connections(const std::vector<pid_t>& pids,
                                                const std::vector<uint16_t>& ports) {
  std::unordered_map<ino_t, std::unordered_set<uint16_t>> listening_by_namespace;
  size_t adopted = 0;
  for (pid_t pid : pids) {
    const ino_t netns = network_namespace(pid);
    if (netns == 0) continue;
    auto known = listening_by_namespace.find(netns);
    if (known == listening_by_namespace.end()) {
      known = listening_by_namespace.emplace(netns, listening_ports(pid)).first;
    }
    adopted += adopt_process_connections(pid, ports, known->second);
  }
  return adopted;
}

size_t HeaderInjector::adopt_process_connections(pid_t pid, const std::vector<uint16_t>& ports,
                                                 const std::unordered_set<uint16_t>& listening) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return 0;
  size_t adopted = 0;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec || target.rfind("socket:", 0) != 0) continue;
    int target_fd;
    try {
      target_fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    const int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target_fd, 0));
    if (fd < 0) continue;
    zt_inject_key key;
    const bool client = is_established_tcp(fd) && inject_key_of(fd, &key) &&
                        !listening.count(key.local_port) &&
                        (ports.empty() || std::count(ports.begin(), ports.end(), key.remote_port) ||
                         std::count(ports.begin(), ports.end(), key.local_port));
    // The map holds the socket itself; our copy of the fd can go right after. Its values are
    // 8 bytes: the fd goes in as a u64 (an int's neighbouring stack bytes made it EINVAL).
    const uint64_t socket_fd = static_cast<uint64_t>(fd);
    if (client && bpf_map_update_elem(bpf_map__fd(skel_->maps.client_sockets), &key, &socket_fd,
                                      BPF_NOEXIST) == 0) {
      tracer_.hint_client_fd(pid, target_fd);
      ++adopted;
    }
    close(fd);
  }
  close(pidfd);
  return adopted;
}

void HeaderInjector::cover_process(pid_t pid) {
  if (!per_pod_) return;
  const auto pod = k8s::read_pod_cgroup(pid);
  if (!pod) return;
  std::lock_guard lock(pod_links_mutex_);
  if (pod_links_.count(pod->path)) return;
  const std::string dir = cgroup_path_ + pod->path;
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bpf_link* link =
      fd < 0 ? nullptr : bpf_program__attach_cgroup(skel_->progs.track_client_sockets, fd);
  const int saved = errno;
  if (fd >= 0) close(fd);
  if (!link) {
    spdlog::warn("injection: cannot attach sockops to {}: {} (this pod is traced, not injected)",
                 dir, std::strerror(saved));
    return;
  }
  pod_links_[pod->path] = {pod->pod_uid, link};
  spdlog::info("injection: sockops on {}", dir);
}

void HeaderInjector::uncover_pod(const std::string& pod_uid) {
  std::lock_guard lock(pod_links_mutex_);
  for (auto it = pod_links_.begin(); it != pod_links_.end();) {
    if (it->second.pod_uid == pod_uid) {
      bpf_link__destroy(it->second.link);
      spdlog::info("injection: sockops off {}{}", cgroup_path_, it->first);
      it = pod_links_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t HeaderInjector::covered_pods() {
  std::lock_guard lock(pod_links_mutex_);
  return pod_links_.size();
}

HeaderInjector::~HeaderInjector() {
  for (auto& [path, pod] : pod_links_) bpf_link__destroy(pod.link);
  if (sockops_link_) bpf_link__destroy(sockops_link_);
  if (verdict_attached_) {
    bpf_prog_detach2(bpf_program__fd(skel_->progs.inject_traceparent),
                     bpf_map__fd(skel_->maps.client_sockets), BPF_SK_MSG_VERDICT);
  }
  if (skel_) inject_bpf__destroy(skel_);
  if (cgroup_fd_ >= 0) close(cgroup_fd_);
}

}  // namespace ztrace::agent
