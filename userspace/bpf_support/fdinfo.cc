#include "userspace/bpf_support/fdinfo.h"

#include <fstream>

namespace ztrace::bpf_support {

FdInfo read_fdinfo(int fd) {
  FdInfo fields;
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t value = colon + 1;
    while (value < line.size() && (line[value] == '\t' || line[value] == ' ')) ++value;
    fields[line.substr(0, colon)] = line.substr(value);
  }
  return fields;
}

uint64_t fdinfo_number(const FdInfo& fields, const std::string& key) {
  const auto it = fields.find(key);
  if (it == fields.end()) return 0;
  try {
    return std::stoull(it->second);
  } catch (...) {
    return 0;
  }
}

}  // namespace ztrace::bpf_support
