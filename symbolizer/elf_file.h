#pragma once

// Read-only view of a 64-bit little-endian ELF file (x86-64 and arm64 executables): sections,
// load segments, .symtab/.dynsym symbols, build id, and address translation for uprobes.
// The file is mapped once; every accessor is bounds-checked, so a truncated or hostile file
// gives empty results, never a crash.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/result.h"

namespace ztrace::symbolizer {

struct ElfSection {
  std::string_view name;
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t addr = 0;  // link-time virtual address (0 when not loaded)
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;
  uint64_t entsize = 0;
};

struct ElfSegment {    // PT_LOAD only
  uint32_t flags = 0;  // PF_R | PF_W | PF_X
  uint64_t offset = 0;
  uint64_t vaddr = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
};

struct ElfSymbol {
  std::string_view name;
  uint64_t value = 0;  // link-time virtual address
  uint64_t size = 0;
  uint8_t type = 0;  // STT_FUNC, STT_OBJECT, ...
};

// Identity of a file on disk: a cache key that survives different paths to one file
// (/proc/PID/exe of a hundred processes of one image).
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  int64_t size_bytes = 0;
  bool operator==(const FileIdentity&) const = default;
};

class ElfFile {
 public:
  // Opens and maps `path`, e.g. /proc/PID/exe or /proc/PID/root/usr/bin/app (both resolve inside
  // the process's mount namespace).
  static Result<std::shared_ptr<const ElfFile>> open(const std::string& path);
  // Parses an in-memory image (tests); `bytes` is copied.
  static Result<std::shared_ptr<const ElfFile>> from_bytes(std::span<const uint8_t> bytes);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const FileIdentity& identity() const { return identity_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  uint16_t machine() const { return machine_; }
  // ET_DYN: position independent; runtime address = link-time address + load bias.
  bool is_pie() const { return is_pie_; }
  const std::vector<ElfSection>& sections() const { return sections_; }
  const std::vector<ElfSegment>& load_segments() const { return segments_; }

  const ElfSection* section(std::string_view name) const;
  // Bytes of a section present in the file (empty for SHT_NOBITS or out of bounds).
  std::span<const uint8_t> section_bytes(const ElfSection& s) const;
  // File bytes backing [vaddr, vaddr + n) (must lie within one load segment's file part).
  std::span<const uint8_t> bytes_at_vaddr(uint64_t vaddr, uint64_t n) const;
  // The same for machine code, read from the file (pread), not through the mapping: a file
  // mapping may execute (VM_MAYEXEC, which PROT_READ has), so the kernel puts every uprobe
  // on the file (another tool's, a second agent's) into it as int3. Empty when unreadable.
  std::vector<uint8_t> code_at_vaddr(uint64_t vaddr, uint64_t n) const;
  // File offset of a link-time address, via the PT_LOAD that contains it: what a uprobe by
  // file offset needs (the kernel places probes on file offsets, PIE or not).
  std::optional<uint64_t> vaddr_to_offset(uint64_t vaddr) const;
  // Load bias of a mapping seen in /proc/PID/maps (start address, file offset): 0 for non-PIE.
  std::optional<uint64_t> load_bias(uint64_t map_start, uint64_t map_file_offset) const;

  // .symtab first (full), then .dynsym. nullopt when absent (e.g. stripped).
  std::optional<ElfSymbol> find_symbol(std::string_view name) const;
  void for_each_symbol(const std::function<void(const ElfSymbol&)>& fn) const;
  bool has_symtab() const { return section(".symtab") != nullptr; }

  // NT_GNU_BUILD_ID as lowercase hex; "" when absent.
  std::string gnu_build_id() const;
  // The Go toolchain's build id note ("Go" owner, type 4); "" when absent.
  std::string go_build_id() const;

 private:
  ElfFile() = default;
  static Result<std::shared_ptr<const ElfFile>> parse(std::unique_ptr<ElfFile> f);
  std::string note(std::string_view owner, uint32_t type, bool hex) const;
  void symbols_of(const ElfSection& symtab, const std::function<bool(const ElfSymbol&)>& fn) const;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  int fd_ = -1;  // the file, for code_at_vaddr; -1 for in-memory images
  std::vector<uint8_t> owned_;
  FileIdentity identity_;
  uint16_t machine_ = 0;
  bool is_pie_ = false;
  std::vector<ElfSection> sections_;
  std::vector<ElfSegment> segments_;
};

}  // namespace ztrace::symbolizer
