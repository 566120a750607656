// W3C traceparent parsing: valid headers accepted exactly, anything malformed rejected.
#include "userspace/spans/trace_context.h"

#include <catch2/catch_test_macros.hpp>
#include <string>

namespace ztrace::spans {

TEST_CASE("traceparent: the W3C example parses exactly", "[spans][traceparent]") {
  auto parsed = parse_traceparent(" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ");
  REQUIRE(parsed);
  CHECK(to_hex(parsed->trace_id) == "0af7651916cd43dd8448eb211c80319c");
  CHECK(to_hex(parsed->parent_span_id) == "b7ad6b7169203331");
  CHECK(parsed->sampled());
  auto unsampled = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
  REQUIRE(unsampled);
  CHECK_FALSE(unsampled->sampled());
}

TEST_CASE("traceparent: malformed values are never trusted", "[spans][traceparent]") {
  const char* bad[] = {
      "",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",      // no flags
      "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   // unknown version here
      "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   // uppercase
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",   // zero trace id
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   // zero parent id
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",   // bad flags
      "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   // bad separator
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", // trailing data
  };
  for (const char* value : bad) {
    INFO(value);
    CHECK_FALSE(parse_traceparent(value));
  }
}

TEST_CASE("tracestate: printable ASCII up to 512 bytes is kept, anything else discarded") {
  CHECK(keepable_tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
  CHECK(keepable_tracestate("ot=th:8"));
  CHECK(keepable_tracestate(std::string(512, 'a')));
  CHECK_FALSE(keepable_tracestate(""));
  CHECK_FALSE(keepable_tracestate(std::string(513, 'a')));
  CHECK_FALSE(keepable_tracestate("a=b\r\nx: y"));
  CHECK_FALSE(keepable_tracestate("a=\xc3\xa9"));  // UTF-8 is not in the grammar
  CHECK_FALSE(keepable_tracestate(std::string("a=b\0c", 5)));
}

}  // namespace ztrace::spans
