// libFuzzer target for the HTTP/1 connection parser.
//
// Input format (so that seeds are easy to write, see corpus/http1/):
//   byte 0: configuration: bits 0-1 role (0 unknown, 1 client, 2 server; 3 = server),
//           bit 2 joined mid-stream.
//   then records, each one on_data call:
//     control byte: bit 0 direction (0 egress, 1 ingress), bit 1 set = NOT a syscall start,
//                   bit 2 a gap byte follows, bits 3-7 length (31: two length bytes follow,
//                   little endian); control 0xff instead closes the connection.
//     [gap byte: g < 128: g bytes; otherwise (g - 127) * 4096 bytes]
//     data bytes (fewer if the input ends).
//
// Checked on every input: no crash or sanitizer report; every emitted exchange is
// well-formed (bounded fields, ordered timestamps, valid status); a failed parser emits
// nothing more; and delivering each syscall split into two pieces gives exactly the same
// result as delivering it whole.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/http1/connection_parser.h"

namespace {

using ztrace::Direction;
using ztrace::Role;
using ztrace::http1::ConnectionParser;
using ztrace::http1::Exchange;

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
  std::vector<Record> records;
};

Input decode(const uint8_t* data, size_t size) {
  Input in;
  if (size == 0) return in;
  const uint8_t config = data[0];
  const uint8_t role = config & 3;
  in.role = role == 1 ? Role::kClient : role == 0 ? Role::kUnknown : Role::kServer;
  in.joined_midstream = (config & 4) != 0;
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
    }
    if (length > size - pos) length = size - pos;
    r.bytes = std::string_view(reinterpret_cast<const char*>(data + pos), length);
    pos += length;
    in.records.push_back(r);
  }
  return in;
}

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "http1 fuzz invariant violated: %s\n", what);
  std::abort();
}

void check_exchange(const Exchange& e) {
  const auto& q = e.request;
  if (q.method.size() > 24) violation("method too long");
  if (q.target.size() > 8192) violation("target too long");
  if (q.host.size() > 256 || q.user_agent.size() > 512) violation("header value too long");
  if (q.traceparent.size() > 128 || q.tracestate.size() > 512) violation("trace context too long");
  if (q.start_ns > q.end_ns) violation("request ends before it starts");
  if (q.version_minor != 0 && q.version_minor != 1) violation("request version");
  if (!e.response) return;
  const auto& r = *e.response;
  if (r.status_code != 0 && (r.status_code < 100 || r.status_code > 599)) violation("status");
  if (r.start_ns > r.end_ns) violation("response ends before it starts");
  if (r.start_ns < q.start_ns) violation("response starts before its request");
  if (r.version_minor != 0 && r.version_minor != 1) violation("response version");
}

std::string describe(const Exchange& e) {
  const auto& q = e.request;
  std::string s = q.method + ' ' + q.target + ' ' + std::to_string(q.version_minor) + ' ' + q.host +
                  '|' + q.user_agent + '|' + q.traceparent + '|' + q.tracestate + ' ' +
                  std::to_string(q.start_ns) + '-' + std::to_string(q.end_ns) + ' ' +
                  std::to_string(q.body_bytes) + (q.truncated ? "T" : "") +
                  (q.target_truncated ? "t" : "");
  if (!e.response) return s + " none";
  const auto& r = *e.response;
  return s + " -> " + std::to_string(r.status_code) + ' ' + std::to_string(r.version_minor) + ' ' +
         std::to_string(r.start_ns) + '-' + std::to_string(r.end_ns) + ' ' +
         std::to_string(r.body_bytes) + (r.truncated ? "T" : "");
}

struct Outcome {
  std::vector<std::string> exchanges;
  bool failed = false;
  std::string reason;
  std::string stats;
};

// Replays the records; `split` delivers each syscall as two pieces of the same call.
Outcome replay(const Input& in, bool split) {
  ConnectionParser parser(in.role, in.joined_midstream);
  Outcome out;
  uint64_t ts = 0;
  // `failed_before`: the parser had failed before the last call, so it must emit nothing.
  const auto take = [&](bool failed_before) {
    std::vector<Exchange> got = parser.take_exchanges();
    if (got.size() > 4096) violation("unbounded exchange queue");
    if (failed_before && !got.empty()) violation("failed parser emitted exchanges");
    for (const Exchange& e : got) {
      check_exchange(e);
      out.exchanges.push_back(describe(e));
    }
  };
  for (const Record& r : in.records) {
    ts += 1000;
    const bool was_failed = parser.failed();
    if (r.close) {
      parser.on_close(ts);
      take(was_failed);
      continue;
    }
    if (split && r.bytes.size() >= 2) {
      const size_t at = 1 + (static_cast<uint8_t>(r.bytes[0]) % (r.bytes.size() - 1));
      parser.on_data(r.dir, r.bytes.substr(0, at), 0, ts, r.syscall_start);
      take(was_failed);
      const bool failed_after_first = parser.failed();
      parser.on_data(r.dir, r.bytes.substr(at), r.gap_bytes, ts, false);
      take(failed_after_first);
    } else {
      parser.on_data(r.dir, r.bytes, r.gap_bytes, ts, r.syscall_start);
      take(was_failed);
    }
    if (was_failed && !parser.failed()) violation("failure was undone");
  }
  out.failed = parser.failed();
  if (out.failed && parser.failure_reason().empty()) violation("failure without a reason");
  out.reason = std::string(parser.failure_reason());
  const auto& s = parser.stats();
  out.stats = std::to_string(s.invalid_streams) + ',' + std::to_string(s.orphan_responses) + ',' +
              std::to_string(s.truncated_messages) + ',' + std::to_string(s.lost_sync_messages) +
              ',' + std::to_string(s.dropped_exchanges);
  if (s.invalid_streams > 1) violation("a connection failed twice");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = decode(data, size);
  const Outcome whole = replay(in, false);
  const Outcome split = replay(in, true);
  if (whole.exchanges != split.exchanges) violation("split delivery changed the exchanges");
  if (whole.failed != split.failed || whole.reason != split.reason) {
    violation("split delivery changed the failure");
  }
  if (whole.stats != split.stats) violation("split delivery changed the counters");
  return 0;
}
