#include "userspace/agent/bpf_program_stats.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string_view>

#include "userspace/bpf_support/fdinfo.h"

namespace ztrace::agent {
namespace {

namespace fs = std::filesystem;

// The kernel's name of the program behind `fd` (fdinfo does not carry it).
std::string program_name(int fd) {
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  if (bpf_prog_get_info_by_fd(fd, &info, &length) != 0) return "unknown";
  return info.name[0] ? std::string(info.name) : "unnamed";
}

// Each BPF object of `kind` ("bpf-prog", "bpf-map") this process holds, once however many
// descriptors hold it: fn(fd, its fdinfo) for the first descriptor of each `id_key`.
template <typename Fn>
void for_each_held(std::string_view kind, const std::string& id_key, Fn&& fn) {
  const std::string target_of_kind = "anon_inode:" + std::string(kind);
  std::set<uint64_t> seen;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd", error)) {
    std::error_code link_error;
    if (fs::read_symlink(entry.path(), link_error).string() != target_of_kind || link_error) {
      continue;
    }
    const int fd = std::stoi(entry.path().filename().string());
    const bpf_support::FdInfo fields = bpf_support::read_fdinfo(fd);
    if (!fields.count(id_key) || !seen.insert(bpf_support::fdinfo_number(fields, id_key)).second) {
      continue;
    }
    fn(fd, fields);
  }
}

// The kernel's name of the map behind `fd`.
std::string map_name(int fd) {
  bpf_map_info info{};
  uint32_t length = sizeof(info);
  if (bpf_map_get_info_by_fd(fd, &info, &length) != 0) return "unknown";
  return info.name[0] ? std::string(info.name) : "unnamed";
}

}  // namespace

std::vector<BpfProgramStat> read_bpf_program_stats() {
  std::map<std::string, BpfProgramStat> by_name;
  for_each_held("bpf-prog", "prog_id", [&](int fd, const bpf_support::FdInfo& fields) {
    const std::string name = program_name(fd);
    BpfProgramStat& sum = by_name[name];
    sum.name = name;
    sum.run_time_ns += bpf_support::fdinfo_number(fields, "run_time_ns");
    sum.run_count += bpf_support::fdinfo_number(fields, "run_cnt");
  });
  std::vector<BpfProgramStat> stats;
  for (auto& [name, stat] : by_name) stats.push_back(std::move(stat));
  return stats;
}

std::vector<BpfMapMemory> read_bpf_map_memory() {
  std::map<std::string, uint64_t> by_name;
  for_each_held("bpf-map", "map_id", [&](int fd, const bpf_support::FdInfo& fields) {
    by_name[map_name(fd)] += bpf_support::fdinfo_number(fields, "memlock");
  });
  std::vector<BpfMapMemory> maps;
  for (const auto& [name, bytes] : by_name) maps.push_back({name, bytes});
  return maps;
}

bool bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int value = 0;
  return static_cast<bool>(in >> value) && value == 1;
}

}  // namespace ztrace::agent
