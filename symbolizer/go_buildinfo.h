#pragma once

// Go build information: the toolchain version and module list that `go version -m` prints.
// The linker stores it behind a 32-byte header that starts with "\xff Go buildinf:" (16-byte
// aligned, in .go.buildinfo or, without section headers, anywhere in a data segment):
//   byte 14: pointer size, byte 15: flags (bit 1: big endian, bit 2: inline strings).
//   Go 1.18+ (inline): at 32, two uvarint-length-prefixed strings: version, then module info.
//   Before 1.18: at 16 and 16+ptrsize, addresses of Go string headers {data, len}.
// The module info of the inline form is wrapped in two 16-byte sentinels.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/result.h"

namespace ztrace::symbolizer {

struct GoModule {
  std::string path;
  std::string version;  // "(devel)" for the main module built from a work tree
  std::string sum;
  std::string replaced_by;  // "path version" of a `=>` replacement, "" when none
};

struct GoVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  bool operator<(const GoVersion& o) const {
    return major != o.major   ? major < o.major
           : minor != o.minor ? minor < o.minor
                              : patch < o.patch;
  }
  bool operator==(const GoVersion&) const = default;
};

// "go1.21.13" -> {1, 21, 13}; "go1.22" -> {1, 22, 0}; "go1.23rc1" -> {1, 23, 0}. nullopt if not
// a release version string ("devel ..." builds).
std::optional<GoVersion> parse_go_version(std::string_view s);

struct GoBuildInfo {
  std::string go_version;  // as stored, e.g. "go1.21.13"
  std::optional<GoVersion> version;
  std::string main_path;  // `path` line: the main package's import path
  GoModule main_module;   // `mod` line
  std::vector<GoModule> deps;
  std::vector<std::pair<std::string, std::string>> settings;  // `build` lines

  const GoModule* dep(std::string_view module_path) const;
};

// Reads the build info of `elf`. Failure reasons: "not a Go binary (no build info)", malformed.
Result<GoBuildInfo> read_go_buildinfo(const ElfFile& elf);

// Parses the module info text (lines "path", "mod", "dep", "=>", "build"). Exposed for tests.
void parse_go_modinfo(std::string_view modinfo, GoBuildInfo* out);

}  // namespace ztrace::symbolizer
