#pragma once

// The input format the connection-parser fuzzers share (seeds are easy to write by hand, see
// corpus/*/ and make_*_corpus.py):
//   byte 0: configuration: bits 0-1 role (0 unknown, 1 client, 2 or 3 server),
//           bit 2 joined mid-stream.
//   then records, each one on_data call:
//     control byte: bit 0 direction (0 egress, 1 ingress), bit 1 set = NOT a syscall start,
//                   bit 2 a gap byte follows, bits 3-7 length (31: two length bytes follow,
//                   little endian); control 0xff instead closes the connection.
//     [gap byte: g < 128: g bytes; otherwise (g - 127) * 4096 bytes]
//     data bytes (fewer if the input ends).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "userspace/common/connection_types.h"

namespace ztrace::fuzz {

struct Record {
  bool close = false;
  Direction dir = Direction::kEgress;
  bool syscall_start = true;
  uint64_t gap_bytes = 0;
  std::string_view bytes;
};

struct Input {
  Role role = Role::kUnknown;
  bool joined_midstream = false;
  bool any_gap = false;  // some record is followed by bytes that were not captured
  std::vector<Record> records;
};

inline Input decode_connection_input(const uint8_t* data, size_t size) {
  Input in;
  if (size == 0) return in;
  const uint8_t role = data[0] & 3;
  in.role = role == 1 ? Role::kClient : role == 0 ? Role::kUnknown : Role::kServer;
  in.joined_midstream = (data[0] & 4) != 0;
  size_t pos = 1;
  while (pos < size) {
    const uint8_t control = data[pos++];
    Record r;
    if (control == 0xff) {
      r.close = true;
      in.records.push_back(r);
      continue;
    }
    r.dir = (control & 1) ? Direction::kIngress : Direction::kEgress;
    r.syscall_start = (control & 2) == 0;
    size_t length = control >> 3;
    if (length == 31) {
      length = 0;
      if (pos < size) length = data[pos++];
      if (pos < size) length |= static_cast<size_t>(data[pos++]) << 8;
    }
    if (control & 4) {
      const uint8_t g = pos < size ? data[pos++] : 0;
      r.gap_bytes = g < 128 ? g : static_cast<uint64_t>(g - 127) * 4096;
      in.any_gap = in.any_gap || r.gap_bytes > 0;
    }
    if (length > size - pos) length = size - pos;
    r.bytes = std::string_view(reinterpret_cast<const char*>(data + pos), length);
    pos += length;
    in.records.push_back(r);
  }
  return in;
}

// An invariant the fuzzer checks does not hold: libFuzzer keeps the input that did this.
[[noreturn]] inline void violation(const char* protocol, const char* what) {
  std::fprintf(stderr, "%s fuzz invariant violated: %s\n", protocol, what);
  std::abort();
}

// Where a syscall's bytes are cut in two (0: delivered whole). The default cuts anywhere,
// at a point the first byte chooses.
using SplitAt = size_t (*)(std::string_view bytes);
inline size_t whole(std::string_view) { return 0; }
inline size_t split_anywhere(std::string_view bytes) {
  return bytes.size() >= 2 ? 1 + static_cast<uint8_t>(bytes[0]) % (bytes.size() - 1) : 0;
}

// Feeds the records to `parser` in order, each call cut where `split_at` says, and calls
// take(failed_before) after every call so the caller can collect what came out. A parser
// that failed must stay failed.
template <typename Parser, typename Take>
void feed_records(Parser& parser, const Input& in, SplitAt split_at, const char* protocol,
                  Take&& take) {
  uint64_t ts = 0;
  for (const Record& r : in.records) {
    ts += 1000;
    const bool was_failed = parser.failed();
    if (r.close) {
      parser.on_close(ts);
      take(was_failed);
      continue;
    }
    if (const size_t at = split_at(r.bytes); at > 0) {
      parser.on_data(r.dir, r.bytes.substr(0, at), 0, ts, r.syscall_start);
      take(was_failed);
      const bool failed_after_first = parser.failed();
      parser.on_data(r.dir, r.bytes.substr(at), r.gap_bytes, ts, false);
      take(failed_after_first);
    } else {
      parser.on_data(r.dir, r.bytes, r.gap_bytes, ts, r.syscall_start);
      take(was_failed);
    }
    if (was_failed && !parser.failed()) violation(protocol, "failure was undone");
  }
}

}  // namespace ztrace::fuzz
