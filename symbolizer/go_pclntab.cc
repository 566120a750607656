#include "symbolizer/go_pclntab.h"

#include <cstring>

namespace ztrace::symbolizer {
namespace {

constexpr uint32_t kMagic116 = 0xfffffffa;
constexpr uint32_t kMagic118 = 0xfffffff0;
constexpr uint32_t kMagic120 = 0xfffffff1;

struct Header {
  uint32_t magic = 0;
  int ptr_size = 8;
  uint64_t nfunc = 0;
  uint64_t text_start = 0;  // 0 before 1.18
  uint64_t funcname_off = 0;
  uint64_t pcln_off = 0;
};

uint64_t rd(std::span<const uint8_t> b, uint64_t off, int n) {
  uint64_t v = 0;
  if (off <= b.size() && b.size() - off >= static_cast<uint64_t>(n))
    std::memcpy(&v, b.data() + off, n);
  return v;
}

std::optional<Header> parse_header(std::span<const uint8_t> b) {
  if (b.size() < 8) return std::nullopt;
  Header h;
  h.magic = static_cast<uint32_t>(rd(b, 0, 4));
  if (h.magic != kMagic116 && h.magic != kMagic118 && h.magic != kMagic120) return std::nullopt;
  if (b[4] != 0 || b[5] != 0) return std::nullopt;
  if (b[6] != 1 && b[6] != 2 && b[6] != 4) return std::nullopt;  // quantum: x86 1, arm 4
  h.ptr_size = b[7];
  if (h.ptr_size != 8 && h.ptr_size != 4) return std::nullopt;
  const int p = h.ptr_size;
  h.nfunc = rd(b, 8, p);
  const bool v118 = h.magic != kMagic116;
  uint64_t at = 8 + 2 * p;
  if (v118) {
    h.text_start = rd(b, at, p);
    at += p;
  }
  h.funcname_off = rd(b, at, p);
  h.pcln_off = rd(b, at + 4 * p, p);
  const uint64_t entry_bytes = v118 ? 8 : 2 * p;
  if (h.nfunc == 0 || h.nfunc > (1u << 24) || h.funcname_off >= b.size() ||
      h.pcln_off >= b.size() || (b.size() - h.pcln_off) / entry_bytes < h.nfunc + 1) {
    return std::nullopt;
  }
  return h;
}

// The first executable segment's start: where text lies when nothing better is known.
uint64_t first_text_vaddr(const ElfFile& elf) {
  if (const ElfSection* s = elf.section(".text")) return s->addr;
  for (const auto& seg : elf.load_segments()) {
    if (seg.flags & 1) return seg.vaddr;
  }
  return 0;
}

}  // namespace

Result<GoFuncTable> GoFuncTable::read(const ElfFile& elf) {
  using R = Result<GoFuncTable>;
  std::span<const uint8_t> tab;
  std::optional<Header> h;
  if (const ElfSection* s = elf.section(".gopclntab")) {
    tab = elf.section_bytes(*s);
    h = parse_header(tab);
    if (!h) {
      char buf[64];
      snprintf(buf, sizeof buf, "unknown Go pclntab header (magic 0x%08x)",
               static_cast<unsigned>(rd(tab, 0, 4)));
      return R::failure(buf);
    }
  } else {
    // No section headers: scan the non-executable segments, 4-byte aligned, for a header whose
    // function table validates (its first entry is the start of text).
    for (const auto& seg : elf.load_segments()) {
      if ((seg.flags & 1) || h) continue;
      auto b = elf.bytes_at_vaddr(seg.vaddr, seg.filesz);
      for (uint64_t off = 0; off + 64 <= b.size() && !h; off += 4) {
        uint32_t m = static_cast<uint32_t>(rd(b, off, 4));
        if (m != kMagic116 && m != kMagic118 && m != kMagic120) continue;
        auto cand = parse_header(b.subspan(off));
        if (cand && rd(b.subspan(off), cand->pcln_off, cand->magic == kMagic116 ? 8 : 4) ==
                        (cand->magic == kMagic116 ? first_text_vaddr(elf) : 0)) {
          h = cand;
          tab = b.subspan(off);
        }
      }
    }
    if (!h) return R::failure("no Go pclntab (not a Go binary, or Go older than 1.16)");
  }
  GoFuncTable t;
  t.magic_ = h->magic;
  const bool v118 = h->magic != kMagic116;
  // PIE binaries leave textStart to a dynamic relocation (0 in the file): use .text instead.
  t.text_start_ = v118 ? (h->text_start ? h->text_start : first_text_vaddr(elf)) : 0;
  auto functab = tab.subspan(h->pcln_off);
  auto names = tab.subspan(h->funcname_off);
  const int p = h->ptr_size;
  const uint64_t stride = v118 ? 8 : 2 * p;
  auto entry_at = [&](uint64_t i) {
    return v118 ? t.text_start_ + rd(functab, i * stride, 4) : rd(functab, i * stride, p);
  };
  t.funcs_.reserve(h->nfunc);
  for (uint64_t i = 0; i < h->nfunc; ++i) {
    uint64_t funcoff = v118 ? rd(functab, i * stride + 4, 4) : rd(functab, i * stride + p, p);
    uint64_t nameoff_at = funcoff + (v118 ? 4 : p);
    if (nameoff_at + 4 > functab.size())
      return R::failure("Go pclntab: function record out of range");
    uint64_t nameoff = rd(functab, nameoff_at, 4);
    if (nameoff >= names.size()) continue;
    const char* name = reinterpret_cast<const char*>(names.data() + nameoff);
    std::string_view n(name, strnlen(name, names.size() - nameoff));
    uint64_t entry = entry_at(i), end = entry_at(i + 1);
    // A name seen twice is a function and its ABI wrapper (ABI0 <-> ABIInternal, assembly
    // and functions called from assembly). Which is which is not recorded in the table: the
    // name is marked ambiguous and find() refuses it rather than guess.
    auto [it, inserted] =
        t.funcs_.try_emplace(std::string(n), GoFunction{entry, end > entry ? end - entry : 0});
    if (!inserted) {
      t.ambiguous_.try_emplace(it->first, it->second);
      it->second = GoFunction{entry, end > entry ? end - entry : 0};
    }
  }
  return t;
}

std::optional<GoFunction> GoFuncTable::find(std::string_view name) const {
  if (ambiguous_.count(std::string(name))) return std::nullopt;
  auto it = funcs_.find(std::string(name));
  if (it == funcs_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ztrace::symbolizer
