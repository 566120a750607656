// libFuzzer target for the HTTP/2 connection parser (framing, HPACK, stream stitching).
//
// Input format: the same as http1_fuzz.cc (seeds: make_http2_corpus.py):
//   byte 0: configuration: bits 0-1 role (0 unknown, 1 client, 2 server; 3 = server),
//           bit 2 joined mid-stream.
//   then records, each one on_data call:
//     control byte: bit 0 direction (0 egress, 1 ingress), bit 1 set = NOT a syscall start,
//                   bit 2 a gap byte follows, bits 3-7 length (31: two length bytes follow,
//                   little endian); control 0xff instead closes the connection.
//     [gap byte: g < 128: g bytes; otherwise (g - 127) * 4096 bytes]
//     data bytes (fewer if the input ends).
//
// Checked on every input: no crash or sanitizer report; every exchange is well-formed
// (bounded values, ordered timestamps, complete streams ended on both sides); a failed parser
// emits nothing more. When framing can never be lost (not mid-stream, no gaps), delivering
// each syscall split in two after its first frame header gives exactly the same result.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/http2/connection_parser.h"

namespace {

using ztrace::Direction;
using ztrace::Role;
using ztrace::http2::ConnectionParser;
using ztrace::http2::Exchange;
using ztrace::http2::HeaderBlock;
using ztrace::http2::Message;
using ztrace::http2::Stitcher;
using ztrace::http2::StreamOutcome;

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
  bool any_gap = false;
  std::vector<Record> records;
};

Input decode(const uint8_t* data, size_t size) {
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

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "http2 fuzz invariant violated: %s\n", what);
  std::abort();
}

void check_block(const HeaderBlock& b) {
  for (const auto& f : b.fields) {
    const size_t cap = f.name == ":path" ? Stitcher::kMaxPathBytes : Stitcher::kMaxValueBytes;
    if (f.value.size() > cap) violation("kept value too long");
    if (f.unknown) violation("unknown field kept");
  }
}

void check_message(const Message& m) {
  if (m.start_ns > m.end_ns && m.end_ns != 0) violation("message ends before it starts");
  check_block(m.headers);
  if (m.trailers) check_block(*m.trailers);
}

void check_exchange(const Exchange& e) {
  if (!e.request.seen && !e.response.seen) violation("exchange without any header block");
  check_message(e.request);
  check_message(e.response);
  // Complete: both sides ended, or the response ended and the server reset the request's rest
  // with NO_ERROR (RFC 9113 §8.1, Stitcher::on_rst_stream).
  if (e.outcome == StreamOutcome::kComplete && !e.response.end_stream) {
    violation("complete stream whose response did not end");
  }
  if (e.outcome == StreamOutcome::kComplete && e.error_code != 0) {
    violation("complete stream with an error code");
  }
}

std::string describe(const Exchange& e) {
  std::string s = std::to_string(e.stream_id) + ' ' + std::to_string(static_cast<int>(e.outcome)) +
                  ' ' + std::to_string(e.error_code) + (e.truncated ? "T" : "");
  for (const Message* m : {&e.request, &e.response}) {
    s += '|' + std::to_string(m->start_ns) + '-' + std::to_string(m->end_ns) + ' ' +
         std::to_string(m->body_bytes) + ' ' + std::to_string(m->headers.unknown_fields);
    for (const auto& f : m->headers.fields) s += ' ' + f.name + '=' + f.value;
    if (m->trailers) {
      for (const auto& f : m->trailers->fields) s += " t:" + f.name + '=' + f.value;
    }
  }
  return s;
}

struct Outcome {
  std::vector<std::string> exchanges;
  bool failed = false;
  std::string reason;
};

Outcome replay(const Input& in, bool split) {
  ConnectionParser parser(in.role, in.joined_midstream);
  Outcome out;
  uint64_t ts = 0;
  const auto take = [&](bool failed_before) {
    std::vector<Exchange> got = parser.take_exchanges();
    if (got.size() > Stitcher::kMaxPendingExchanges) violation("unbounded exchange queue");
    if (failed_before && !got.empty()) violation("failed parser emitted exchanges");
    for (const Exchange& e : got) {
      check_exchange(e);
      out.exchanges.push_back(describe(e));
    }
    parser.take_request_head_contexts();
  };
  for (const Record& r : in.records) {
    ts += 1000;
    const bool was_failed = parser.failed();
    if (r.close) {
      parser.on_close(ts);
      take(was_failed);
      continue;
    }
    if (split && r.bytes.size() >= 11) {
      const size_t at = 9 + (static_cast<uint8_t>(r.bytes[0]) % (r.bytes.size() - 10));
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
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = decode(data, size);
  const Outcome whole = replay(in, false);
  if (in.joined_midstream || in.any_gap) return 0;
  const Outcome split = replay(in, true);
  if (whole.exchanges != split.exchanges) violation("split delivery changed the exchanges");
  if (whole.failed != split.failed || whole.reason != split.reason) {
    violation("split delivery changed the failure");
  }
  return 0;
}
