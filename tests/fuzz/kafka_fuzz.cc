// libFuzzer target for the Kafka connection parser and span builder.
//
// Input format: tests/fuzz/connection_input.h.
//
// Checked on every input: no crash or sanitizer report; exchanges are well-formed (bounded
// partitions and contexts, ordered timestamps); a failed parser emits nothing more; every span
// the builder makes is bounded; and delivering each syscall split into two pieces gives the
// same exchanges as delivering it whole.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/connection_input.h"
#include "userspace/protocols/kafka/protocol.h"

namespace {

using ztrace::Direction;
using ztrace::Role;
using ztrace::kafka::ConnectionParser;
using ztrace::kafka::Exchange;

using ztrace::fuzz::Input;

[[noreturn]] void violation(const char* what) { ztrace::fuzz::violation("kafka", what); }

void check_exchange(const Exchange& e) {
  if (e.request.client_id.size() > 255) violation("client id too long");
  if (e.partitions.size() > 256) violation("unbounded partitions");
  if (e.request_start_ns > e.request_end_ns) violation("request ends before it starts");
  if (e.has_response && e.response_start_ns > e.response_end_ns) violation("response order");
  for (const auto& p : e.partitions) {
    if (p.records.traceparents.size() > 32) violation("unbounded contexts");
    if (p.records.key.size() > 256) violation("key too long");
  }
}

std::string describe(const Exchange& e) {
  std::string s = std::to_string(e.request.api_key) + '/' + std::to_string(e.request.api_version) +
                  '#' + std::to_string(e.request.correlation_id) + ' ' + e.request.client_id +
                  (e.has_response ? " R" : " -") + (e.truncated ? "T" : "") + ' ' + e.group;
  for (const auto& p : e.partitions) {
    s += ' ' + p.topic + ':' + std::to_string(p.partition) + '@' + std::to_string(p.base_offset) +
         'n' + std::to_string(p.records.count) + 'f' + std::to_string(p.records.first_offset) +
         'c' + std::to_string(p.records.traceparents.size());
  }
  return s;
}

struct Outcome {
  std::vector<std::string> exchanges;
  bool failed = false;
};

Outcome replay(const Input& in, bool split) {
  ConnectionParser parser(in.role, in.joined_midstream);
  ztrace::spans::KernelClock clock;
  ztrace::kafka::SpanBuilder builder({}, clock);
  ztrace::protocols::ConnectionView view;
  view.role = ztrace::Role::kClient;
  Outcome out;
  const auto take = [&](bool failed_before) {
    std::vector<Exchange> got = parser.take_exchanges();
    if (got.size() > 1024) violation("unbounded exchange queue");
    if (failed_before && !got.empty()) violation("failed parser emitted exchanges");
    for (const Exchange& e : got) {
      check_exchange(e);
      out.exchanges.push_back(describe(e));
      for (const auto& span : builder.build({view}, e)) {
        if (span.links.size() > ztrace::kafka::SpanBuilder::kMaxLinksPerSpan) violation("links");
      }
    }
  };
  ztrace::fuzz::feed_records(parser, in, split ? ztrace::fuzz::split_anywhere : ztrace::fuzz::whole,
                             "kafka", take);
  out.failed = parser.failed();
  if (out.failed && parser.failure_reason().empty()) violation("failure without a reason");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = ztrace::fuzz::decode_connection_input(data, size);
  const Outcome whole = replay(in, false);
  const Outcome split = replay(in, true);
  if (whole.exchanges != split.exchanges) violation("split delivery changed the exchanges");
  if (whole.failed != split.failed) violation("split delivery changed the failure");
  return 0;
}
