#pragma once

// Which processes to trace: explicit pids and executable globs. Ports are carried for the
// kernel-side filter and not evaluated here.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ztrace::process {

struct SelectionRules {
  std::vector<pid_t> pids;
  std::vector<std::string> exe_globs;  // fnmatch(3), against the full path or the base name
  std::vector<uint16_t> ports;
  // Set when Kubernetes pod labels or namespaces select: true for a process in a selected pod.
  std::function<bool(pid_t)> pod_selected;

  // No pid, executable or pod rule: every process is selected.
  bool selects_all_processes() const { return pids.empty() && exe_globs.empty() && !pod_selected; }

  // Listed pid, a glob matching `exe_path` or its base name, or a process of a selected pod.
  // With no process rules, true.
  // '*' crosses '/': "*/bin/python3*" and "python3*" both select /usr/bin/python3.11.
  bool matches_process(pid_t pid, std::string_view exe_path) const;
};

// The given processes and all their living descendants (children forked before the agent
// started are part of a selected service, e.g. nginx workers).
std::vector<pid_t> with_descendants(const std::vector<pid_t>& roots,
                                    std::string_view proc_root = "/proc");

// Scans /proc for processes selected by `rules` (kernel threads, whose exe cannot be read,
// are never selected by a glob), sorted, without `exclude_pid` (the agent itself).
std::vector<pid_t> matching_pids(const SelectionRules& rules, pid_t exclude_pid,
                                 std::string_view proc_root = "/proc");

}  // namespace ztrace::process
