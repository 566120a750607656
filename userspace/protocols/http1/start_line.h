#pragma once

// Incremental validation of HTTP/1 start lines: request-line (RFC 9112 §3) and status-line
// (RFC 9112 §4). Bytes are checked one at a time as they arrive, so junk or another protocol
// is rejected within a few bytes instead of being buffered until a line end that never comes.

#include <cstdint>
#include <string_view>

namespace ztrace::http1 {

enum class MessageKind : uint8_t { kRequest, kResponse };

enum class ScanResult : uint8_t { kNeedMore, kComplete, kInvalid };

// Longest method token accepted; real methods are at most 17 bytes (BASELINE-CONTROL), and a
// short bound makes binary junk fail fast.
inline constexpr uint32_t kMaxMethodBytes = 24;

class StartLineScanner {
 public:
  explicit StartLineScanner(MessageKind kind);

  // Feeds the next byte of the line. kComplete on the terminating LF (CRLF or bare LF,
  // RFC 9112 §2.2); once kComplete or kInvalid is returned the scanner must be reset.
  ScanResult push(uint8_t c);
  // push() over the bytes of `in` in turn, stopping at kComplete or kInvalid; `*used` is the
  // number of bytes taken (all of them on kNeedMore). The long runs, target and reason
  // phrase, are checked in a tight loop.
  ScanResult scan(std::string_view in, size_t* used);
  void reset();

 private:
  enum class Step : uint8_t {
    kMethodFirst,
    kMethod,
    kTargetFirst,
    kTarget,
    kVersion,  // matching "HTTP/1."
    kVersionMinor,
    kAfterVersion,  // request: line end; response: SP before the status code
    kStatus,
    kAfterStatus,
    kReason,
    kLf,
  };

  ScanResult advance(uint8_t c);

  MessageKind kind_;
  Step step_;
  uint32_t count_ = 0;  // bytes matched in the current element
};

// Fields of a start line that passed the scanner so far. `line` excludes CR/LF; it may be cut
// short (gap or close), in which case only the elements fully present are returned.
struct StartLineFields {
  std::string_view method;  // request: empty when not fully captured
  std::string_view target;  // request: empty when not fully captured
  int status_code = 0;      // response: 0 when not fully captured
  int version_minor = -1;   // -1 when not captured
};

StartLineFields parse_start_line(MessageKind kind, std::string_view line);

}  // namespace ztrace::http1
