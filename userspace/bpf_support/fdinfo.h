#pragma once

// /proc/self/fdinfo of a BPF descriptor: the kernel's own accounting of a program (run time,
// runs) or a map (memory, id), as "key: value" lines.

#include <cstdint>
#include <map>
#include <string>

namespace ztrace::bpf_support {

using FdInfo = std::map<std::string, std::string>;

// The fields of descriptor `fd` of this process (empty when it cannot be read).
FdInfo read_fdinfo(int fd);

// A numeric field; 0 when it is absent or not a number.
uint64_t fdinfo_number(const FdInfo& fields, const std::string& key);

}  // namespace ztrace::bpf_support
