#include "symbolizer/probe_sites.h"

#include <Zydis/Zydis.h>

#include <optional>

namespace ztrace::symbolizer {
namespace {

struct Decoder {
  ZydisDecoder d;
  Decoder() { ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64); }
  bool decode(std::span<const uint8_t> code, uint64_t at, ZydisDecodedInstruction* insn,
              ZydisDecodedOperand* ops) const {
    if (at >= code.size()) return false;
    return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, code.data() + at, code.size() - at, insn, ops));
  }
};

bool is_preserved_register(ZydisRegister r) {
  switch (ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r)) {
    case ZYDIS_REGISTER_RAX:
    case ZYDIS_REGISTER_RBX:
    case ZYDIS_REGISTER_RCX:
    case ZYDIS_REGISTER_RDI:
    case ZYDIS_REGISTER_RSI:
    case ZYDIS_REGISTER_R8:
    case ZYDIS_REGISTER_R9:
    case ZYDIS_REGISTER_R10:
    case ZYDIS_REGISTER_R11:
    case ZYDIS_REGISTER_R14:
      return true;
    default:
      return false;
  }
}

bool writes_preserved_register(const ZydisDecodedInstruction& insn,
                               const ZydisDecodedOperand* ops) {
  for (uint8_t i = 0; i < insn.operand_count; ++i) {
    if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
        is_preserved_register(ops[i].reg.value)) {
      return true;
    }
  }
  return false;
}

// What the x86 uprobe code emulates instead of single-stepping (arch/x86/kernel/uprobes.c:
// branch_setup_xol_ops for jcc/jmp/call rel, push_setup_xol_ops for push reg), plus nop.
std::optional<SiteKind> emulated_kind(const ZydisDecodedInstruction& insn,
                                      const ZydisDecodedOperand* ops) {
  if (insn.meta.category == ZYDIS_CATEGORY_COND_BR && insn.operand_count_visible == 1 &&
      ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    return SiteKind::kEmulatedJcc;
  }
  if (insn.mnemonic == ZYDIS_MNEMONIC_PUSH && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
      insn.length <= 2) {
    return SiteKind::kEmulatedPush;
  }
  if (insn.mnemonic == ZYDIS_MNEMONIC_NOP && insn.length == 1) return SiteKind::kEmulatedNop;
  return std::nullopt;
}

std::optional<Reg> reg_of(ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_RAX:
      return Reg::kRax;
    case ZYDIS_REGISTER_RBX:
      return Reg::kRbx;
    case ZYDIS_REGISTER_RCX:
      return Reg::kRcx;
    case ZYDIS_REGISTER_RDX:
      return Reg::kRdx;
    case ZYDIS_REGISTER_RSI:
      return Reg::kRsi;
    case ZYDIS_REGISTER_RDI:
      return Reg::kRdi;
    case ZYDIS_REGISTER_R8:
      return Reg::kR8;
    case ZYDIS_REGISTER_R9:
      return Reg::kR9;
    case ZYDIS_REGISTER_R10:
      return Reg::kR10;
    case ZYDIS_REGISTER_R11:
      return Reg::kR11;
    default:
      return std::nullopt;
  }
}

}  // namespace

Result<CopyLengthSite> find_copy_length_site(std::span<const uint8_t> code, uint64_t entry_vaddr,
                                             uint64_t copy_vaddr) {
  using R = Result<CopyLengthSite>;
  Decoder dec;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  uint64_t at = 0;
  bool after_copy = false;
  int budget = 0;
  std::optional<Reg> tested;  // register of a `test R,R` just before
  while (at < code.size() && dec.decode(code, at, &insn, ops)) {
    const auto c = insn.meta.category;
    if (!after_copy) {
      if (c == ZYDIS_CATEGORY_CALL && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
          entry_vaddr + at + insn.length + ops[0].imm.value.s == copy_vaddr) {
        after_copy = true;
        budget = 12;
      }
    } else {
      if (--budget < 0 || c == ZYDIS_CATEGORY_CALL || c == ZYDIS_CATEGORY_RET ||
          c == ZYDIS_CATEGORY_UNCOND_BR) {
        break;
      }
      if (c == ZYDIS_CATEGORY_COND_BR && tested) return CopyLengthSite{at, *tested};
      tested.reset();
      if (insn.mnemonic == ZYDIS_MNEMONIC_TEST && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
          ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[0].reg.value == ops[1].reg.value) {
        tested = reg_of(ops[0].reg.value);
      }
    }
    at += insn.length;
  }
  return R::failure(after_copy ? "no length test after the copy" : "no call to the copy routine");
}

Result<uint64_t> find_nonnil_site(std::span<const uint8_t> code, Reg tested) {
  using R = Result<uint64_t>;
  Decoder dec;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  uint64_t at = 0;
  bool tested_before = false;  // the previous instruction was `test R,R`
  bool on_path = false;        // past the je: on the path where R is not nil
  for (int n = 0; n < 96 && dec.decode(code, at, &insn, ops); ++n) {
    const auto c = insn.meta.category;
    if (on_path) {
      if (auto kind = emulated_kind(insn, ops)) return at;
      if (writes_preserved_register(insn, ops) || c == ZYDIS_CATEGORY_CALL ||
          c == ZYDIS_CATEGORY_RET || c == ZYDIS_CATEGORY_UNCOND_BR) {
        break;
      }
    } else if (tested_before && insn.mnemonic == ZYDIS_MNEMONIC_JZ) {
      on_path = true;
    }
    tested_before = insn.mnemonic == ZYDIS_MNEMONIC_TEST &&
                    ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                    ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                    ops[0].reg.value == ops[1].reg.value && reg_of(ops[0].reg.value) == tested;
    at += insn.length;
  }
  return R::failure(on_path ? "no emulated instruction where the register is not nil"
                            : "no nil test of the register");
}

std::string_view to_string(SiteKind k) {
  switch (k) {
    case SiteKind::kEmulatedPush:
      return "push";
    case SiteKind::kEmulatedNop:
      return "nop";
    case SiteKind::kEmulatedJcc:
      return "jcc";
    default:
      return "entry";
  }
}

Result<std::vector<uint64_t>> find_ret_offsets(std::span<const uint8_t> code) {
  Decoder dec;
  std::vector<uint64_t> rets;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  uint64_t at = 0;
  while (at < code.size()) {
    if (!dec.decode(code, at, &insn, ops)) {
      // Trailing alignment padding may be cut mid-instruction; anything else is an error.
      bool padding = true;
      for (uint64_t i = at; i < code.size(); ++i) padding &= code[i] == 0xcc || code[i] == 0x00;
      if (padding) break;
      return Result<std::vector<uint64_t>>::failure("undecodable instruction at +" +
                                                    std::to_string(at));
    }
    if (insn.meta.category == ZYDIS_CATEGORY_RET) rets.push_back(at);
    at += insn.length;
  }
  return rets;
}

EntrySite choose_entry_site(std::span<const uint8_t> code) {
  Decoder dec;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  std::optional<EntrySite> jcc;
  uint64_t at = 0;
  for (int n = 0; n < 8 && dec.decode(code, at, &insn, ops); ++n) {
    if (auto kind = emulated_kind(insn, ops)) {
      if (*kind != SiteKind::kEmulatedJcc) return {at, *kind};
      if (!jcc) jcc = EntrySite{at, *kind};
    } else if (writes_preserved_register(insn, ops)) {
      break;
    }
    // Past a call, return or jump the fall-through path is no longer "the entry".
    auto c = insn.meta.category;
    if (c == ZYDIS_CATEGORY_CALL || c == ZYDIS_CATEGORY_RET || c == ZYDIS_CATEGORY_UNCOND_BR ||
        c == ZYDIS_CATEGORY_INTERRUPT || c == ZYDIS_CATEGORY_SYSCALL) {
      break;
    }
    at += insn.length;
  }
  return jcc.value_or(EntrySite{});
}

}  // namespace ztrace::symbolizer
