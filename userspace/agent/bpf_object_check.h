#pragma once

// `ztrace check`'s load test: every embedded BPF object loaded into this kernel as `ztrace run`
// loads it by default (the probe objects sharing the socket tracer's maps), each program's
// verdict and verified instruction count, and the kernel memory of each object's maps.

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

// The maps an object created: those it shares with the socket tracer count there.
struct MapMemoryReport {
  std::string object;
  size_t maps = 0;
  uint64_t bytes = 0;  // as the kernel accounts them (fdinfo "memlock")
};

struct BpfObjectsCheck {
  std::vector<ProgramLoadReport> programs;
  std::vector<MapMemoryReport> maps;  // objects that loaded
};

// Loads each object with `ztrace run`'s default settings (no attach), then unloads them all.
BpfObjectsCheck load_every_bpf_object();

}  // namespace ztrace::agent
