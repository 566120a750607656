#include "userspace/agent/bpf_program_stats.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string_view>

namespace ztrace::agent {
namespace {

namespace fs = std::filesystem;

// fdinfo lines "key:\tvalue" of one descriptor; empty when it is not a BPF program.
std::map<std::string, std::string> program_fdinfo(const fs::path& fdinfo) {
  std::map<std::string, std::string> fields;
  std::ifstream in(fdinfo);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t value = colon + 1;
    while (value < line.size() && (line[value] == '\t' || line[value] == ' ')) ++value;
    fields[line.substr(0, colon)] = line.substr(value);
  }
  if (!fields.count("prog_type") || !fields.count("prog_id")) fields.clear();
  return fields;
}

uint64_t number(const std::map<std::string, std::string>& fields, const std::string& key) {
  const auto it = fields.find(key);
  if (it == fields.end()) return 0;
  try {
    return std::stoull(it->second);
  } catch (...) {
    return 0;
  }
}

// The kernel's name of the program behind `fd` (fdinfo does not carry it).
std::string program_name(int fd) {
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  if (bpf_prog_get_info_by_fd(fd, &info, &length) != 0) return "unknown";
  return info.name[0] ? std::string(info.name) : "unnamed";
}

}  // namespace

std::vector<BpfProgramStat> read_bpf_program_stats() {
  const fs::path proc_self = "/proc/self";
  std::map<uint64_t, BpfProgramStat> by_id;  // one program may be held by several descriptors
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(proc_self / "fd", error)) {
    std::error_code link_error;
    const std::string target = fs::read_symlink(entry.path(), link_error).string();
    if (link_error || target != "anon_inode:bpf-prog") continue;
    const std::string fd_text = entry.path().filename().string();
    const auto fields = program_fdinfo(proc_self / "fdinfo" / fd_text);
    if (fields.empty()) continue;
    const uint64_t id = number(fields, "prog_id");
    if (by_id.count(id)) continue;
    BpfProgramStat stat;
    stat.name = program_name(std::stoi(fd_text));
    stat.run_time_ns = number(fields, "run_time_ns");
    stat.run_count = number(fields, "run_cnt");
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

bool bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int value = 0;
  return static_cast<bool>(in >> value) && value == 1;
}

}  // namespace ztrace::agent
