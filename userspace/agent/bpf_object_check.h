#pragma once

// `ztrace check`'s load test: every embedded BPF object loaded into this kernel on its own,
// each program's verdict and verified instruction count.

#include <cstdint>
#include <string>
#include <vector>

namespace ztrace::agent {

// The verifier's limit on instructions processed for one program (BPF_COMPLEXITY_LIMIT_INSNS).
inline constexpr uint32_t kVerifierInstructionLimit = 1'000'000;

struct ProgramLoadReport {
  std::string object;   // socket_trace, inject, go_probes
  std::string program;  // "" when the object itself failed before its programs were known
  bool loaded = false;
  uint32_t verified_instructions = 0;  // 0 when the kernel does not report it (< 5.16)
  std::string error;                   // why it did not load, with the verifier's last lines
};

// Loads each object with default settings (no attach), then unloads it.
std::vector<ProgramLoadReport> load_every_bpf_object();

}  // namespace ztrace::agent
