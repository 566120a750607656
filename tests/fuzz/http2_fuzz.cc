// libFuzzer target for the HTTP/2 connection parser (framing, HPACK, stream stitching).
//
// Input format: tests/fuzz/connection_input.h.
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

#include "tests/fuzz/connection_input.h"
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

using ztrace::fuzz::Input;

[[noreturn]] void violation(const char* what) { ztrace::fuzz::violation("http2", what); }

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

// The first piece keeps at least a frame header (9 bytes) and the second at least 2: what
// detection needs from a connection's first bytes.
size_t split_after_frame_header(std::string_view bytes) {
  return bytes.size() >= 11 ? 9 + static_cast<uint8_t>(bytes[0]) % (bytes.size() - 10) : 0;
}

Outcome replay(const Input& in, bool split) {
  ConnectionParser parser(in.role, in.joined_midstream);
  Outcome out;
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
  ztrace::fuzz::feed_records(parser, in, split ? split_after_frame_header : ztrace::fuzz::whole,
                             "http2", take);
  out.failed = parser.failed();
  if (out.failed && parser.failure_reason().empty()) violation("failure without a reason");
  out.reason = std::string(parser.failure_reason());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = ztrace::fuzz::decode_connection_input(data, size);
  const Outcome whole = replay(in, false);
  if (in.joined_midstream || in.any_gap) return 0;
  const Outcome split = replay(in, true);
  if (whole.exchanges != split.exchanges) violation("split delivery changed the exchanges");
  if (whole.failed != split.failed || whole.reason != split.reason) {
    violation("split delivery changed the failure");
  }
  return 0;
}
