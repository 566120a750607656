#pragma once

// Drives a ConnectionParser from a list of chunks and renders exchanges as one-line strings,
// so that table-driven tests compare whole results and print readable diffs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/http1/connection_parser.h"

namespace ztrace::http1::testing {

// One on_data call.
struct Chunk {
  Direction dir = Direction::kIngress;
  std::string bytes;
  uint64_t gap_bytes = 0;
  uint64_t ts = 0;  // 0: 10 * (index + 1), see with_timestamps()
  bool syscall_start = true;
};

// Turns "\n" into "\r\n" so that messages read naturally in tables.
inline std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Received by the traced process (a server's requests).
inline Chunk rx(std::string_view http, uint64_t gap_bytes = 0) {
  return Chunk{Direction::kIngress, crlf(http), gap_bytes};
}
// Sent by the traced process (a server's responses).
inline Chunk tx(std::string_view http, uint64_t gap_bytes = 0) {
  return Chunk{Direction::kEgress, crlf(http), gap_bytes};
}
// Bytes taken as they are (binary, bare LF).
inline Chunk raw(Direction dir, std::string bytes, uint64_t gap_bytes = 0) {
  return Chunk{dir, std::move(bytes), gap_bytes};
}

inline std::vector<Chunk> with_timestamps(std::vector<Chunk> chunks) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].ts == 0) chunks[i].ts = 10 * (i + 1);
  }
  return chunks;
}

struct RunResult {
  std::vector<Exchange> exchanges;
  bool failed = false;
  std::string failure_reason;
  ParserStats stats;
  Role role = Role::kUnknown;
};

inline RunResult run(Role role, bool joined_midstream, const std::vector<Chunk>& chunks,
                     bool close_at_end) {
  ConnectionParser parser(role, joined_midstream);
  RunResult result;
  auto take = [&] {
    for (Exchange& e : parser.take_exchanges()) result.exchanges.push_back(std::move(e));
  };
  for (const Chunk& chunk : with_timestamps(chunks)) {
    parser.on_data(chunk.dir, chunk.bytes, chunk.gap_bytes, chunk.ts, chunk.syscall_start);
    take();
  }
  if (close_at_end) {
    parser.on_close(1'000'000);
    take();
  }
  result.failed = parser.failed();
  result.failure_reason = std::string(parser.failure_reason());
  result.stats = parser.stats();
  result.role = parser.role();
  return result;
}

// "GET /a 1.1 @10-10 b0 -> 200 1.1 @20-20 b5"; " T" marks a truncated message.
inline std::string describe(const Exchange& e) {
  const Request& q = e.request;
  std::string s = q.method + " " + q.target + " 1." + std::to_string(q.version_minor) + " @" +
                  std::to_string(q.start_ns) + "-" + std::to_string(q.end_ns) + " b" +
                  std::to_string(q.body_bytes) + (q.truncated ? " T" : "") + " -> ";
  if (!e.response) return s + "none";
  const Response& r = *e.response;
  return s + std::to_string(r.status_code) + " 1." + std::to_string(r.version_minor) + " @" +
         std::to_string(r.start_ns) + "-" + std::to_string(r.end_ns) + " b" +
         std::to_string(r.body_bytes) + (r.truncated ? " T" : "");
}

inline std::vector<std::string> describe(const std::vector<Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const Exchange& e : exchanges) out.push_back(describe(e));
  return out;
}

inline std::string describe(const ParserStats& s) {
  return "invalid=" + std::to_string(s.invalid_streams) +
         " orphan=" + std::to_string(s.orphan_responses) +
         " truncated=" + std::to_string(s.truncated_messages) +
         " lost_sync=" + std::to_string(s.lost_sync_messages) +
         " dropped=" + std::to_string(s.dropped_exchanges);
}

}  // namespace ztrace::http1::testing
