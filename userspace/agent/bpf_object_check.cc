#include "userspace/agent/bpf_object_check.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <set>

#include "go_probes.skel.h"
#include "inject.skel.h"
#include "openssl_probes.skel.h"
#include "rdkafka_probes.skel.h"
#include "socket_trace.skel.h"
#include "userspace/agent/socket_tracer.h"
#include "userspace/bpf_support/fdinfo.h"
#include "userspace/bpf_support/load_log.h"
#include "userspace/bpf_support/shared_maps.h"

namespace ztrace::agent {
namespace {

uint32_t verified_instructions(const bpf_program* prog) {
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  if (bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &length)) return 0;
  return info.verified_insns;
}

// The maps `obj` created, each map counted once over every object loaded so far (`seen`: map
// ids), so a map an object shares counts for its owner.
MapMemoryReport created_maps(const char* object, const bpf_object* obj, std::set<uint32_t>* seen) {
  MapMemoryReport report{object};
  const bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    const int fd = bpf_map__fd(map);
    bpf_map_info info{};
    uint32_t length = sizeof(info);
    if (fd < 0 || bpf_map_get_info_by_fd(fd, &info, &length) || !seen->insert(info.id).second) {
      continue;
    }
    ++report.maps;
    report.bytes += bpf_support::fdinfo_number(bpf_support::read_fdinfo(fd), "memlock");
  }
  return report;
}

// The objects loaded so far; destroyed together, so the probe objects find the socket
// tracer's maps to share, and each shared map is counted once.
class LoadedObjects {
 public:
  ~LoadedObjects() {
    for (auto it = destroy_.rbegin(); it != destroy_.rend(); ++it) (*it)();
  }
  // One object: libbpf loads its programs in order and stops at the first rejection, so a
  // failed load names that program and marks the ones after it as not reached. Returns the
  // loaded skeleton (owned here), or nullptr.
  template <typename Skeleton, typename Configure>
  Skeleton* load(const char* object, Skeleton* (*open)(), int (*load)(Skeleton*),
                 void (*destroy)(Skeleton*), Configure configure, BpfObjectsCheck* check) {
    Skeleton* skel = open();
    if (!skel) {
      check->programs.push_back(
          {object, "", false, 0, std::string("cannot open: ") + std::strerror(errno)});
      return nullptr;
    }
    destroy_.push_back([skel, destroy] { destroy(skel); });
    std::string sharing;
    if (maps_owner_) sharing = bpf_support::share_maps_by_name(skel->obj, *maps_owner_);
    if (!sharing.empty()) {
      check->programs.push_back({object, "", false, 0, sharing});
      return nullptr;
    }
    configure(skel);
    bpf_support::take_verifier_rejection();  // only this object's verdict counts
    int err = load(skel);
    std::string rejection = err ? bpf_support::take_verifier_rejection() : "";
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
      ProgramLoadReport report{object, bpf_program__name(prog)};
      if (!bpf_program__autoload(prog)) continue;
      if (!err) {
        report.loaded = true;
        report.verified_instructions = verified_instructions(prog);
      } else if (bpf_program__fd(prog) >= 0) {
        report.error = "loaded, but its object was not";
      } else if (rejection.find("'" + report.program + "'") != std::string::npos) {
        report.error = rejection;
      } else {
        report.error = std::string("not loaded: the object failed (") + std::strerror(-err) + ")";
      }
      check->programs.push_back(std::move(report));
    }
    if (err) return nullptr;
    check->maps.push_back(created_maps(object, skel->obj, &seen_maps_));
    return skel;
  }
  void share_maps_of(const bpf_object* owner) { maps_owner_ = owner; }

 private:
  std::vector<std::function<void()>> destroy_;
  const bpf_object* maps_owner_ = nullptr;
  std::set<uint32_t> seen_maps_;
};

}  // namespace

BpfObjectsCheck load_every_bpf_object() {
  BpfObjectsCheck check;
  LoadedObjects objects;
  // `ztrace run`'s defaults, with injection on (the settings that verify the most code).
  TracerOptions defaults;
  defaults.inject_traceparent = true;
  auto* socket_trace = objects.load(
      "socket_trace", socket_trace_bpf__open, socket_trace_bpf__load, socket_trace_bpf__destroy,
      [&](socket_trace_bpf* skel) { SocketTracer::configure(skel, defaults); }, &check);
  // Without the socket tracer the others load on their own, with maps of their own.
  if (socket_trace) objects.share_maps_of(socket_trace->obj);
  objects.load(
      "inject", inject_bpf__open, inject_bpf__load, inject_bpf__destroy, [](inject_bpf*) {},
      &check);
  objects.load(
      "go_probes", go_probes_bpf__open, go_probes_bpf__load, go_probes_bpf__destroy,
      [](go_probes_bpf*) {}, &check);
  objects.load(
      "openssl_probes", openssl_probes_bpf__open, openssl_probes_bpf__load,
      openssl_probes_bpf__destroy, [](openssl_probes_bpf*) {}, &check);
  objects.load(
      "rdkafka_probes", rdkafka_probes_bpf__open, rdkafka_probes_bpf__load,
      rdkafka_probes_bpf__destroy, [](rdkafka_probes_bpf*) {}, &check);
  return check;
}

}  // namespace ztrace::agent
