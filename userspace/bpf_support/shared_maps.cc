#include "userspace/bpf_support/shared_maps.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

namespace ztrace::bpf_support {

std::string share_maps_by_name(bpf_object* object, const bpf_object& owner) {
  bpf_map* map;
  bpf_object__for_each_map(map, object) {
    if (bpf_map__is_internal(map)) continue;
    const bpf_map* owned = bpf_object__find_map_by_name(&owner, bpf_map__name(map));
    if (!owned) continue;
    const int fd = bpf_map__fd(owned);
    if (fd < 0) return std::string("map ") + bpf_map__name(map) + " of the owner is not loaded";
    if (int err = bpf_map__reuse_fd(map, fd)) {
      return std::string("cannot share map ") + bpf_map__name(map) + ": " + std::strerror(-err);
    }
  }
  return "";
}

}  // namespace ztrace::bpf_support
