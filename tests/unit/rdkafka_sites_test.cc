// Where the librdkafka consumer probe goes (symbolizer/rdkafka_sites.h): on functions shaped like
// librdkafka 2.0.2's (assembled for this test from the shapes objdump shows in Debian's
// librdkafka.so.1) and, when the library is installed, on the library itself.
#include "symbolizer/rdkafka_sites.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <filesystem>
#include <vector>

namespace ztrace::symbolizer {
namespace {

// push rbp; push rbx; sub rsp; canary store; call; mov rbp,rax; canary load;
// sub rax,fs:0x28 (0x23); jne (0x2c); add rsp; mov rax,rbp; pop; pop; ret (0x37);
// call __stack_chk_fail; padding.
const std::vector<uint8_t> kConsume = {
    0x55, 0x53, 0x48, 0x83, 0xec, 0x18, 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00,
    0x00, 0x48, 0x89, 0x44, 0x24, 0x08, 0x31, 0xc0, 0xe8, 0xe5, 0xff, 0xff, 0xff, 0x48,
    0x89, 0xc5, 0x48, 0x8b, 0x44, 0x24, 0x08, 0x64, 0x48, 0x2b, 0x04, 0x25, 0x28, 0x00,
    0x00, 0x00, 0x75, 0x0a, 0x48, 0x83, 0xc4, 0x18, 0x48, 0x89, 0xe8, 0x5b, 0x5d, 0xc3,
    0xe8, 0xc3, 0xff, 0xff, 0xff, 0x2e, 0x66, 0x0f, 0x1f, 0x04, 0x00};

// cmp $'LRKT',(%rdi); jne; mov 0x18(%rdi),%rax; ret; mov 0x58(%rdi),%rax; mov 0x8(%rax),%rax; ret
const std::vector<uint8_t> kTopicName = {0x81, 0x3f, 0x4c, 0x52, 0x4b, 0x54, 0x75, 0x05,
                                         0x48, 0x8b, 0x47, 0x18, 0xc3, 0x48, 0x8b, 0x47,
                                         0x58, 0x48, 0x8b, 0x40, 0x08, 0xc3};

// rd_kafka_consumer_poll at 0x59: ...; jmp 0 (0x6b: eb 93); ret.
const std::vector<uint8_t> kPoll = {0x48, 0x8b, 0x87, 0x30, 0x01, 0x00, 0x00,
                                    0x48, 0x85, 0xc0, 0x74, 0x08, 0x89, 0xf2,
                                    0x48, 0x8b, 0x70, 0x48, 0xeb, 0x93, 0xc3};

}  // namespace

TEST_CASE("rdkafka sites: the stack check's jcc on the consume function's only return path",
          "[symbolizer][kafka]") {
  auto site = find_poll_return_site(kConsume);
  REQUIRE(site);
  CHECK(site->offset == 0x2c);
  CHECK(site->message_reg == ResultReg::kRbp);

  SECTION("a second return path is refused") {
    std::vector<uint8_t> two_rets = kConsume;
    two_rets.push_back(0xc3);
    CHECK_FALSE(find_poll_return_site(two_rets));
  }
  SECTION("a result register restored before it is moved is refused") {
    std::vector<uint8_t> popped = kConsume;
    // add rsp,0x18; pop rbp (5d); mov rax,rbp; pop rbx; ret
    const std::vector<uint8_t> epilogue = {0x48, 0x83, 0xc4, 0x18, 0x5d,
                                           0x48, 0x89, 0xe8, 0x5b, 0xc3};
    std::copy(epilogue.begin(), epilogue.end(), popped.begin() + 0x2e);
    CHECK_FALSE(find_poll_return_site(popped));
  }
  SECTION("no stack check, no site") {
    CHECK_FALSE(
        find_poll_return_site(std::vector<uint8_t>(kConsume.begin() + 0x2e, kConsume.end())));
  }
}

TEST_CASE("rdkafka sites: rd_kafka_topic_name's two loads and the poll's tail call",
          "[symbolizer][kafka]") {
  auto fields = find_topic_name_fields(kTopicName);
  REQUIRE(fields);
  CHECK(fields->topic_field == 0x58);
  CHECK(fields->str_field == 0x8);
  CHECK_FALSE(
      find_topic_name_fields(std::vector<uint8_t>(kTopicName.begin(), kTopicName.begin() + 13)));
  CHECK(tail_call_target(kPoll, 0x59) == std::optional<uint64_t>(0));
  CHECK_FALSE(tail_call_target(std::vector<uint8_t>(kPoll.begin(), kPoll.begin() + 18), 0x59));
}

TEST_CASE("rdkafka sites: Debian's librdkafka.so.1", "[symbolizer][kafka]") {
  const std::string path = "/usr/lib/x86_64-linux-gnu/librdkafka.so.1";
  if (!std::filesystem::exists(path)) SKIP("librdkafka1 is not installed");
  auto elf = ElfFile::open(path);
  REQUIRE(elf);
  auto sites = find_consume_sites(**elf);
  INFO(sites.reason());
  REQUIRE(sites);
  // The site is a jcc (0x7x or 0x0f 0x8x): an instruction the kernel emulates.
  const auto code = (*elf)->code_at_vaddr(sites->poll_return_vaddr, 2);
  REQUIRE(code.size() == 2);
  CHECK((((code[0] & 0xf0) == 0x70) || (code[0] == 0x0f && (code[1] & 0xf0) == 0x80)));
  CHECK(sites->topic.topic_field > 0);
  CHECK(sites->close_vaddr.has_value());
}

}  // namespace ztrace::symbolizer
