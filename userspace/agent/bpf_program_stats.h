#pragma once

// The kernel's own accounting of the agent's BPF programs and maps: run time and runs per
// program, and memory per map, read from the fdinfo of the descriptors this process holds. The
// kernel counts only while kernel.bpf_stats_enabled is 1 (it costs a clock read per run), so the
// figures stay 0 otherwise; bench/bpf_cost.sh turns it on for a measurement.

#include <cstdint>
#include <string>
#include <vector>

namespace ztrace::agent {

struct BpfProgramStat {
  std::string name;  // the program's name (as the kernel keeps it: 15 characters at most)
  uint64_t run_time_ns = 0;
  uint64_t run_count = 0;
};

// One entry per program name (copies of a program, e.g. per traced Go binary, are summed),
// sorted by name.
std::vector<BpfProgramStat> read_bpf_program_stats();

struct BpfMapMemory {
  std::string name;  // the map's name (15 characters at most)
  uint64_t bytes = 0;
};

// Kernel memory per map name (as the kernel accounts it, fdinfo "memlock"), each map counted
// once however many objects share it, sorted by name.
std::vector<BpfMapMemory> read_bpf_map_memory();

// kernel.bpf_stats_enabled; false when it cannot be read.
bool bpf_stats_enabled();

}  // namespace ztrace::agent
