#pragma once

// What the host must provide before probes can attach, and a capability report.

#include <string>
#include <vector>

namespace ztrace::agent {

struct HostCheck {
  std::string name;
  bool ok = false;
  std::string detail;
};

// Root (or the BPF capabilities), BTF, tracefs (mounted here when missing).
// Returns false with a human explanation in *error.
bool prepare_host(std::string* error);

// Everything `ztrace check` reports; loads nothing.
std::vector<HostCheck> inspect_host();

}  // namespace ztrace::agent
