#include "userspace/process/selection.h"

#include <dirent.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>

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

}  // namespace ztrace::process
