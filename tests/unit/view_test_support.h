#pragma once

#include <cstdint>
#include <string>

namespace ztrace::view_test {

// A span line with the fields the viewer reads; times in ms after a fixed instant.
inline std::string span_line(const std::string& trace, const std::string& span,
                             const std::string& parent, const std::string& service,
                             uint64_t start_ms, uint64_t end_ms, bool error = false) {
  return R"({"trace_id":")" + trace + R"(","span_id":")" + span + R"(","parent_span_id":")" +
         parent + R"(","name":"GET","kind":"SERVER","start_time_unix_nano":)" +
         std::to_string(1'800'000'000'000'000'000ULL + start_ms * 1'000'000) +
         R"(,"end_time_unix_nano":)" +
         std::to_string(1'800'000'000'000'000'000ULL + end_ms * 1'000'000) +
         R"(,"status":{"code":")" + (error ? "ERROR" : "UNSET") +
         R"(","message":""},"attributes":{"url.path":"/)" + span.substr(0, 2) +
         R"("},"resource":{"service.name":")" + service + R"("}})";
}

}  // namespace ztrace::view_test
