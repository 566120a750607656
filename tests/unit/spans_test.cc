#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "userspace/spans/clock.h"
#include "userspace/spans/span.h"

namespace ztrace::spans {
namespace {

bool is_lower_hex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST_CASE("kind and status names", "[spans]") {
  CHECK(to_string(SpanKind::kServer) == "SERVER");
  CHECK(to_string(SpanKind::kClient) == "CLIENT");
  CHECK(to_string(SpanKind::kProducer) == "PRODUCER");
  CHECK(to_string(SpanKind::kConsumer) == "CONSUMER");
  CHECK(to_string(SpanKind::kInternal) == "INTERNAL");
  CHECK(to_string(StatusCode::kUnset) == "UNSET");
  CHECK(to_string(StatusCode::kOk) == "OK");
  CHECK(to_string(StatusCode::kError) == "ERROR");
}

TEST_CASE("hex encoding is lowercase, big-endian byte order", "[spans]") {
  TraceId trace_id{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                   0x08, 0x09, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  CHECK(to_hex(trace_id) == "00010203040506070809aabbccddeeff");
  SpanId span_id{0xde, 0xad, 0xbe, 0xef, 0x00, 0x10, 0x20, 0x3f};
  CHECK(to_hex(span_id) == "deadbeef0010203f");
  CHECK(to_hex(SpanId{}) == "0000000000000000");
}

TEST_CASE("is_zero", "[spans]") {
  CHECK(is_zero(TraceId{}));
  CHECK(is_zero(SpanId{}));
  TraceId trace_id{};
  trace_id[15] = 1;
  CHECK_FALSE(is_zero(trace_id));
  SpanId span_id{};
  span_id[0] = 0x80;
  CHECK_FALSE(is_zero(span_id));
}

TEST_CASE("random ids are valid and unique", "[spans]") {
  constexpr int kCount = 100000;
  std::set<std::string> trace_ids;
  std::set<std::string> span_ids;
  for (int i = 0; i < kCount; ++i) {
    const TraceId trace_id = random_trace_id();
    const SpanId span_id = random_span_id();
    REQUIRE_FALSE(is_zero(trace_id));
    REQUIRE_FALSE(is_zero(span_id));
    trace_ids.insert(to_hex(trace_id));
    span_ids.insert(to_hex(span_id));
  }
  CHECK(trace_ids.size() == kCount);
  CHECK(span_ids.size() == kCount);
  const std::string hex = *trace_ids.begin();
  CHECK(hex.size() == 32);
  CHECK(is_lower_hex(hex));
  CHECK(span_ids.begin()->size() == 16);
}

TEST_CASE("threads draw different id sequences", "[spans]") {
  std::vector<std::string> first;
  std::vector<std::string> second;
  auto draw = [](std::vector<std::string>* out) {
    for (int i = 0; i < 1000; ++i) out->push_back(to_hex(random_span_id()));
  };
  std::thread a(draw, &first);
  std::thread b(draw, &second);
  a.join();
  b.join();
  std::set<std::string> all(first.begin(), first.end());
  all.insert(second.begin(), second.end());
  CHECK(all.size() == 2000);
}

TEST_CASE("a forked child does not repeat the parent's ids", "[spans]") {
  random_span_id();  // the parent's generator is seeded before fork
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const SpanId id = random_span_id();
    const ssize_t written = write(fds[1], id.data(), id.size());
    _exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  close(fds[1]);
  const SpanId parent_id = random_span_id();
  SpanId child_id{};
  REQUIRE(read(fds[0], child_id.data(), child_id.size()) == static_cast<ssize_t>(child_id.size()));
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(to_hex(parent_id) != to_hex(child_id));
}

TEST_CASE("Span::find returns the first attribute with the key", "[spans]") {
  Span span;
  span.set("http.request.method", std::string("GET"));
  span.set("http.response.status_code", int64_t{200});
  span.set("http.request.method", std::string("POST"));
  const AttributeValue* method = span.find("http.request.method");
  REQUIRE(method != nullptr);
  CHECK(std::get<std::string>(*method) == "GET");
  const AttributeValue* status = span.find("http.response.status_code");
  REQUIRE(status != nullptr);
  CHECK(std::get<int64_t>(*status) == 200);
  CHECK(span.find("url.path") == nullptr);
}

TEST_CASE("KernelClock maps monotonic time onto unix time", "[spans]") {
  KernelClock clock;
  const uint64_t realtime_before_ns = KernelClock::realtime_now_ns();
  const uint64_t converted_ns = clock.to_unix_ns(KernelClock::monotonic_now_ns());
  const uint64_t realtime_after_ns = KernelClock::realtime_now_ns();
  // Offset measurement error is half a bracket (well under 1 ms) unless an NTP step landed.
  constexpr uint64_t kToleranceNs = 1'000'000;
  CHECK(converted_ns + kToleranceNs >= realtime_before_ns);
  CHECK(converted_ns <= realtime_after_ns + kToleranceNs);
  const int64_t before_refresh_ns = clock.offset_ns();
  clock.refresh();
  CHECK(std::llabs(clock.offset_ns() - before_refresh_ns) < 1'000'000);
  CHECK(clock.to_unix_ns(1000) == 1000 + static_cast<uint64_t>(clock.offset_ns()));
}

}  // namespace
}  // namespace ztrace::spans
