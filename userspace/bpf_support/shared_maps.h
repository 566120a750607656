#pragma once

// Maps a BPF object shares with the object that owns them. A probe object declares the socket
// tracer's maps it uses through the same headers; before it loads, each such map is made to use
// the owner's map of the same name. Names are the contract: a map the owner gains later is
// shared with no list to update, and one declared differently fails the load with the reason.

#include <string>

struct bpf_object;

namespace ztrace::bpf_support {

// Every map of `object` (opened, not loaded) that the loaded `owner` also has reuses the
// owner's, except the objects' own data sections (.rodata, .bss). Returns "" or why not.
std::string share_maps_by_name(bpf_object* object, const bpf_object& owner);

}  // namespace ztrace::bpf_support
