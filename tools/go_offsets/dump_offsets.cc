// Prints the offset-table rows of one Go binary, read from its DWARF: the generator
// (generate.sh) runs it on reference builds of every Go version it covers.
//   ztrace_go_offsets BINARY  ->  {MINOR, "struct", "member", OFFSET},  one line per field
//   ztrace_go_offsets BINARY FUNC...  ->  uprobe sites of each function (inspection aid)

#include <cstdio>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_offsets.h"

using namespace ztrace::symbolizer;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s GO_BINARY [FUNCTION...]\n", argv[0]);
    return 2;
  }
  if (argc > 2) {
    auto bin = GoBinary::analyze(argv[1]);
    if (!bin) return std::fprintf(stderr, "%s\n", bin.reason().c_str()), 1;
    std::printf(
        "%s build_id=%s offsets=%s\n", (*bin)->buildinfo().go_version.c_str(),
        (*bin)->build_id().c_str(),
        (*bin)->offsets() ? (*bin)->offsets()->source.c_str() : (*bin)->offsets().reason().c_str());
    for (int i = 2; i < argc; ++i) {
      auto s = (*bin)->sites(argv[i]);
      if (!s) {
        std::printf("%s: %s\n", argv[i], s.reason().c_str());
        continue;
      }
      std::printf("%s: entry 0x%lx file+0x%lx site +%lu (%.*s) rets", argv[i],
                  static_cast<unsigned long>(s->entry_vaddr),
                  static_cast<unsigned long>(s->entry_file_offset),
                  static_cast<unsigned long>(s->entry_site.offset),
                  static_cast<int>(to_string(s->entry_site.kind).size()),
                  to_string(s->entry_site.kind).data());
      for (uint64_t r : s->ret_file_offsets)
        std::printf(" +%lu", static_cast<unsigned long>(r - s->entry_file_offset));
      std::printf("\n");
    }
    return 0;
  }
  auto elf = ElfFile::open(argv[1]);
  if (!elf) return std::fprintf(stderr, "%s\n", elf.reason().c_str()), 1;
  auto info = read_go_buildinfo(**elf);
  if (!info || !info->version) return std::fprintf(stderr, "%s: no Go version\n", argv[1]), 1;
  auto offsets = go_offsets_from_dwarf(argv[1]);
  if (!offsets) return std::fprintf(stderr, "%s: %s\n", argv[1], offsets.reason().c_str()), 1;
  // The table is of the standard library; library fields have stable offsets.
  const std::string missing = offsets->missing(/*standard_library_only=*/true);
  if (!missing.empty()) {
    std::fprintf(stderr, "%s: fields missing from DWARF: %s\n", argv[1], missing.c_str());
    return 1;
  }
  for (size_t i = 0; i < kGoFieldCount; ++i) {
    if (kGoFieldNames[i].stable_offset >= 0) continue;
    std::printf("{%d, \"%.*s\", \"%.*s\", %lld},\n", info->version->minor,
                static_cast<int>(kGoFieldNames[i].struct_name.size()),
                kGoFieldNames[i].struct_name.data(),
                static_cast<int>(kGoFieldNames[i].member.size()), kGoFieldNames[i].member.data(),
                static_cast<long long>(offsets->offset[i]));
  }
  return 0;
}
