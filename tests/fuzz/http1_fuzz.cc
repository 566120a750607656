// libFuzzer target for the HTTP/1 connection parser.
//
// Input format: tests/fuzz/connection_input.h.
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

#include "tests/fuzz/connection_input.h"
#include "userspace/protocols/http1/connection_parser.h"

namespace {

using ztrace::Direction;
using ztrace::Role;
using ztrace::http1::ConnectionParser;
using ztrace::http1::Exchange;

using ztrace::fuzz::Input;

[[noreturn]] void violation(const char* what) { ztrace::fuzz::violation("http1", what); }

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
  ztrace::fuzz::feed_records(parser, in, split ? ztrace::fuzz::split_anywhere : ztrace::fuzz::whole,
                             "http1", take);
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
  const Input in = ztrace::fuzz::decode_connection_input(data, size);
  const Outcome whole = replay(in, false);
  const Outcome split = replay(in, true);
  if (whole.exchanges != split.exchanges) violation("split delivery changed the exchanges");
  if (whole.failed != split.failed || whole.reason != split.reason) {
    violation("split delivery changed the failure");
  }
  if (whole.stats != split.stats) violation("split delivery changed the counters");
  return 0;
}
