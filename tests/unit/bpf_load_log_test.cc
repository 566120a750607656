#include <catch2/catch_test_macros.hpp>

#include "userspace/bpf_support/load_log.h"

using ztrace::bpf_support::summarize_verifier_log;

TEST_CASE("a verifier rejection names the program and keeps the log's last lines") {
  // As libbpf 1.4 prints it when the stack of a call chain is over the limit.
  const char* message =
      "prog 'enter_write': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx() R10=fp0\n"
      "; int enter_write(struct trace_event_raw_sys_enter *ctx)\n"
      "1: (79) r8 = *(u64 *)(r1 +32)\n"
      "2: (b7) r1 = 0\n"
      "combined stack size of 2 calls is 528. Too large\n"
      "processed 27609 insns (limit 1000000) max_states_per_insn 12 total_states 1046\n"
      "-- END PROG LOAD LOG --";
  CHECK(summarize_verifier_log(message) ==
        "program 'enter_write' rejected by the verifier: 1: (79) r8 = *(u64 *)(r1 +32) / "
        "2: (b7) r1 = 0 / combined stack size of 2 calls is 528. Too large / processed 27609 "
        "insns (limit 1000000) max_states_per_insn 12 total_states 1046");
}

TEST_CASE("libbpf messages without a load log give no rejection") {
  CHECK(summarize_verifier_log("failed to load object 'socket_trace_bpf'").empty());
  CHECK(summarize_verifier_log("").empty());
}
