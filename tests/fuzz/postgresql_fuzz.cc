// libFuzzer target for the PostgreSQL connection parser and its span builder.
//
// Input format: tests/fuzz/connection_input.h.
//
// Checked on every input: no crash or sanitizer report; exchanges are bounded and ordered;
// a failed parser emits nothing more and stays failed; every exchange builds a span without
// a failure; and on connections seen from their start with no framing lost, delivering each
// syscall as two pieces gives the same exchanges as delivering it whole.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/connection_input.h"
#include "userspace/protocols/postgresql/connection_parser.h"
#include "userspace/protocols/postgresql/span_builder.h"

namespace {

using ztrace::Direction;
using ztrace::Role;
using ztrace::postgresql::ConnectionParser;
using ztrace::postgresql::Exchange;

using ztrace::fuzz::Input;

[[noreturn]] void violation(const char* what) { ztrace::fuzz::violation("postgresql", what); }

std::string describe(const Exchange& e) {
  std::string s = std::to_string(static_cast<int>(e.request.kind)) + ' ' +
                  std::to_string(e.request.executions) + ' ' + std::to_string(e.request.start_ns) +
                  '-' + std::to_string(e.request.end_ns);
  for (const auto& st : e.request.statements) s += '|' + (st ? st->text : "<?>");
  if (!e.response) return s + " none";
  const auto& r = *e.response;
  return s + " -> " + r.sqlstate + ' ' + r.command + ' ' + std::to_string(r.commands) + ' ' +
         std::to_string(r.rows) + (r.truncated ? "T" : "") + ' ' + std::to_string(r.end_ns);
}

void check(const Exchange& e) {
  const auto& q = e.request;
  if (q.statements.size() > ConnectionParser::kMaxOperationsKept) violation("unbounded batch");
  if (q.start_ns > q.end_ns) violation("request ends before it starts");
  for (const auto& st : q.statements) {
    if (st && st->text.size() > ConnectionParser::kMaxTextBytes) violation("text not bounded");
    if (st && st->summary.size() > 255) violation("summary not bounded");
  }
  if (e.response && e.response->end_ns && e.response->end_ns < q.start_ns) {
    violation("response ends before its request starts");
  }
  if (e.response && !e.response->sqlstate.empty() && e.response->sqlstate.size() != 5) {
    violation("SQLSTATE is not 5 characters");
  }
}

struct Outcome {
  std::vector<std::string> exchanges;
  bool failed = false;
  uint64_t lost_sync = 0;
};

Outcome replay(const Input& in, bool split) {
  static const ztrace::spans::KernelClock clock;
  static const ztrace::postgresql::SpanBuilder builder({}, clock);
  ztrace::protocols::ConnectionView view;
  view.role = Role::kClient;
  ConnectionParser parser(in.role, in.joined_midstream);
  Outcome out;
  const auto take = [&](bool failed_before) {
    for (const Exchange& e : parser.take_exchanges()) {
      if (failed_before) violation("failed parser emitted exchanges");
      check(e);
      if (!builder.build({view}, e)) violation("no span for a client exchange");
      out.exchanges.push_back(describe(e));
    }
  };
  ztrace::fuzz::feed_records(parser, in, split ? ztrace::fuzz::split_anywhere : ztrace::fuzz::whole,
                             "postgresql", take);
  out.failed = parser.failed();
  if (out.failed && parser.failure_reason().empty()) violation("failure without a reason");
  out.lost_sync = parser.stats().lost_sync;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = ztrace::fuzz::decode_connection_input(data, size);
  const Outcome whole = replay(in, false);
  const Outcome split = replay(in, true);
  // Where framing starts at a known place and is never searched for, pieces change nothing.
  if (in.role == Role::kClient && !in.joined_midstream && whole.lost_sync == 0 &&
      split.lost_sync == 0) {
    if (whole.exchanges != split.exchanges) violation("split delivery changed the exchanges");
    if (whole.failed != split.failed) violation("split delivery changed the failure");
  }
  return 0;
}
