#pragma once

// Where to place uprobes in a function (x86-64, Zydis).
// - RET sites: a Go function must never get a uretprobe (the return-address trampoline breaks
//   when the goroutine stack moves: the process dies), so "on return" means a uprobe on every
//   RET instruction.
// - The entry site: a uprobe costs ~10 µs on an instruction the kernel single-steps out of
//   line, ~0.6 µs on one it emulates (push reg, nop, jcc/jmp/call rel). Go's prologue is
//   `cmp 0x10(%r14),%rsp; jbe morestack; push %rbp; ...`: the push runs once per call with
//   the argument registers untouched, the jbe also runs again after a stack growth.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/result.h"

namespace ztrace::symbolizer {

enum class SiteKind : uint8_t {
  kEntry,         // the first instruction: always valid, but single-stepped (slow)
  kEmulatedPush,  // push reg: emulated, once per call
  kEmulatedNop,   // nop: emulated, once per call
  kEmulatedJcc,   // conditional branch: emulated; runs again after a stack growth
};
std::string_view to_string(SiteKind k);

struct EntrySite {
  uint64_t offset = 0;  // from the function's entry
  SiteKind kind = SiteKind::kEntry;
};

// Offsets (from the entry) of every RET instruction in `code` (a whole function). Fails when an
// instruction does not decode before a RET was found past it, so a partial list is never
// mistaken for a complete one.
Result<std::vector<uint64_t>> find_ret_offsets(std::span<const uint8_t> code);

// The cheapest site near the entry where the Go register-ABI argument registers (RAX, RBX, RCX,
// RDI, RSI, R8-R11) and R14 (the g) still hold their entry values. kEntry when no emulated
// instruction precedes the first write to one of them.
EntrySite choose_entry_site(std::span<const uint8_t> code);

// Register numbers as the BPF side reads them from pt_regs (bpf/go_probes.h ZT_GO_REG_*).
enum class Reg : uint8_t { kRax, kRbx, kRcx, kRdx, kRsi, kRdi, kR8, kR9, kR10, kR11 };

// A "how many bytes were copied" site that replaces a RET probe (a RET is single-stepped,
// ~10 µs; a jcc is emulated, ~0.6 µs): after the first call to the copy routine at
// `copy_vaddr` (runtime.memmove), the first `test R,R` + jcc pair. The jcc is the site and R
// holds the copied length there. In crypto/tls.(*Conn).Read (Go 1.19-1.23) this is
// `n := copy(b, c.input...)` followed by `if n != 0`, which every returning read passes.
struct CopyLengthSite {
  uint64_t offset = 0;  // of the jcc, from the function's entry
  Reg length_reg = Reg::kRax;
};
Result<CopyLengthSite> find_copy_length_site(std::span<const uint8_t> code, uint64_t entry_vaddr,
                                             uint64_t copy_vaddr);

// A site only reached when argument register `tested` is not nil: after the function's first
// `test R,R` + je (jump when nil), the first emulated instruction on the fall-through path,
// before anything writes an argument register or R14 or leaves the path. For a function most
// of whose calls pass nil (grpc-go's controlBuffer.executeAndPut: only the opening of a stream
// passes a check function), the probe is then hit only by the calls it is for. The offset is
// from the function's entry.
Result<uint64_t> find_nonnil_site(std::span<const uint8_t> code, Reg tested);

}  // namespace ztrace::symbolizer
