#include "userspace/process/selection.h"

#include <dirent.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace ztrace::process {

namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

std::optional<pid_t> parse_pid(const char* name) {
  if (*name == '\0') return std::nullopt;
  long value = 0;
  for (const char* c = name; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return std::nullopt;
    value = value * 10 + (*c - '0');
    if (value > 1 << 30) return std::nullopt;
  }
  return static_cast<pid_t>(value);
}

}  // namespace

bool SelectionRules::matches_process(pid_t pid, std::string_view exe_path) const {
  if (selects_all_processes()) return true;
  if (std::find(pids.begin(), pids.end(), pid) != pids.end()) return true;
  if (pod_selected && pod_selected(pid)) return true;
  if (exe_path.empty()) return false;
  const std::string path(exe_path);
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  for (const std::string& glob : exe_globs) {
    if (fnmatch(glob.c_str(), path.c_str(), 0) == 0) return true;
    if (fnmatch(glob.c_str(), base.c_str(), 0) == 0) return true;
  }
  return false;
}

std::vector<pid_t> matching_pids(const SelectionRules& rules, pid_t exclude_pid,
                                 std::string_view proc_root) {
  std::vector<pid_t> pids;
  const std::string root(proc_root);
  DIR* dir = opendir(root.c_str());
  if (dir == nullptr) return pids;
  while (const dirent* entry = readdir(dir)) {
    const auto pid = parse_pid(entry->d_name);
    if (!pid || *pid == exclude_pid) continue;
    char exe_path[4096];
    const std::string link = root + '/' + entry->d_name + "/exe";
    const ssize_t n = readlink(link.c_str(), exe_path, sizeof(exe_path));
    if (n <= 0) {
      // Kernel thread, vanished, or not ours to read: only an explicit pid selects it.
      if (std::find(rules.pids.begin(), rules.pids.end(), *pid) != rules.pids.end()) {
        pids.push_back(*pid);
      }
      continue;
    }
    std::string_view path(exe_path, static_cast<size_t>(n));
    if (path.ends_with(kDeletedSuffix)) path.remove_suffix(kDeletedSuffix.size());
    if (rules.matches_process(*pid, path)) pids.push_back(*pid);
  }
  closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::vector<pid_t> with_descendants(const std::vector<pid_t>& roots, std::string_view proc_root) {
  // parent → children, from field 4 of /proc/PID/stat (after the parenthesised comm).
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(proc_root), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto comm_end = line.rfind(')');
    if (comm_end == std::string::npos) continue;
    std::istringstream rest(line.substr(comm_end + 1));
    std::string state;
    pid_t ppid = 0;
    if (rest >> state >> ppid) children[ppid].push_back(std::stoi(name));
  }
  std::vector<pid_t> selected;
  std::unordered_set<pid_t> seen;
  std::vector<pid_t> pending(roots.begin(), roots.end());
  while (!pending.empty()) {
    const pid_t pid = pending.back();
    pending.pop_back();
    if (!seen.insert(pid).second) continue;
    selected.push_back(pid);
    for (pid_t child : children[pid]) pending.push_back(child);
  }
  std::sort(selected.begin(), selected.end());
  return selected;
}

}  // namespace ztrace::process
