#pragma once

// Where the librdkafka consumer probe goes (x86-64, Zydis): the message a poll returns to the
// application thread, seen at one emulated site per poll, never a uretprobe.
// - rd_kafka_consumer_poll, rd_kafka_consume and rd_kafka_consume_queue all end in one internal
//   function (rd_kafka_consume0 in librdkafka 2.0.2; the first two tail-call it). Its every
//   return passes the stack protector's check, `sub %fs:0x28,%reg; jne __stack_chk_fail`, then
//   `mov %reg,%rax` with the result: the jne is the site (the kernel emulates a jcc) and the
//   register moved into RAX holds the returned rd_kafka_message_t *.
// - rd_kafka_topic_name reads `rkt->rkt_topic->str` as two loads: their displacements let the
//   probe read a message's topic without calling it.

#include <cstdint>
#include <optional>
#include <span>

#include "symbolizer/elf_file.h"
#include "symbolizer/result.h"

namespace ztrace::symbolizer {

// The register holding the result at the site (order of bpf/rdkafka_probes.h zt_rdkafka_reg).
enum class ResultReg : uint8_t { kRax, kRbx, kRbp, kR12, kR13, kR14, kR15 };

struct PollReturnSite {
  uint64_t offset = 0;  // of the jcc, from the function's entry
  ResultReg message_reg = ResultReg::kRax;
};

struct TopicNameFields {
  uint32_t topic_field = 0;  // offset of rkt_topic in rd_kafka_topic_t
  uint32_t str_field = 0;    // offset of str in rd_kafkap_str_t
};

// The target of the function's tail call (`jmp rel32` out of [entry_vaddr, + code.size())).
std::optional<uint64_t> tail_call_target(std::span<const uint8_t> code, uint64_t entry_vaddr);

// `code` runs from the function's entry up to the next symbol (or a bound). Fails unless the
// code has exactly one RET, reached from exactly one stack-check jcc through an epilogue that
// moves a callee-saved register into RAX.
Result<PollReturnSite> find_poll_return_site(std::span<const uint8_t> code);

// `code` is rd_kafka_topic_name: `mov disp1(%rdi),%rax; mov disp2(%rax),%rax; ret`.
Result<TopicNameFields> find_topic_name_fields(std::span<const uint8_t> code);

struct ConsumeSites {
  uint64_t poll_return_vaddr = 0;
  ResultReg message_reg = ResultReg::kRax;
  TopicNameFields topic;
  std::optional<uint64_t> close_vaddr;  // rd_kafka_consumer_close
};

// The consumer sites of a librdkafka image, from its dynamic symbols.
Result<ConsumeSites> find_consume_sites(const ElfFile& elf);

}  // namespace ztrace::symbolizer
