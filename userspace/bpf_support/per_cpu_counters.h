#pragma once

// Reads a BPF per-CPU array of u64 counters (key i = counter i) as its sum over the CPUs.

#include <bpf/libbpf.h>

#include <cstdint>
#include <vector>

namespace ztrace::bpf_support {

// `Counters` has `values`, an array of as many counters as the map has keys
// (common/kernel_counters.h). A key that cannot be read counts 0.
template <typename Counters>
Counters sum_per_cpu_counters(const bpf_map* map) {
  Counters totals{};
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return totals;
  std::vector<uint64_t> per_cpu(ncpus);
  for (uint32_t key = 0; key < totals.values.size(); ++key) {
    if (bpf_map__lookup_elem(map, &key, sizeof(key), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) == 0) {
      for (uint64_t v : per_cpu) totals.values[key] += v;
    }
  }
  return totals;
}

}  // namespace ztrace::bpf_support
