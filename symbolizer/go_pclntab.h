#pragma once

// The Go function table from the pclntab, which the runtime itself needs (tracebacks), so it
// survives `-ldflags=-s -w` that removes .symtab and DWARF. Layout (runtime/symtab.go,
// runtime.pcHeader; all offsets relative to the table's start):
//   uint32 magic: 0xfffffffa Go 1.16-1.17, 0xfffffff0 Go 1.18-1.19, 0xfffffff1 Go 1.20+
//   uint8 pad, pad, minLC (instruction quantum), ptrSize
//   uintptr nfunc, nfiles, [1.18+: textStart], funcnameOffset, cuOffset, filetabOffset,
//           pctabOffset, pclnOffset
// The function table at pclnOffset holds nfunc+1 pairs {entry, funcoff} (uintptr before 1.18,
// uint32 entry offsets from textStart after), the last entry is the end of text. Each _func
// starts {entry, int32 nameoff}; names are NUL-terminated in the funcname table.
// Found by section name (.gopclntab) or, when sections are gone, by scanning the read-only
// segments for a header that validates.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "symbolizer/elf_file.h"
#include "symbolizer/result.h"

namespace ztrace::symbolizer {

struct GoFunction {
  uint64_t entry = 0;  // link-time address
  uint64_t size = 0;   // up to the next function (includes alignment padding)
};

class GoFuncTable {
 public:
  // Reads every function of `elf`'s pclntab. Failure: "no Go pclntab", unknown magic, malformed.
  static Result<GoFuncTable> read(const ElfFile& elf);

  // nullopt for unknown and for ambiguous names.
  std::optional<GoFunction> find(std::string_view name) const;
  size_t size() const { return funcs_.size(); }
  // Names present twice (a function and its ABI wrapper): name -> the first of the two;
  // all() holds the second.
  const std::unordered_map<std::string, GoFunction>& ambiguous() const { return ambiguous_; }
  uint32_t magic() const { return magic_; }
  uint64_t text_start() const { return text_start_; }
  const std::unordered_map<std::string, GoFunction>& all() const { return funcs_; }

 private:
  uint32_t magic_ = 0;
  uint64_t text_start_ = 0;
  std::unordered_map<std::string, GoFunction> funcs_;
  std::unordered_map<std::string, GoFunction> ambiguous_;
};

}  // namespace ztrace::symbolizer
