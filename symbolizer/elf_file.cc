#include "symbolizer/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ztrace::symbolizer {
namespace {

template <typename T>
bool read_at(std::span<const uint8_t> bytes, uint64_t offset, T* out) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(out, bytes.data() + offset, sizeof(T));
  return true;
}

std::span<const uint8_t> sub(std::span<const uint8_t> bytes, uint64_t offset, uint64_t n) {
  if (offset > bytes.size() || bytes.size() - offset < n) return {};
  return bytes.subspan(offset, n);
}

std::string_view c_string(std::span<const uint8_t> table, uint64_t offset) {
  if (offset >= table.size()) return {};
  const char* p = reinterpret_cast<const char*>(table.data() + offset);
  size_t n = strnlen(p, table.size() - offset);
  return {p, n};
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

}  // namespace

ElfFile::~ElfFile() {
  if (mapped_) munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Result<std::shared_ptr<const ElfFile>> ElfFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Result<std::shared_ptr<const ElfFile>>::failure("cannot open " + path + ": " +
                                                           std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    ::close(fd);
    return Result<std::shared_ptr<const ElfFile>>::failure(path + ": not an ELF file (too small)");
  }
  void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    const int error = errno;
    ::close(fd);
    return Result<std::shared_ptr<const ElfFile>>::failure("cannot map " + path + ": " +
                                                           std::strerror(error));
  }
  auto f = std::unique_ptr<ElfFile>(new ElfFile());
  f->fd_ = fd;
  f->data_ = static_cast<const uint8_t*>(p);
  f->size_ = st.st_size;
  f->mapped_ = true;
  f->identity_ = {st.st_dev, st.st_ino,
                  static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                  static_cast<int64_t>(st.st_size)};
  return parse(std::move(f));
}

Result<std::shared_ptr<const ElfFile>> ElfFile::from_bytes(std::span<const uint8_t> bytes) {
  auto f = std::unique_ptr<ElfFile>(new ElfFile());
  f->owned_.assign(bytes.begin(), bytes.end());
  f->data_ = f->owned_.data();
  f->size_ = f->owned_.size();
  return parse(std::move(f));
}

Result<std::shared_ptr<const ElfFile>> ElfFile::parse(std::unique_ptr<ElfFile> f) {
  using R = Result<std::shared_ptr<const ElfFile>>;
  auto bytes = f->bytes();
  Elf64_Ehdr eh{};
  if (!read_at(bytes, 0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return R::failure("not an ELF file");
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return R::failure("not a 64-bit little-endian ELF file");
  }
  f->machine_ = eh.e_machine;
  f->is_pie_ = eh.e_type == ET_DYN;
  for (uint32_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    if (!read_at(bytes, eh.e_phoff + uint64_t{i} * eh.e_phentsize, &ph)) break;
    if (ph.p_type == PT_LOAD) {
      f->segments_.push_back({ph.p_flags, ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_memsz});
    }
  }
  // Section headers are optional (sstrip'd binaries): everything else still works from
  // segments.
  std::vector<Elf64_Shdr> shdrs;
  for (uint32_t i = 0; i < eh.e_shnum && eh.e_shentsize == sizeof(Elf64_Shdr); ++i) {
    Elf64_Shdr sh{};
    if (!read_at(bytes, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr), &sh)) break;
    shdrs.push_back(sh);
  }
  std::span<const uint8_t> names;
  if (eh.e_shstrndx < shdrs.size()) {
    names = sub(bytes, shdrs[eh.e_shstrndx].sh_offset, shdrs[eh.e_shstrndx].sh_size);
  }
  for (const auto& sh : shdrs) {
    f->sections_.push_back({c_string(names, sh.sh_name), sh.sh_type, sh.sh_flags, sh.sh_addr,
                            sh.sh_offset, sh.sh_size, sh.sh_link, sh.sh_entsize});
  }
  return std::shared_ptr<const ElfFile>(std::move(f));
}

const ElfSection* ElfFile::section(std::string_view name) const {
  for (const auto& s : sections_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::span<const uint8_t> ElfFile::section_bytes(const ElfSection& s) const {
  if (s.type == SHT_NOBITS) return {};
  return sub(bytes(), s.offset, s.size);
}

std::optional<uint64_t> ElfFile::vaddr_to_offset(uint64_t vaddr) const {
  for (const auto& seg : segments_) {
    if (vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.filesz)
      return seg.offset + (vaddr - seg.vaddr);
  }
  return std::nullopt;
}

std::span<const uint8_t> ElfFile::bytes_at_vaddr(uint64_t vaddr, uint64_t n) const {
  for (const auto& seg : segments_) {
    if (vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.filesz) {
      if (seg.filesz - (vaddr - seg.vaddr) < n) return {};
      return sub(bytes(), seg.offset + (vaddr - seg.vaddr), n);
    }
  }
  return {};
}

std::vector<uint8_t> ElfFile::code_at_vaddr(uint64_t vaddr, uint64_t n) const {
  const std::span<const uint8_t> mapped = bytes_at_vaddr(vaddr, n);
  if (mapped.empty() || fd_ < 0) return {mapped.begin(), mapped.end()};
  std::vector<uint8_t> code(n);
  const auto file_offset = static_cast<off_t>(mapped.data() - data_);
  if (pread(fd_, code.data(), n, file_offset) != static_cast<ssize_t>(n)) return {};
  return code;
}

std::optional<uint64_t> ElfFile::load_bias(uint64_t map_start, uint64_t map_file_offset) const {
  if (!is_pie_) return 0;
  // The mapping of file offset O at address A: A - (segment vaddr + (O - segment offset)).
  for (const auto& seg : segments_) {
    uint64_t page_offset = seg.offset & ~uint64_t{0xfff};
    if (map_file_offset == page_offset) {
      return map_start - (seg.vaddr & ~uint64_t{0xfff});
    }
  }
  return std::nullopt;
}

void ElfFile::symbols_of(const ElfSection& symtab,
                         const std::function<bool(const ElfSymbol&)>& fn) const {
  if (symtab.link >= sections_.size()) return;
  auto strtab = section_bytes(sections_[symtab.link]);
  auto table = section_bytes(symtab);
  for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= table.size(); off += sizeof(Elf64_Sym)) {
    Elf64_Sym sym{};
    read_at(table, off, &sym);
    ElfSymbol s{c_string(strtab, sym.st_name), sym.st_value, sym.st_size,
                static_cast<uint8_t>(ELF64_ST_TYPE(sym.st_info))};
    if (s.name.empty()) continue;
    if (!fn(s)) return;
  }
}

std::optional<ElfSymbol> ElfFile::find_symbol(std::string_view name) const {
  std::optional<ElfSymbol> found;
  for (const char* table : {".symtab", ".dynsym"}) {
    const ElfSection* s = section(table);
    if (!s) continue;
    symbols_of(*s, [&](const ElfSymbol& sym) {
      if (sym.name != name || sym.value == 0) return true;
      found = sym;
      return false;
    });
    if (found) return found;
  }
  return std::nullopt;
}

void ElfFile::for_each_symbol(const std::function<void(const ElfSymbol&)>& fn) const {
  for (const char* table : {".symtab", ".dynsym"}) {
    if (const ElfSection* s = section(table))
      symbols_of(*s, [&](const ElfSymbol& sym) {
        fn(sym);
        return true;
      });
  }
}

std::string ElfFile::note(std::string_view owner, uint32_t type, bool hex) const {
  // Notes live in SHT_NOTE sections; without section headers, in the file part of segments is
  // not worth scanning for this (the build id is an optional cache key).
  for (const auto& s : sections_) {
    if (s.type != SHT_NOTE) continue;
    auto b = section_bytes(s);
    uint64_t off = 0;
    while (off + sizeof(Elf64_Nhdr) <= b.size()) {
      Elf64_Nhdr nh{};
      read_at(b, off, &nh);
      uint64_t name_off = off + sizeof(nh);
      uint64_t desc_off = name_off + ((uint64_t{nh.n_namesz} + 3) & ~uint64_t{3});
      uint64_t next = desc_off + ((uint64_t{nh.n_descsz} + 3) & ~uint64_t{3});
      if (next > b.size()) break;
      std::string_view name = c_string(b, name_off);
      if (nh.n_type == type && name == owner) {
        auto desc = b.subspan(desc_off, nh.n_descsz);
        return hex ? to_hex(desc)
                   : std::string(reinterpret_cast<const char*>(desc.data()), desc.size());
      }
      off = next;
    }
  }
  return {};
}

std::string ElfFile::gnu_build_id() const { return note("GNU", NT_GNU_BUILD_ID, true); }

std::string ElfFile::go_build_id() const { return note("Go", 4, false); }

}  // namespace ztrace::symbolizer
