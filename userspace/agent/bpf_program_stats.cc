#include "userspace/agent/bpf_program_stats.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
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

// The descriptors of this process that hold a BPF object of `kind` ("bpf-prog", "bpf-map").
std::vector<int> bpf_descriptors(std::string_view kind) {
  std::vector<int> fds;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd", error)) {
    std::error_code link_error;
    const std::string target = fs::read_symlink(entry.path(), link_error).string();
    if (link_error || target != "anon_inode:" + std::string(kind)) continue;
    fds.push_back(std::stoi(entry.path().filename().string()));
  }
  return fds;
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
  std::map<uint64_t, BpfProgramStat> by_id;  // one program may be held by several descriptors
  for (int fd : bpf_descriptors("bpf-prog")) {
    const auto fields = bpf_support::read_fdinfo(fd);
    if (!fields.count("prog_id")) continue;
    const uint64_t id = bpf_support::fdinfo_number(fields, "prog_id");
    if (by_id.count(id)) continue;
    BpfProgramStat stat;
    stat.name = program_name(fd);
    stat.run_time_ns = bpf_support::fdinfo_number(fields, "run_time_ns");
    stat.run_count = bpf_support::fdinfo_number(fields, "run_cnt");
    by_id.emplace(id, std::move(stat));
  }
  std::map<std::string, BpfProgramStat> by_name;
  for (auto& [id, stat] : by_id) {
    BpfProgramStat& sum = by_name[stat.name];
    sum.name = stat.name;
    sum.run_time_ns += stat.run_time_ns;
    sum.run_count += stat.run_count;
  }
  std::vector<BpfProgramStat> stats;
  for (auto& [name, stat] : by_name) stats.push_back(std::move(stat));
  return stats;
}

std::vector<BpfMapMemory> read_bpf_map_memory() {
  std::map<uint64_t, BpfMapMemory> by_id;  // a shared map is held by several descriptors
  for (int fd : bpf_descriptors("bpf-map")) {
    const auto fields = bpf_support::read_fdinfo(fd);
    if (!fields.count("map_id")) continue;
    const uint64_t id = bpf_support::fdinfo_number(fields, "map_id");
    if (by_id.count(id)) continue;
    by_id.emplace(id, BpfMapMemory{map_name(fd), bpf_support::fdinfo_number(fields, "memlock")});
  }
  std::map<std::string, uint64_t> by_name;
  for (const auto& [id, map] : by_id) by_name[map.name] += map.bytes;
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
