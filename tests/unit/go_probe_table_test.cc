// The Go probe table is data: check it against the BPF object it names and the offsets the
// symbolizer provides, so a renamed program or an unknown field fails here, not at attach time.

#include <bpf/libbpf.h>

#include <catch2/catch_test_macros.hpp>
#include <set>
#include <string>

#include "go_probes.skel.h"
#include "probes/go/probe_table.h"
#include "symbolizer/go_offsets.h"

namespace ztrace::probes::go {
namespace {

TEST_CASE("every Go probe names a program of bpf/go_probes.bpf.c", "[go-probes]") {
  go_probes_bpf* skel = go_probes_bpf__open();  // parses the embedded object; no load, no root
  REQUIRE(skel);
  std::set<std::string> programs;
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) programs.insert(bpf_program__name(p));
  go_probes_bpf__destroy(skel);
  std::set<std::string> used;
  for (const auto& spec : kGoProbes) {
    INFO(spec.symbol << " -> " << spec.program);
    CHECK(programs.count(std::string(spec.program)) == 1);
    CHECK_FALSE(spec.max_go < spec.min_go);
    CHECK_FALSE(spec.min_go < kRegabiGo);  // the programs read arguments from registers
    used.insert(std::string(spec.program));
  }
  CHECK(used == programs);  // no program left without a probe
}

TEST_CASE("every probed library has its struct fields in the offset tables", "[go-probes]") {
  std::set<std::string_view> libraries;
  for (const auto& spec : kGoProbes) libraries.insert(spec.library);
  for (std::string_view lib : libraries) {
    INFO(lib);
    const LibraryFields* fields = nullptr;
    for (const auto& lf : kLibraryFields) {
      if (lf.library == lib) fields = &lf;
    }
    REQUIRE(fields);
    for (int minor : symbolizer::go_offsets_table_minors()) {
      auto table = symbolizer::go_offsets_from_table({1, minor, 0});
      REQUIRE(table);
      for (auto f : fields->fields) CHECK(table->get(f) >= 0);
    }
  }
}

}  // namespace
}  // namespace ztrace::probes::go
