#pragma once

// Everything the Go probes need from one executable, parsed once: build info, function table
// (pclntab, so stripped binaries work), struct offsets, and uprobe sites as file offsets.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_offsets.h"
#include "symbolizer/go_pclntab.h"
#include "symbolizer/probe_sites.h"
#include "symbolizer/result.h"

namespace ztrace::symbolizer {

// Uprobe sites of one function, as offsets into the file (what the kernel attaches to; valid
// for PIE and non-PIE alike and for any mount namespace that shows the same file).
struct FunctionSites {
  uint64_t entry_vaddr = 0;
  uint64_t entry_file_offset = 0;
  EntrySite entry_site;  // offset from the entry; add to entry_file_offset
  std::vector<uint64_t> ret_file_offsets;
};

class GoBinary {
 public:
  // Parses the executable at `path`. Failure reasons are meant to be logged as they are:
  // "not a Go binary (...)", unreadable file, malformed tables.
  static Result<std::shared_ptr<const GoBinary>> analyze(const std::string& path);
  // The same for a file already open (`path` is where libdw reads DWARF from).
  static Result<std::shared_ptr<const GoBinary>> analyze(std::shared_ptr<const ElfFile> elf,
                                                         const std::string& path);
  // GNU build id, else Go build id: the key of one image across copies.
  static std::string build_id_of(const ElfFile& elf);

  const ElfFile& elf() const { return *elf_; }
  const GoBuildInfo& buildinfo() const { return buildinfo_; }
  const GoFuncTable& functions() const { return functions_; }
  // Offsets or why there are none (no DWARF and a Go version outside the tables).
  const Result<GoOffsets>& offsets() const { return offsets_; }
  const std::string& build_id() const { return build_id_; }

  std::optional<GoFunction> find_function(std::string_view name) const;
  // Entry and RET sites of `name`; fails when the symbol is missing or does not decode.
  Result<FunctionSites> sites(std::string_view name) const;
  // find_copy_length_site() in function `name` after its first call to runtime.memmove; the
  // offset is a file offset.
  Result<CopyLengthSite> copy_length_site(std::string_view name) const;
  // find_nonnil_site() in function `name`, as a file offset.
  Result<uint64_t> nonnil_site(std::string_view name, Reg tested) const;

 private:
  GoBinary() = default;
  std::shared_ptr<const ElfFile> elf_;
  GoBuildInfo buildinfo_;
  GoFuncTable functions_;
  Result<GoOffsets> offsets_ = Result<GoOffsets>::failure("not computed");
  std::string build_id_;
};

}  // namespace ztrace::symbolizer
