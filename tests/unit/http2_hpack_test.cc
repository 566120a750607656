// HPACK decoder: RFC 7541 Appendix C examples (C.2-C.6, with and without Huffman), table
// size handling, and the unknown-state rules for connections joined mid-way.

#include <catch2/catch_test_macros.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/http2_test_support.h"
#include "userspace/protocols/http2/hpack.h"

namespace ztrace::http2::testing {
namespace {

using Fields = std::vector<HeaderField>;

HeaderField f(std::string name, std::string value) { return {std::move(name), std::move(value)}; }

struct Step {
  const char* hex;
  Fields expected;
  size_t table_entries;
  uint32_t table_bytes;
};

// Decodes the steps in order with one decoder, as RFC 7541 Appendix C does.
void run_steps(const std::vector<Step>& steps) {
  HpackDecoder decoder;
  for (size_t i = 0; i < steps.size(); ++i) {
    INFO("step " << i);
    Fields got;
    REQUIRE(decoder.decode(unhex(steps[i].hex), &got) == ParseState::kSuccess);
    CHECK(got == steps[i].expected);
    CHECK(decoder.table_entries() == steps[i].table_entries);
    CHECK(decoder.table_bytes() == steps[i].table_bytes);
  }
}

const Fields kRequest1 = {f(":method", "GET"), f(":scheme", "http"), f(":path", "/"),
                          f(":authority", "www.example.com")};
const Fields kRequest2 = {f(":method", "GET"), f(":scheme", "http"), f(":path", "/"),
                          f(":authority", "www.example.com"), f("cache-control", "no-cache")};
const Fields kRequest3 = {f(":method", "GET"), f(":scheme", "https"), f(":path", "/index.html"),
                          f(":authority", "www.example.com"), f("custom-key", "custom-value")};

const Fields kResponse1 = {f(":status", "302"), f("cache-control", "private"),
                           f("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                           f("location", "https://www.example.com")};
const Fields kResponse2 = {f(":status", "307"), f("cache-control", "private"),
                           f("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                           f("location", "https://www.example.com")};
const Fields kResponse3 = {
    f(":status", "200"),
    f("cache-control", "private"),
    f("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    f("location", "https://www.example.com"),
    f("content-encoding", "gzip"),
    f("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")};

// The responses of C.5/C.6 assume a 256-byte table: a size update (§6.3) sets it first.
constexpr const char* kSizeUpdate256 = "3fe101";

TEST_CASE("hpack RFC 7541 C.2 field representations", "[http2][hpack]") {
  run_steps({{"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
              {f("custom-key", "custom-header")},
              1,
              55}});
  run_steps({{"040c 2f73 616d 706c 652f 7061 7468", {f(":path", "/sample/path")}, 0, 0}});
  run_steps({{"1008 7061 7373 776f 7264 0673 6563 7265 74", {f("password", "secret")}, 0, 0}});
  run_steps({{"82", {f(":method", "GET")}, 0, 0}});
}

TEST_CASE("hpack RFC 7541 C.3 requests without Huffman", "[http2][hpack]") {
  run_steps({{"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", kRequest1, 1, 57},
             {"8286 84be 5808 6e6f 2d63 6163 6865", kRequest2, 2, 110},
             {"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", kRequest3,
              3, 164}});
}

TEST_CASE("hpack RFC 7541 C.4 requests with Huffman", "[http2][hpack]") {
  run_steps({{"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", kRequest1, 1, 57},
             {"8286 84be 5886 a8eb 1064 9cbf", kRequest2, 2, 110},
             {"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", kRequest3, 3, 164}});
}

TEST_CASE("hpack RFC 7541 C.5 responses without Huffman, eviction", "[http2][hpack]") {
  const std::string r1 = std::string(kSizeUpdate256) +
                         "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 "
                         "3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 "
                         "7777 2e65 7861 6d70 6c65 2e63 6f6d";
  run_steps({{r1.c_str(), kResponse1, 4, 222},
             {"4803 3330 37c1 c0bf", kResponse2, 4, 222},
             {"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d "
              "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 "
              "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e "
              "3d31",
              kResponse3, 3, 215}});
}

TEST_CASE("hpack RFC 7541 C.6 responses with Huffman, eviction", "[http2][hpack]") {
  const std::string r1 = std::string(kSizeUpdate256) +
                         "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 "
                         "66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3";
  run_steps({{r1.c_str(), kResponse1, 4, 222},
             {"4883 640e ffc1 c0bf", kResponse2, 4, 222},
             {"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab "
              "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f "
              "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
              kResponse3, 3, 215}});
}

TEST_CASE("hpack Huffman rejects bad padding and EOS", "[http2][hpack]") {
  std::string out;
  // "www.example.com" from C.4.1.
  CHECK(huffman_decode(unhex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), &out) == ParseState::kSuccess);
  CHECK(out == "www.example.com");
  out.clear();
  CHECK(huffman_decode(unhex("f1e3 c2e5 f23a 6ba0 ab90 f4fe"), &out) == ParseState::kInvalid);
  CHECK(huffman_decode(unhex("ffff ffff"), &out) == ParseState::kInvalid);  // EOS decoded
  CHECK(huffman_decode(unhex("1f ff"), &out) == ParseState::kInvalid);      // 'a' + 11 pad bits
  out.clear();
  CHECK(huffman_decode("", &out) == ParseState::kSuccess);
  CHECK(out.empty());
}

// The encoder of RFC 7541 §5.2: codes back to back, padded with the high bits of EOS.
std::string huffman_encode(std::string_view text) {
  std::string out;
  uint64_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const HuffmanCode code = huffman_code(static_cast<uint8_t>(c));
    buffer = buffer << code.bits | code.code;
    bits += code.bits;
    for (; bits >= 8; bits -= 8) out.push_back(static_cast<char>(buffer >> (bits - 8)));
  }
  if (bits > 0) out.push_back(static_cast<char>(buffer << (8 - bits) | (0xffu >> bits)));
  return out;
}

// The decoder's definition, one bit at a time: what the table-driven decoder must agree with.
ParseState bit_serial_decode(std::string_view in, std::string* out) {
  uint32_t code = 0;
  int bits = 0;
  bool all_ones = true;
  for (char ch : in) {
    for (int i = 7; i >= 0; --i) {
      const uint32_t bit = (static_cast<uint8_t>(ch) >> i) & 1;
      code = code << 1 | bit;
      all_ones = all_ones && bit;
      if (++bits > 30) return ParseState::kInvalid;
      for (uint16_t symbol = 0; symbol <= 256; ++symbol) {
        const HuffmanCode candidate = huffman_code(symbol);
        if (candidate.bits != bits || candidate.code != code) continue;
        if (symbol == 256) return ParseState::kInvalid;
        out->push_back(static_cast<char>(symbol));
        code = 0;
        bits = 0;
        all_ones = true;
        break;
      }
    }
  }
  return bits > 7 || !all_ones ? ParseState::kInvalid : ParseState::kSuccess;
}

TEST_CASE("hpack Huffman decodes what the encoder wrote, every byte value", "[http2][hpack]") {
  std::mt19937 random(7541);
  for (int round = 0; round < 2000; ++round) {
    std::string text(random() % 40, '\0');
    // Printable text most of the time (real headers), any byte value otherwise.
    const bool binary = round % 4 == 0;
    for (char& c : text) c = static_cast<char>(binary ? random() % 256 : 32 + random() % 95);
    std::string out;
    INFO("round " << round);
    REQUIRE(huffman_decode(huffman_encode(text), &out) == ParseState::kSuccess);
    CHECK(out == text);
  }
}

TEST_CASE("hpack Huffman agrees with the bit-serial decoder on random bytes", "[http2][hpack]") {
  std::mt19937 random(9113);
  int valid = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string in(1 + random() % 12, '\0');
    // Mostly high bytes: long codes and near-EOS runs are where decoders go wrong.
    for (char& c : in) c = static_cast<char>(round % 2 ? random() % 256 : 0xf0 | random() % 16);
    std::string got, expected;
    const ParseState got_state = huffman_decode(in, &got);
    const ParseState expected_state = bit_serial_decode(in, &expected);
    INFO("round " << round);
    REQUIRE(got_state == expected_state);
    if (got_state == ParseState::kSuccess) {
      CHECK(got == expected);
      ++valid;
    }
  }
  CHECK(valid > 1000);  // both outcomes were exercised
}

TEST_CASE("hpack rejects malformed blocks", "[http2][hpack]") {
  struct Case {
    const char* name;
    std::string block;
  };
  const std::vector<Case> cases = {
      {"index 0", unhex("80")},
      {"index beyond a known table", unhex("be")},
      {"literal name index beyond a known table", unhex("7f00 0161")},
      {"string longer than the block", unhex("0003 6162")},
      {"truncated integer", unhex("ff")},
      {"integer above 32 bits", unhex("ff ffffffffff7f")},
      {"size update after a field", unhex("82 20")},
      {"size update above SETTINGS", hpack_int(0x20, 5, 4097)},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    HpackDecoder decoder;
    Fields got;
    CHECK(decoder.decode(c.block, &got) == ParseState::kInvalid);
  }
}

TEST_CASE("hpack table size follows updates within SETTINGS_HEADER_TABLE_SIZE", "[http2][hpack]") {
  HpackDecoder decoder;
  Fields got;
  // 8192 (> 4096 default): refused until the decoder side advertised it.
  const std::string update_8192 = hpack_int(0x20, 5, 8192);
  CHECK(decoder.decode(update_8192, &got) == ParseState::kInvalid);
  HpackDecoder bigger;
  bigger.on_settings_header_table_size(8192);
  REQUIRE(bigger.decode(update_8192, &got) == ParseState::kSuccess);
  CHECK(bigger.max_table_bytes() == 8192);
  // Shrinking to 0 empties the table (§4.3).
  REQUIRE(bigger.decode(literal_indexed("a", "b"), &got) == ParseState::kSuccess);
  CHECK(bigger.table_entries() == 1);
  REQUIRE(bigger.decode(hpack_int(0x20, 5, 0), &got) == ParseState::kSuccess);
  CHECK(bigger.table_entries() == 0);
}

TEST_CASE("hpack memory stays bounded whatever the peer's table size", "[http2][hpack]") {
  HpackDecoder decoder;
  decoder.on_settings_header_table_size(1u << 30);
  Fields got;
  REQUIRE(decoder.decode(hpack_int(0x20, 5, 1u << 30), &got) == ParseState::kSuccess);
  const std::string value(1000, 'v');
  for (int i = 0; i < 200; ++i) {
    got.clear();
    REQUIRE(decoder.decode(literal_indexed("k" + std::to_string(i), value), &got) ==
            ParseState::kSuccess);
  }
  CHECK(decoder.table_bytes() <= HpackDecoder::kMaxTableBytes);
  CHECK_FALSE(decoder.state_known());
  // The newest entry is still exact; one the agent dropped is unknown, not an error.
  got.clear();
  REQUIRE(decoder.decode(indexed(62), &got) == ParseState::kSuccess);
  CHECK(got == Fields{f("k199", value)});
  got.clear();
  REQUIRE(decoder.decode(indexed(62 + 150), &got) == ParseState::kSuccess);
  REQUIRE(got.size() == 1);
  CHECK(got[0].unknown);
}

TEST_CASE("hpack with unknown earlier state marks unseen entries unknown", "[http2][hpack]") {
  HpackDecoder decoder(/*state_known=*/false);
  Fields got;
  // :method GET (static), :path from an entry added before the agent joined.
  REQUIRE(decoder.decode(unhex("82 be"), &got) == ParseState::kSuccess);
  REQUIRE(got.size() == 2);
  CHECK(got[0] == f(":method", "GET"));
  CHECK(got[1].unknown);
  CHECK(got[1].name.empty());
  // A literal naming an unseen entry: its value is known, its name is not.
  got.clear();
  REQUIRE(decoder.decode(hpack_int(0x00, 4, 70) + hpack_string("/x"), &got) ==
          ParseState::kSuccess);
  REQUIRE(got.size() == 1);
  CHECK(got[0].unknown);
  CHECK(got[0].name.empty());
  // Entries added from now on are exact, and older ones still unknown.
  got.clear();
  REQUIRE(decoder.decode(hpack_int(0x40, 6, 4) + hpack_string("/svc/Method"), &got) ==
          ParseState::kSuccess);
  CHECK(got == Fields{f(":path", "/svc/Method")});
  got.clear();
  REQUIRE(decoder.decode(unhex("be bf"), &got) == ParseState::kSuccess);
  REQUIRE(got.size() == 2);
  CHECK(got[0] == f(":path", "/svc/Method"));
  CHECK(got[1].unknown);
  // An entry added with an unknown name stays unknown when referenced.
  got.clear();
  REQUIRE(decoder.decode(hpack_int(0x40, 6, 80) + hpack_string("v"), &got) == ParseState::kSuccess);
  got.clear();
  REQUIRE(decoder.decode(unhex("be"), &got) == ParseState::kSuccess);
  REQUIRE(got.size() == 1);
  CHECK(got[0].unknown);
  // Losing bytes again forgets everything dynamic.
  decoder.lose_state();
  got.clear();
  REQUIRE(decoder.decode(unhex("bf"), &got) == ParseState::kSuccess);
  CHECK(got[0].unknown);
}

}  // namespace
}  // namespace ztrace::http2::testing
