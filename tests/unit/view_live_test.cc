#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <string>
#include <thread>

#include "userspace/view/live_view_exporter.h"

using namespace ztrace;

namespace {

spans::Span make_span(uint8_t trace, uint8_t id, uint8_t parent, const char* service,
                      spans::SpanKind kind, uint64_t start_ms, uint64_t end_ms) {
  spans::Span span;
  span.trace_id.fill(trace);
  span.span_id.fill(id);
  if (parent != 0) span.parent_span_id.fill(parent);
  span.name = "GET /orders";
  span.kind = kind;
  span.start_time_unix_nano = 1'800'000'000'000'000'000ULL + start_ms * 1'000'000;
  span.end_time_unix_nano = 1'800'000'000'000'000'000ULL + end_ms * 1'000'000;
  span.set("http.response.status_code", int64_t{200});
  auto resource = std::make_shared<spans::Resource>();
  resource->attributes = {{"service.name", std::string(service)}};
  span.resource = resource;
  return span;
}

std::string read_all(FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) text.append(buffer, n);
  return text;
}

}  // namespace

TEST_CASE(
    "run --view: spans on the console as one waterfall per trace, once the trace is quiet; "
    "what still waits at the end is printed whole") {
  FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  {
    view::LiveViewExporter exporter(out, std::chrono::milliseconds(100), view::WaterfallOptions{});
    // The server's span comes in one batch, the client's in the next.
    const spans::Span server =
        make_span(0x11, 0xbb, 0xaa, "orders", spans::SpanKind::kServer, 2, 8);
    const spans::Span client = make_span(0x11, 0xaa, 0, "curl", spans::SpanKind::kClient, 0, 10);
    CHECK(exporter.export_spans({&server, 1}).accepted == 1);
    CHECK(read_all(out).empty());  // not settled yet
    CHECK(exporter.export_spans({&client, 1}).accepted == 1);
    for (int i = 0; i < 100 && read_all(out).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string first = read_all(out);
    INFO(first);
    CHECK(first.starts_with("trace " + std::string(32, '1') + "  2 spans  10.000 ms"));
    CHECK(first.find("\nGET /orders ") != std::string::npos);
    CHECK(first.find("\n└─ GET /orders ") != std::string::npos);
    CHECK(first.find("orders           server   200") != std::string::npos);
    std::fseek(out, 0, SEEK_END);

    // A trace still waiting when the agent stops is printed by the destructor.
    const spans::Span last = make_span(0x22, 0xcc, 0, "curl", spans::SpanKind::kClient, 0, 1);
    exporter.export_spans({&last, 1});
  }
  CHECK(read_all(out).find("trace " + std::string(32, '2') + "  1 span") != std::string::npos);
  std::fclose(out);
}
