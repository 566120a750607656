#include "symbolizer/ssl_sites.h"

#include <Zydis/Zydis.h>

#include "symbolizer/probe_sites.h"

namespace ztrace::symbolizer {
namespace {

constexpr int kPrologueInstructions = 32;  // how far the enter site is looked for

ZydisRegister widest(ZydisRegister r) {
  return ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
}

// The SysV argument registers the probes read: RDI (s), RSI (buf), RDX (num), RCX (count *).
bool is_argument(ZydisRegister r) {
  const ZydisRegister w = widest(r);
  return w == ZYDIS_REGISTER_RDI || w == ZYDIS_REGISTER_RSI || w == ZYDIS_REGISTER_RDX ||
         w == ZYDIS_REGISTER_RCX;
}

bool writes(const ZydisDecodedInstruction& insn, const ZydisDecodedOperand* ops,
            bool (*which)(ZydisRegister)) {
  for (uint8_t i = 0; i < insn.operand_count; ++i) {
    if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) && which(ops[i].reg.value)) {
      return true;
    }
  }
  return false;
}

bool is_object_or_buffer(ZydisRegister r) {
  const ZydisRegister w = widest(r);
  return w == ZYDIS_REGISTER_RDI || w == ZYDIS_REGISTER_RSI;
}

// A load through RDI means the function's body is inlined here (it reads the SSL object):
// its first call is not the internal function.
bool reads_through_object(const ZydisDecodedInstruction& insn, const ZydisDecodedOperand* ops) {
  for (uint8_t i = 0; i < insn.operand_count; ++i) {
    if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && widest(ops[i].mem.base) == ZYDIS_REGISTER_RDI)
      return true;
  }
  return false;
}

// arch/x86/kernel/uprobes.c emulates jcc/jmp/call rel (branch_setup_xol_ops) and push reg.
bool emulated(const ZydisDecodedInstruction& insn, const ZydisDecodedOperand* ops) {
  const auto c = insn.meta.category;
  if ((c == ZYDIS_CATEGORY_COND_BR || c == ZYDIS_CATEGORY_CALL) &&
      insn.operand_count_visible == 1 && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
    return true;
  if (insn.mnemonic == ZYDIS_MNEMONIC_PUSH && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
      insn.length <= 2)
    return true;
  return insn.mnemonic == ZYDIS_MNEMONIC_NOP && insn.length == 1;
}

}  // namespace

Result<SslFunctionSites> find_ssl_sites(std::span<const uint8_t> code) {
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  auto decode = [&](uint64_t at) {
    return at < code.size() && ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code.data() + at,
                                                                   code.size() - at, &insn, ops));
  };

  SslFunctionSites sites;
  bool entry_found = false;
  bool object_or_buffer_changed = false;
  bool inlined = false;
  uint64_t at = 0;
  for (int n = 0; n < kPrologueInstructions && decode(at); ++n) {
    const auto c = insn.meta.category;
    if (!entry_found && !writes(insn, ops, is_argument) && emulated(insn, ops) &&
        c != ZYDIS_CATEGORY_CALL) {
      sites.enter_offset = at;
      sites.enter_emulated = true;
      entry_found = true;
    }
    if (c == ZYDIS_CATEGORY_CALL) {
      if (ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && !object_or_buffer_changed && !inlined) {
        // The wrapper's call: its result is tested right after it.
        SslFunctionSites wrapper;
        wrapper.enter_offset = at;
        wrapper.enter_emulated = true;
        wrapper.enter_at_internal_call = true;
        uint64_t next = at + insn.length;
        if (decode(next) && insn.mnemonic == ZYDIS_MNEMONIC_TEST &&
            ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
            widest(ops[0].reg.value) == ZYDIS_REGISTER_RAX &&
            ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[1].reg.value == ops[0].reg.value) {
          next += insn.length;
          if (decode(next) && insn.meta.category == ZYDIS_CATEGORY_COND_BR) {
            wrapper.result_offsets = {next};
            wrapper.result_emulated = true;
            return wrapper;
          }
        }
        auto rets = find_ret_offsets(code);
        if (!rets) return Result<SslFunctionSites>::failure(rets.reason());
        wrapper.result_offsets = *rets;
        return wrapper;
      }
      break;
    }
    if (c == ZYDIS_CATEGORY_RET || c == ZYDIS_CATEGORY_UNCOND_BR) break;
    if (writes(insn, ops, is_object_or_buffer)) object_or_buffer_changed = true;
    if (reads_through_object(insn, ops)) inlined = true;
    if (!entry_found && writes(insn, ops, is_argument)) entry_found = true;  // entry: offset 0
    at += insn.length;
  }
  if (!sites.enter_emulated) sites.enter_offset = 0;
  auto rets = find_ret_offsets(code);
  if (!rets) return Result<SslFunctionSites>::failure(rets.reason());
  if (rets->empty()) return Result<SslFunctionSites>::failure("no RET instruction");
  sites.result_offsets = *rets;
  return sites;
}

}  // namespace ztrace::symbolizer
