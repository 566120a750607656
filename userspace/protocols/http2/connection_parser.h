#pragma once

// HTTP/2 for one TCP connection: frames each direction (RFC 9113), decodes header blocks
// (HPACK, one decoder per direction) and stitches streams into exchanges. h2c with prior
// knowledge, or TLS h2 fed with plaintext from the TLS capture paths.
//
// Memory per parser is bounded: one buffered frame per direction (frames other than DATA,
// at most kMaxBufferedFrameBytes; DATA payloads are counted, never stored), one header
// block under assembly per direction (kMaxHeaderBlockBytes), two HPACK tables
// (HpackDecoder::kMaxTableBytes each) and the stitcher's bounds.
//
// Uncaptured bytes: skipped exactly inside DATA payloads. Anywhere else the direction loses
// its framing: it resyncs at the next syscall that starts with a plausible frame header, and
// its HPACK state is from then on partly unknown (fields referencing lost entries are marked
// unknown, never guessed). Connections joined mid-way start the same way.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/common/connection_types.h"
#include "userspace/protocols/http2/hpack.h"
#include "userspace/protocols/http2/stitcher.h"
#include "userspace/protocols/http2/types.h"

namespace ztrace::http2 {

struct ParserStats {
  uint64_t invalid_streams = 0;  // connection disabled: not HTTP/2 or a protocol error
  uint64_t lost_sync = 0;        // framing lost to uncaptured bytes
  uint64_t frames = 0;
  StitcherStats streams;
};

class ConnectionParser {
 public:
  static constexpr uint32_t kMaxBufferedFrameBytes = 256 * 1024;
  static constexpr size_t kMaxHeaderBlockBytes = 256 * 1024;

  // role: as for the HTTP/1 parser (kUnknown: inferred). joined_midstream: the agent did
  // not see the connection open: each direction starts at a syscall whose data starts with a
  // plausible frame header, and HPACK state before it is unknown.
  ConnectionParser(Role role, bool joined_midstream);
  ~ConnectionParser();
  ConnectionParser(ConnectionParser&&) noexcept;
  ConnectionParser& operator=(ConnectionParser&&) noexcept;

  // Same contract as http1::ConnectionParser::on_data.
  void on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes_after,
               uint64_t timestamp_ns, bool syscall_start);
  void on_close(uint64_t timestamp_ns);

  std::vector<Exchange> take_exchanges();
  std::vector<Stitcher::HeadContext> take_request_head_contexts();

  bool failed() const;
  std::string_view failure_reason() const;  // static string; empty unless failed()
  Role role() const;
  ParserStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ztrace::http2
