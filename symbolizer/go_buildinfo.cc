#include "symbolizer/go_buildinfo.h"

#include <cstring>

namespace ztrace::symbolizer {
namespace {

constexpr std::string_view kMagic("\xff Go buildinf:", 14);
constexpr size_t kHeaderBytes = 32;

// Header position in `elf`: the section when present, else a 16-byte aligned scan of the
// writable data segments (where the linker puts it).
std::optional<uint64_t> find_header_vaddr(const ElfFile& elf) {
  if (const ElfSection* s = elf.section(".go.buildinfo")) return s->addr;
  for (const auto& seg : elf.load_segments()) {
    if (seg.flags & 1 /*PF_X*/) continue;
    auto b = elf.bytes_at_vaddr(seg.vaddr, seg.filesz);
    for (uint64_t off = 0; off + kHeaderBytes <= b.size(); off += 16) {
      if (std::memcmp(b.data() + off, kMagic.data(), kMagic.size()) == 0) return seg.vaddr + off;
    }
  }
  return std::nullopt;
}

bool read_uvarint(std::span<const uint8_t> b, uint64_t* pos, uint64_t* value) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= b.size()) return false;
    uint8_t c = b[(*pos)++];
    v |= uint64_t{c & 0x7fu} << shift;
    if (!(c & 0x80)) {
      *value = v;
      return true;
    }
  }
  return false;
}

std::optional<std::string> inline_string(std::span<const uint8_t> b, uint64_t* pos) {
  uint64_t n = 0;
  if (!read_uvarint(b, pos, &n) || n > b.size() - *pos) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(b.data() + *pos), n);
  *pos += n;
  return s;
}

uint64_t read_ptr(std::span<const uint8_t> b, int ptr_size) {
  uint64_t v = 0;
  std::memcpy(&v, b.data(), ptr_size == 8 ? 8 : 4);
  return v;
}

// A Go string header {data, len} at `vaddr`, pre-1.18 layout.
std::optional<std::string> pointed_string(const ElfFile& elf, uint64_t vaddr, int ptr_size) {
  auto hdr = elf.bytes_at_vaddr(vaddr, 2 * ptr_size);
  if (hdr.empty()) return std::nullopt;
  uint64_t data = read_ptr(hdr, ptr_size);
  uint64_t len = read_ptr(hdr.subspan(ptr_size), ptr_size);
  if (len > (1u << 24)) return std::nullopt;
  auto s = elf.bytes_at_vaddr(data, len);
  if (s.size() != len) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

GoModule module_from(const std::vector<std::string_view>& f) {
  GoModule m;
  if (f.size() > 1) m.path = f[1];
  if (f.size() > 2) m.version = f[2];
  if (f.size() > 3) m.sum = f[3];
  return m;
}

}  // namespace

std::optional<GoVersion> parse_go_version(std::string_view s) {
  if (s.substr(0, 2) != "go") return std::nullopt;
  s.remove_prefix(2);
  GoVersion v;
  int* parts[] = {&v.major, &v.minor, &v.patch};
  size_t i = 0;
  for (int k = 0; k < 3; ++k) {
    size_t start = i;
    int n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 6) n = n * 10 + (s[i++] - '0');
    if (i == start) {
      if (k < 2) return std::nullopt;
      break;
    }
    *parts[k] = n;
    if (i >= s.size() || s[i] != '.') break;
    ++i;
  }
  return v;
}

const GoModule* GoBuildInfo::dep(std::string_view module_path) const {
  for (const auto& d : deps) {
    if (d.path == module_path) return &d;
  }
  return nullptr;
}

void parse_go_modinfo(std::string_view modinfo, GoBuildInfo* out) {
  for (std::string_view line : split(modinfo, '\n')) {
    auto f = split(line, '\t');
    if (f.empty()) continue;
    if (f[0] == "path" && f.size() > 1) {
      out->main_path = f[1];
    } else if (f[0] == "mod") {
      out->main_module = module_from(f);
    } else if (f[0] == "dep") {
      out->deps.push_back(module_from(f));
    } else if (f[0] == "=>" && f.size() > 2) {
      // Replaces the module of the line before it.
      GoModule* target = out->deps.empty() ? &out->main_module : &out->deps.back();
      target->replaced_by = std::string(f[1]) + " " + std::string(f[2]);
    } else if (f[0] == "build" && f.size() > 1) {
      size_t eq = f[1].find('=');
      if (eq != std::string_view::npos) {
        out->settings.emplace_back(f[1].substr(0, eq), f[1].substr(eq + 1));
      }
    }
  }
}

Result<GoBuildInfo> read_go_buildinfo(const ElfFile& elf) {
  using R = Result<GoBuildInfo>;
  auto vaddr = find_header_vaddr(elf);
  if (!vaddr) return R::failure("not a Go binary (no Go build info)");
  // Read the header and the rest of its segment (inline strings follow it).
  std::span<const uint8_t> b;
  for (const auto& seg : elf.load_segments()) {
    if (*vaddr >= seg.vaddr && *vaddr - seg.vaddr < seg.filesz) {
      b = elf.bytes_at_vaddr(*vaddr, seg.filesz - (*vaddr - seg.vaddr));
    }
  }
  if (b.size() < kHeaderBytes || std::memcmp(b.data(), kMagic.data(), kMagic.size()) != 0) {
    return R::failure("Go build info header not readable");
  }
  int ptr_size = b[14];
  uint8_t flags = b[15];
  if (flags & 1) return R::failure("big-endian Go binary not supported");
  if (ptr_size != 4 && ptr_size != 8) return R::failure("Go build info: bad pointer size");
  GoBuildInfo info;
  std::string modinfo;
  if (flags & 2) {
    uint64_t pos = kHeaderBytes;
    auto version = inline_string(b, &pos);
    auto mod = version ? inline_string(b, &pos) : std::nullopt;
    if (!mod) return R::failure("Go build info: truncated strings");
    info.go_version = *version;
    modinfo = *mod;
  } else {
    auto version = pointed_string(elf, read_ptr(b.subspan(16), ptr_size), ptr_size);
    auto mod = pointed_string(elf, read_ptr(b.subspan(16 + ptr_size), ptr_size), ptr_size);
    if (!version) return R::failure("Go build info: version string not readable");
    info.go_version = *version;
    modinfo = mod.value_or("");
  }
  // Module info is framed by 16-byte sentinels (both formats since Go 1.13).
  if (modinfo.size() >= 33 && modinfo[modinfo.size() - 17] == '\n') {
    modinfo = modinfo.substr(16, modinfo.size() - 32);
  }
  info.version = parse_go_version(info.go_version);
  parse_go_modinfo(modinfo, &info);
  return info;
}

}  // namespace ztrace::symbolizer
