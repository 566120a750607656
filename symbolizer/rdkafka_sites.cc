#include "symbolizer/rdkafka_sites.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <vector>

namespace ztrace::symbolizer {
namespace {

constexpr uint64_t kMaxConsumeBytes = 4096;  // the internal consume function is ~800 bytes
constexpr uint64_t kMaxEpilogueInstructions = 12;

struct Decoder {
  ZydisDecoder d;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  Decoder() { ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64); }
  bool decode(std::span<const uint8_t> code, uint64_t at) {
    return at < code.size() &&
           ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, code.data() + at, code.size() - at, &insn, ops));
  }
  bool is_reg(int i, ZydisRegister r) const {
    return ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[i].reg.value == r;
  }
};

std::optional<ResultReg> callee_saved(ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_RBX:
      return ResultReg::kRbx;
    case ZYDIS_REGISTER_RBP:
      return ResultReg::kRbp;
    case ZYDIS_REGISTER_R12:
      return ResultReg::kR12;
    case ZYDIS_REGISTER_R13:
      return ResultReg::kR13;
    case ZYDIS_REGISTER_R14:
      return ResultReg::kR14;
    case ZYDIS_REGISTER_R15:
      return ResultReg::kR15;
    default:
      return std::nullopt;
  }
}

// `sub %fs:0x28,%reg` (or cmp/xor): the stack protector's canary compare.
bool is_canary_check(const Decoder& d) {
  const auto m = d.insn.mnemonic;
  if (m != ZYDIS_MNEMONIC_SUB && m != ZYDIS_MNEMONIC_XOR && m != ZYDIS_MNEMONIC_CMP) return false;
  const ZydisDecodedOperand& mem = d.ops[1];
  return d.ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && mem.type == ZYDIS_OPERAND_TYPE_MEMORY &&
         mem.mem.segment == ZYDIS_REGISTER_FS && mem.mem.base == ZYDIS_REGISTER_NONE &&
         mem.mem.disp.value == 0x28;
}

// From the jcc's fall-through to the RET: stack adjustments, pops and one `mov %reg,%rax`.
// The register moved, and the RET's offset.
std::optional<std::pair<ResultReg, uint64_t>> epilogue_result(std::span<const uint8_t> code,
                                                              uint64_t at) {
  Decoder d;
  std::optional<ResultReg> result;
  std::vector<ZydisRegister> popped;  // before the mov: no longer what they were at the site
  for (uint64_t n = 0; n < kMaxEpilogueInstructions && d.decode(code, at); ++n) {
    const auto m = d.insn.mnemonic;
    if (d.insn.meta.category == ZYDIS_CATEGORY_RET) {
      if (!result) return std::nullopt;
      return std::make_pair(*result, at);
    }
    if (m == ZYDIS_MNEMONIC_MOV && d.is_reg(0, ZYDIS_REGISTER_RAX) &&
        d.ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER) {
      const ZydisRegister source = d.ops[1].reg.value;
      result = callee_saved(source);
      if (!result || std::find(popped.begin(), popped.end(), source) != popped.end()) {
        return std::nullopt;
      }
    } else if (m == ZYDIS_MNEMONIC_POP) {
      if (!result) popped.push_back(d.ops[0].reg.value);
    } else if (!((m == ZYDIS_MNEMONIC_ADD || m == ZYDIS_MNEMONIC_LEA) &&
                 d.is_reg(0, ZYDIS_REGISTER_RSP))) {
      return std::nullopt;  // anything else: not the plain epilogue this site relies on
    }
    at += d.insn.length;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> tail_call_target(std::span<const uint8_t> code, uint64_t entry_vaddr) {
  Decoder d;
  for (uint64_t at = 0; d.decode(code, at); at += d.insn.length) {
    if (d.insn.mnemonic != ZYDIS_MNEMONIC_JMP || d.ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE)
      continue;
    const uint64_t target =
        entry_vaddr + at + d.insn.length + static_cast<int64_t>(d.ops[0].imm.value.s);
    if (target < entry_vaddr || target >= entry_vaddr + code.size()) return target;
  }
  return std::nullopt;
}

Result<PollReturnSite> find_poll_return_site(std::span<const uint8_t> code) {
  Decoder d;
  std::vector<uint64_t> rets;
  std::vector<PollReturnSite> sites;
  std::vector<uint64_t> site_rets;
  bool after_check = false;
  for (uint64_t at = 0; d.decode(code, at); at += d.insn.length) {
    if (d.insn.meta.category == ZYDIS_CATEGORY_RET) rets.push_back(at);
    const bool jcc = d.insn.meta.category == ZYDIS_CATEGORY_COND_BR &&
                     d.ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE;
    if (after_check && jcc) {
      if (auto result = epilogue_result(code, at + d.insn.length)) {
        sites.push_back({at, result->first});
        site_rets.push_back(result->second);
      }
    }
    after_check = is_canary_check(d);
  }
  if (sites.size() != 1) {
    return Result<PollReturnSite>::failure(
        "no single stack-checked return in the consume function");
  }
  if (rets.size() != 1 || rets.front() != site_rets.front()) {
    return Result<PollReturnSite>::failure("the consume function returns by more than one path");
  }
  return sites.front();
}

Result<TopicNameFields> find_topic_name_fields(std::span<const uint8_t> code) {
  Decoder d;
  int64_t first = -1;  // the displacement of a load through RDI just before, else -1
  for (uint64_t at = 0; d.decode(code, at); at += d.insn.length) {
    const bool load = d.insn.mnemonic == ZYDIS_MNEMONIC_MOV && d.is_reg(0, ZYDIS_REGISTER_RAX) &&
                      d.ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY &&
                      d.ops[1].mem.index == ZYDIS_REGISTER_NONE && d.ops[1].mem.disp.value >= 0 &&
                      d.ops[1].mem.disp.value < 0x10000;
    if (load && d.ops[1].mem.base == ZYDIS_REGISTER_RDI) {
      first = d.ops[1].mem.disp.value;
      continue;
    }
    if (load && first >= 0 && d.ops[1].mem.base == ZYDIS_REGISTER_RAX) {
      const uint32_t second = static_cast<uint32_t>(d.ops[1].mem.disp.value);
      if (d.decode(code, at + d.insn.length) && d.insn.meta.category == ZYDIS_CATEGORY_RET) {
        return TopicNameFields{static_cast<uint32_t>(first), second};
      }
    }
    first = -1;
  }
  return Result<TopicNameFields>::failure("rd_kafka_topic_name reads no rkt->rkt_topic->str");
}

Result<ConsumeSites> find_consume_sites(const ElfFile& elf) {
  auto poll = elf.find_symbol("rd_kafka_consumer_poll");
  auto topic_name = elf.find_symbol("rd_kafka_topic_name");
  if (!poll || !poll->size || !topic_name || !topic_name->size) {
    return Result<ConsumeSites>::failure("no rd_kafka_consumer_poll or rd_kafka_topic_name");
  }
  auto target = tail_call_target(elf.code_at_vaddr(poll->value, poll->size), poll->value);
  if (!target) return Result<ConsumeSites>::failure("rd_kafka_consumer_poll makes no tail call");
  // The consume function has no symbol: it ends before the next one.
  uint64_t end = *target + kMaxConsumeBytes;
  elf.for_each_symbol([&](const ElfSymbol& s) {
    if (s.value > *target && s.value < end) end = s.value;
  });
  auto site = find_poll_return_site(elf.code_at_vaddr(*target, end - *target));
  if (!site) return Result<ConsumeSites>::failure(site.reason());
  auto fields = find_topic_name_fields(elf.code_at_vaddr(topic_name->value, topic_name->size));
  if (!fields) return Result<ConsumeSites>::failure(fields.reason());
  ConsumeSites sites{*target + site->offset, site->message_reg, *fields, std::nullopt};
  if (auto close = elf.find_symbol("rd_kafka_consumer_close"); close && close->size) {
    sites.close_vaddr = close->value;
  }
  return sites;
}

}  // namespace ztrace::symbolizer
