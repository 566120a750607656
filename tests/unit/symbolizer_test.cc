// Symbolizer tests on real Go binaries (tests/go_apps: one program built with every installed
// Go version, plain, stripped and PIE), checked against independent tools: `go tool nm`,
// binutils `objdump`, `go version`, and the program's own unsafe.Offsetof.

#include <elf.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "symbolizer/binary_cache.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_offsets.h"
#include "symbolizer/go_pclntab.h"
#include "symbolizer/probe_sites.h"
#include "tests/go_apps/go_app_list.h"

namespace ztrace::symbolizer {
namespace {

namespace fs = std::filesystem;

struct GoApp {
  std::string version;  // "1.21"
  std::string variant;  // plain, stripped, pie
  std::string path;
  std::string go() const { return "/usr/lib/go-" + version + "/bin/go"; }
};

std::vector<GoApp> go_apps() {
  std::vector<GoApp> apps;
  for (auto& build : ztrace::testing::parse_go_app_list(ZTRACE_GO_APPS)) {
    apps.push_back({build.version, build.variant, build.path});
  }
  return apps;
}

const GoApp* find_app(const std::string& version, const std::string& variant) {
  static const auto apps = go_apps();
  for (const auto& a : apps) {
    if (a.version == version && a.variant == variant) return &a;
  }
  return nullptr;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// `go tool nm` text symbols: name -> address.
std::map<std::string, uint64_t> go_nm_text(const GoApp& app) {
  std::map<std::string, uint64_t> out;
  std::stringstream nm(run(app.go() + " tool nm " + app.path + " 2>/dev/null"));
  std::string line;
  while (std::getline(nm, line)) {
    std::stringstream f(line);
    std::string addr, type, name;
    if (!(f >> addr >> type) || (type != "T" && type != "t")) continue;
    std::getline(f, name);
    name.erase(0, name.find_first_not_of(' '));
    out.emplace(name, std::stoull(addr, nullptr, 16));
  }
  return out;
}

// objdump's RET addresses within [start, end).
std::set<uint64_t> objdump_rets(const std::string& path, uint64_t start, uint64_t end) {
  char range[128];
  std::snprintf(range, sizeof range, " --start-address=0x%lx --stop-address=0x%lx ",
                static_cast<unsigned long>(start), static_cast<unsigned long>(end));
  std::stringstream dis(run("objdump -d --no-show-raw-insn" + std::string(range) + path));
  std::set<uint64_t> rets;
  std::string line;
  while (std::getline(dis, line)) {
    auto colon = line.find(":\t");
    if (colon == std::string::npos) continue;
    std::string insn = line.substr(colon + 2);
    if (insn.rfind("ret", 0) == 0) rets.insert(std::stoull(line.substr(0, colon), nullptr, 16));
  }
  return rets;
}

// The instruction objdump shows at `addr`, e.g. "push   %rbp".
std::string objdump_insn(const std::string& path, uint64_t addr) {
  char range[128];
  std::snprintf(range, sizeof range, " --start-address=0x%lx --stop-address=0x%lx ",
                static_cast<unsigned long>(addr), static_cast<unsigned long>(addr + 16));
  std::stringstream dis(run("objdump -d --no-show-raw-insn" + std::string(range) + path));
  std::string line;
  while (std::getline(dis, line)) {
    auto colon = line.find(":\t");
    if (colon != std::string::npos) return line.substr(colon + 2);
  }
  return "";
}

const char* const kProbedFunctions[] = {
    "net/http.serverHandler.ServeHTTP", "net/http.(*Transport).roundTrip",
    "crypto/tls.(*Conn).Read",          "crypto/tls.(*Conn).Write",
    "net/http.(*response).WriteHeader", "main.handler",
};

TEST_CASE("go test programs were built for every installed Go version", "[symbolizer]") {
  auto apps = go_apps();
  REQUIRE(apps.size() >= 3);
  for (const auto& a : apps) {
    INFO(a.path);
    CHECK(fs::exists(a.path));
  }
}

TEST_CASE("Go build info agrees with `go version -m`", "[symbolizer]") {
  for (const auto& app : go_apps()) {
    INFO(app.path);
    auto elf = ElfFile::open(app.path);
    REQUIRE(elf);
    auto info = read_go_buildinfo(**elf);
    REQUIRE(info);
    // First line of `go version -m`: "PATH: go1.NN.P".
    std::string first = run(app.go() + " version " + app.path);
    CHECK(first.find(": " + info->go_version + "\n") != std::string::npos);
    REQUIRE(info->version);
    CHECK(std::to_string(info->version->major) + "." + std::to_string(info->version->minor) ==
          app.version);
    CHECK(info->main_path == "ztrace.test/goapp");
    CHECK(info->main_module.path == "ztrace.test/goapp");
    const GoModule* dep = info->dep("example.com/ztracedep");
    REQUIRE(dep);
    CHECK(dep->version == "v1.4.2");
    // Go 1.20+ records the build mode (1.19 only when it is not the default... or not at all).
    for (auto& [k, v] : info->settings) {
      if (k == "-buildmode") CHECK((v == "pie") == (app.variant == "pie"));
    }
  }
}

TEST_CASE("pclntab function addresses agree with `go tool nm`", "[symbolizer]") {
  for (const auto& app : go_apps()) {
    INFO(app.path);
    auto elf = ElfFile::open(app.path);
    REQUIRE(elf);
    auto funcs = GoFuncTable::read(**elf);
    REQUIRE(funcs);
    // Stripped builds have no symbols for nm: compare with the plain build of the same Go
    // (stripping removes .symtab and DWARF, it does not move code).
    const GoApp* ref = app.variant == "stripped" ? find_app(app.version, "plain") : &app;
    REQUIRE(ref);
    auto nm = go_nm_text(*ref);
    REQUIRE(nm.size() > 1000);
    size_t matched = 0, differing = 0;
    // A function and its ABI wrapper share a name in the pclntab: nm's address is one of them.
    CHECK(funcs->ambiguous().size() < 100);
    for (const auto& [name, first] : funcs->ambiguous()) {
      INFO(name);
      auto it = nm.find(name);
      if (it == nm.end()) continue;
      CHECK((it->second == first.entry || it->second == funcs->all().at(name).entry));
      ++matched;
    }
    for (const auto& [name, addr] : nm) {
      auto f = funcs->find(name);
      if (!f) continue;
      ++matched;
      if (f->entry != addr) {
        ++differing;
        UNSCOPED_INFO(name << " pclntab " << f->entry << " nm " << addr);
      }
    }
    CHECK(differing == 0);
    CHECK(matched > nm.size() * 9 / 10);
    for (const char* fn : kProbedFunctions) {
      INFO(fn);
      auto f = funcs->find(fn);
      REQUIRE(f);
      CHECK(f->entry == nm.at(fn));
      CHECK(f->size > 0);
    }
    CHECK_FALSE(funcs->find("no/such.function"));
  }
}

TEST_CASE("pclntab is found by scanning when section headers are gone", "[symbolizer]") {
  for (const auto& app : go_apps()) {
    if (app.variant != "stripped") continue;
    INFO(app.path);
    auto elf = ElfFile::open(app.path);
    REQUIRE(elf);
    std::vector<uint8_t> bytes((*elf)->bytes().begin(), (*elf)->bytes().end());
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    eh.e_shoff = 0;
    eh.e_shnum = 0;
    eh.e_shstrndx = 0;
    std::memcpy(bytes.data(), &eh, sizeof eh);
    auto bare = ElfFile::from_bytes(bytes);
    REQUIRE(bare);
    REQUIRE((*bare)->sections().empty());
    auto with = GoFuncTable::read(**elf);
    auto without = GoFuncTable::read(**bare);
    REQUIRE(with);
    REQUIRE(without);
    CHECK(without->size() == with->size());
    for (const char* fn : kProbedFunctions) {
      INFO(fn);
      REQUIRE(without->find(fn));
      CHECK(without->find(fn)->entry == with->find(fn)->entry);
    }
    auto info = read_go_buildinfo(**bare);  // found by scanning the data segment
    REQUIRE(info);
    CHECK(info->dep("example.com/ztracedep"));
  }
}

TEST_CASE("RET sites agree with objdump and entry sites are emulated instructions",
          "[symbolizer]") {
  for (const auto& app : go_apps()) {
    INFO(app.path);
    auto bin = GoBinary::analyze(app.path);
    REQUIRE(bin);
    for (const char* fn : kProbedFunctions) {
      INFO(fn);
      auto f = (*bin)->find_function(fn);
      REQUIRE(f);
      auto sites = (*bin)->sites(fn);
      REQUIRE(sites);
      std::set<uint64_t> ours;
      for (uint64_t off : sites->ret_file_offsets) {
        ours.insert(off - sites->entry_file_offset + f->entry);
      }
      auto theirs = objdump_rets(app.path, f->entry, f->entry + f->size);
      CHECK(!theirs.empty());
      CHECK(ours == theirs);
      // Go's prologue always offers an emulated site before any argument register changes.
      CHECK(sites->entry_site.kind != SiteKind::kEntry);
      CHECK(sites->entry_site.offset < 32);
      std::string insn = objdump_insn(app.path, f->entry + sites->entry_site.offset);
      INFO(insn);
      if (sites->entry_site.kind == SiteKind::kEmulatedPush) CHECK(insn.rfind("push", 0) == 0);
      if (sites->entry_site.kind == SiteKind::kEmulatedJcc) CHECK(insn.rfind("j", 0) == 0);
      // The file offset is where the bytes are.
      auto code = (*bin)->elf().bytes_at_vaddr(f->entry, 16);
      REQUIRE(code.size() == 16);
      CHECK(std::memcmp((*bin)->elf().bytes().data() + sites->entry_file_offset, code.data(), 16) ==
            0);
    }
    auto missing = (*bin)->sites("net/http.noSuchFunction");
    REQUIRE_FALSE(missing);
    CHECK(missing.reason().find("not found") != std::string::npos);
  }
}

// objdump's instructions in [start, end): "address: text" lines reduced to their text.
std::vector<std::pair<uint64_t, std::string>> objdump_range(const std::string& path, uint64_t start,
                                                            uint64_t end) {
  char range[128];
  std::snprintf(range, sizeof range, " --start-address=0x%lx --stop-address=0x%lx ",
                static_cast<unsigned long>(start), static_cast<unsigned long>(end));
  std::stringstream dis(run("objdump -d --no-show-raw-insn" + std::string(range) + path));
  std::vector<std::pair<uint64_t, std::string>> out;
  std::string line;
  while (std::getline(dis, line)) {
    auto colon = line.find(":\t");
    if (colon == std::string::npos) continue;
    out.emplace_back(std::stoull(line.substr(0, colon), nullptr, 16), line.substr(colon + 2));
  }
  return out;
}

TEST_CASE("crypto/tls Read's copy-length site is a jcc testing the copied length", "[symbolizer]") {
  const char* const kRegNames[] = {"rax", "rbx", "rcx", "rdx", "rsi",
                                   "rdi", "r8",  "r9",  "r10", "r11"};
  for (const auto& app : go_apps()) {
    INFO(app.path);
    auto bin = GoBinary::analyze(app.path);
    REQUIRE(bin);
    auto site = (*bin)->copy_length_site("crypto/tls.(*Conn).Read");
    REQUIRE(site);
    auto fn = (*bin)->find_function("crypto/tls.(*Conn).Read");
    auto sites = (*bin)->sites("crypto/tls.(*Conn).Read");
    REQUIRE(sites);
    const uint64_t site_vaddr = fn->entry + (site->offset - sites->entry_file_offset);
    auto insns = objdump_range(app.path, fn->entry, site_vaddr + 6);  // the jcc is 2 or 6 bytes
    while (!insns.empty() && insns.back().first > site_vaddr) insns.pop_back();
    REQUIRE(insns.size() >= 3);
    INFO(insns[insns.size() - 2].second << " / " << insns.back().second);
    CHECK(insns.back().first == site_vaddr);
    CHECK(insns.back().second.rfind("j", 0) == 0);
    const std::string reg = kRegNames[static_cast<int>(site->length_reg)];
    CHECK(insns[insns.size() - 2].second.find("test   %" + reg + ",%" + reg) == 0);
    bool memmove_before = false;
    for (const auto& [addr, text] : insns) {
      memmove_before |=
          text.find("call") == 0 && text.find("<runtime.memmove>") != std::string::npos;
    }
    if (app.variant != "stripped") CHECK(memmove_before);  // objdump names it from .symtab
  }
  // A function without the pattern says so.
  const auto apps = go_apps();
  auto bin = GoBinary::analyze(apps.front().path);
  REQUIRE(bin);
  auto none = (*bin)->copy_length_site("main.main");
  REQUIRE_FALSE(none);
  CHECK(!none.reason().empty());
}

TEST_CASE("DWARF offsets agree with the generated tables and with unsafe.Offsetof",
          "[symbolizer]") {
  for (const auto& app : go_apps()) {
    INFO(app.path);
    auto elf = ElfFile::open(app.path);
    REQUIRE(elf);
    auto info = read_go_buildinfo(**elf);
    REQUIRE(info);
    auto table = go_offsets_from_table(*info->version);
    REQUIRE(table);
    CHECK(table->missing() == "");
    auto dwarf = go_offsets_from_dwarf(app.path);
    if (app.variant == "stripped") {
      REQUIRE_FALSE(dwarf);
      auto resolved = resolve_go_offsets(app.path, *info);
      REQUIRE(resolved);
      CHECK(resolved->source == "table go1." + std::to_string(info->version->minor));
      continue;
    }
    REQUIRE(dwarf);
    CHECK(dwarf->missing(/*standard_library_only=*/true) == "");
    for (size_t i = 0; i < kGoFieldCount; ++i) {
      if (kGoFieldNames[i].stable_offset >= 0) continue;  // not linked by these programs
      INFO(kGoFieldNames[i].struct_name << "." << kGoFieldNames[i].member);
      CHECK(dwarf->offset[i] == table->offset[i]);
    }
    // Exported fields, as the compiler laid them out.
    std::stringstream out(run(app.path + " offsets"));
    std::string name;
    int64_t off;
    int checked = 0;
    while (out >> name >> off) {
      auto dot = name.rfind('.');
      for (size_t i = 0; i < kGoFieldCount; ++i) {
        if (kGoFieldNames[i].struct_name == name.substr(0, dot) &&
            kGoFieldNames[i].member == name.substr(dot + 1)) {
          INFO(name);
          CHECK(dwarf->offset[i] == off);
          ++checked;
        }
      }
    }
    CHECK(checked == 7);
  }
}

TEST_CASE("a Go version outside the tables without DWARF has a clear reason", "[symbolizer]") {
  auto r = go_offsets_from_table(GoVersion{1, 99, 0});
  REQUIRE_FALSE(r);
  CHECK(r.reason() == "Go 1.99 is outside the offset tables");
  GoBuildInfo info;
  info.go_version = "go1.99.1";
  info.version = parse_go_version(info.go_version);
  auto resolved = resolve_go_offsets("/bin/true", info);  // no DWARF there
  REQUIRE_FALSE(resolved);
  CHECK(resolved.reason().find("Go 1.99 is outside the offset tables") != std::string::npos);
  std::vector<int> minors = go_offsets_table_minors();
  for (int m : {19, 21, 22, 23}) CHECK(std::find(minors.begin(), minors.end(), m) != minors.end());
}

TEST_CASE("non-Go binaries and non-ELF files are refused with a reason", "[symbolizer]") {
  auto bin = GoBinary::analyze("/bin/true");
  REQUIRE_FALSE(bin);
  CHECK(bin.reason().find("not a Go binary") != std::string::npos);
  auto self = GoBinary::analyze("/proc/self/exe");
  REQUIRE_FALSE(self);
  CHECK(self.reason().find("not a Go binary") != std::string::npos);
  auto text = GoBinary::analyze("/etc/hostname");
  REQUIRE_FALSE(text);
  CHECK(!text.reason().empty());
  auto none = GoBinary::analyze("/nonexistent/binary");
  REQUIRE_FALSE(none);
  CHECK(none.reason().find("cannot open") != std::string::npos);
  // Truncated copies of a Go binary never crash, whatever they yield.
  const GoApp* app = find_app("1.23", "stripped");
  if (!app) app = &go_apps().front();
  auto elf = ElfFile::open(app->path);
  REQUIRE(elf);
  for (size_t n : {0ul, 16ul, 64ul, 4096ul, (*elf)->bytes().size() / 2}) {
    auto cut = ElfFile::from_bytes((*elf)->bytes().subspan(0, n));
    if (!cut) continue;
    (void)read_go_buildinfo(**cut);
    (void)GoFuncTable::read(**cut);
  }
}

TEST_CASE("PIE and non-PIE address translation", "[symbolizer]") {
  for (const auto& app : go_apps()) {
    INFO(app.path);
    auto elf = ElfFile::open(app.path);
    REQUIRE(elf);
    CHECK((*elf)->is_pie() == (app.variant == "pie"));
    const ElfSection* text = (*elf)->section(".text");
    REQUIRE(text);
    CHECK((*elf)->vaddr_to_offset(text->addr) == text->offset);
    // Mapped 0x7f0000000000 above its link address: that is the bias of a PIE, a non-PIE has
    // none (it can only be mapped where it was linked).
    const auto& first = (*elf)->load_segments().front();
    constexpr uint64_t kShift = 0x7f0000000000;
    CHECK((*elf)->load_bias(first.vaddr + kShift, first.offset) == ((*elf)->is_pie() ? kShift : 0));
    CHECK_FALSE((*elf)->go_build_id().empty());
  }
}

TEST_CASE("ELF symbols of a C binary", "[symbolizer]") {
  auto elf = ElfFile::open("/proc/self/exe");  // this test binary: has .symtab
  REQUIRE(elf);
  auto main_sym = (*elf)->find_symbol("main");
  REQUIRE(main_sym);
  CHECK(main_sym->type == STT_FUNC);
  CHECK((*elf)->vaddr_to_offset(main_sym->value));
  CHECK_FALSE((*elf)->gnu_build_id().empty());
  CHECK_FALSE((*elf)->find_symbol("no_such_symbol_here"));
}

TEST_CASE("the cache parses an image once", "[symbolizer]") {
  const GoApp* app = find_app("1.23", "plain");
  if (!app) app = &go_apps().front();
  BinaryCache cache;
  auto a = cache.for_path(app->path);
  auto b = cache.for_path(app->path);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == *b);
  CHECK(cache.parses() == 1);
  // Through /proc/PID/root (how other mount namespaces are reached): same file, no new parse.
  auto c = cache.for_path("/proc/self/root" + fs::absolute(app->path).string());
  REQUIRE(c);
  CHECK(*c == *a);
  CHECK(cache.parses() == 1);
  // A copy (another inode, e.g. another container's image) shares the analysis by build id.
  fs::path copy =
      fs::temp_directory_path() / ("ztrace_symbolizer_copy_" + std::to_string(getpid()));
  fs::copy_file(app->path, copy, fs::copy_options::overwrite_existing);
  auto d = cache.for_path(copy.string());
  fs::remove(copy);
  REQUIRE(d);
  CHECK(*d == *a);
  CHECK(cache.parses() == 1);
  auto e = cache.for_path("/bin/true");
  REQUIRE_FALSE(e);
  CHECK(e.reason().find("not a Go binary") != std::string::npos);
}

// A minimal ELF with one load segment holding a pre-1.18 build info header: pointers to Go
// string headers instead of inline strings.
TEST_CASE("pre-1.18 pointer-format build info", "[symbolizer]") {
  constexpr uint64_t kBase = 0x500000;
  std::vector<uint8_t> img(0x400, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  std::memcpy(img.data(), &eh, sizeof eh);
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_W;
  ph.p_offset = 0;
  ph.p_vaddr = kBase;
  ph.p_filesz = ph.p_memsz = img.size();
  std::memcpy(img.data() + sizeof eh, &ph, sizeof ph);
  const std::string version = "go1.16.15";
  const std::string sentinel(16, 'x');
  const std::string mod = sentinel +
                          "path\texample.com/old\nmod\texample.com/old\t(devel)\t\n"
                          "dep\tgoogle.golang.org/grpc\tv1.38.0\th1:abc=\n"
                          "dep\tgolang.org/x/net\tv0.0.1\t\n=>\t../net\t(devel)\t\n" +
                          sentinel;
  auto put = [&](uint64_t off, uint64_t v) { std::memcpy(img.data() + off, &v, 8); };
  const uint64_t hdr = 0x100, vstr = 0x140, mstr = 0x150, vdata = 0x180, mdata = 0x200;
  std::memcpy(img.data() + hdr, "\xff Go buildinf:", 14);
  img[hdr + 14] = 8;
  img[hdr + 15] = 0;  // pointer format, little endian
  put(hdr + 16, kBase + vstr);
  put(hdr + 24, kBase + mstr);
  put(vstr, kBase + vdata);
  put(vstr + 8, version.size());
  put(mstr, kBase + mdata);
  put(mstr + 8, mod.size());
  std::memcpy(img.data() + vdata, version.data(), version.size());
  REQUIRE(mdata + mod.size() <= img.size());
  std::memcpy(img.data() + mdata, mod.data(), mod.size());
  auto elf = ElfFile::from_bytes(img);
  REQUIRE(elf);
  auto info = read_go_buildinfo(**elf);
  REQUIRE(info);
  CHECK(info->go_version == "go1.16.15");
  CHECK(info->version == GoVersion{1, 16, 15});
  CHECK(info->main_path == "example.com/old");
  REQUIRE(info->dep("google.golang.org/grpc"));
  CHECK(info->dep("google.golang.org/grpc")->version == "v1.38.0");
  CHECK(info->dep("google.golang.org/grpc")->sum == "h1:abc=");
  REQUIRE(info->dep("golang.org/x/net"));
  CHECK(info->dep("golang.org/x/net")->replaced_by == "../net (devel)");
  // Pre-1.16 has no pclntab format we read: a clear reason.
  auto funcs = GoFuncTable::read(**elf);
  REQUIRE_FALSE(funcs);
  CHECK(funcs.reason().find("no Go pclntab") != std::string::npos);
}

TEST_CASE("Go version strings", "[symbolizer]") {
  CHECK(parse_go_version("go1.21.13") == GoVersion{1, 21, 13});
  CHECK(parse_go_version("go1.22") == GoVersion{1, 22, 0});
  CHECK(parse_go_version("go1.23rc1") == GoVersion{1, 23, 0});
  CHECK_FALSE(parse_go_version("devel +abc"));
  CHECK_FALSE(parse_go_version("go"));
}

}  // namespace
}  // namespace ztrace::symbolizer

namespace ztrace::symbolizer {

// Machine code written by hand (x86-64), each case as the encoder would emit it.
TEST_CASE("the non-nil site: the first emulated instruction where the register is not nil",
          "[symbolizer]") {
  // push %rbp; test %rbx,%rbx; je +5; test %rcx,%rcx; je +0; ret
  const std::vector<uint8_t> found = {0x55, 0x48, 0x85, 0xdb, 0x74, 0x05,
                                      0x48, 0x85, 0xc9, 0x74, 0x00, 0xc3};
  auto site = find_nonnil_site(found, Reg::kRbx);
  REQUIRE(site);
  CHECK(*site == 9);  // the second je: emulated, on the path where RBX is set
  // The same function tested for RCX: its je at 9 is the nil test, nothing follows on the path.
  CHECK_FALSE(find_nonnil_site(found, Reg::kRcx));
  // An argument register written before an emulated instruction: no site (RDI is overwritten).
  // test %rbx,%rbx; je +5; mov %rax,%rdi; je +0; ret
  const std::vector<uint8_t> clobbered = {0x48, 0x85, 0xdb, 0x74, 0x05, 0x48,
                                          0x89, 0xc7, 0x74, 0x00, 0xc3};
  auto none = find_nonnil_site(clobbered, Reg::kRbx);
  REQUIRE_FALSE(none);
  CHECK(none.reason() == "no emulated instruction where the register is not nil");
  // jne after the test: the fall-through is the nil path, never taken for a site.
  // test %rbx,%rbx; jne +2; nop; nop; ret
  const std::vector<uint8_t> inverted = {0x48, 0x85, 0xdb, 0x75, 0x02, 0x90, 0x90, 0xc3};
  auto inverted_site = find_nonnil_site(inverted, Reg::kRbx);
  REQUIRE_FALSE(inverted_site);
  CHECK(inverted_site.reason() == "no nil test of the register");
}

}  // namespace ztrace::symbolizer
