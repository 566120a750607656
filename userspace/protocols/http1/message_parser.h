#pragma once

// Incremental push parser for the HTTP/1 messages of one direction of one connection:
// start line, header fields, and body framing (RFC 9112 §2-§7). It keeps no body bytes and
// at most one header line; it reports each message through a MessageSink.
//
// Sync model: a parser is either in sync (it knows where the next message starts) or waiting
// for a resync point, i.e. a syscall whose data starts with a valid start line. Uncaptured
// bytes (gaps) are skipped exactly where the framing allows it (Content-Length bodies, chunk
// data, close-delimited bodies); anywhere else they lose sync. A message cut by lost sync is
// delivered as truncated with the fields that were captured, and stays "open" until the
// parser resyncs, the owner closes it (the other direction spoke), or the connection closes.
//
// Junk: bytes that are not HTTP where a message should start fail the parser only while it
// has not parsed a whole head yet (the stream is then not HTTP/1). Later, only the junk is
// given up: the parser resyncs at the next syscall that starts with a valid start line. When
// the junk follows, in the same syscall, messages that began at a resync point, those are
// withdrawn: they were bytes that looked like a message start (a body, on a connection joined
// mid-way), not one.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "userspace/protocols/http1/connection_parser.h"
#include "userspace/protocols/http1/start_line.h"

namespace ztrace::http1 {

// Header region bound per message: covers real 64 KiB heads; beyond it the message is
// truncated so that a peer streaming header lines cannot grow memory or CPU without bound.
inline constexpr uint64_t kMaxHeadBytes = 128 * 1024;
// Chunk-size line with extensions (RFC 9112 §7.1.1); real ones are a few bytes.
inline constexpr uint64_t kMaxChunkLineBytes = 4096;
// Bounds on the header values kept per message.
inline constexpr size_t kMaxTargetBytes = 8 * 1024;
inline constexpr size_t kMaxHostBytes = 256;
inline constexpr size_t kMaxUserAgentBytes = 512;
inline constexpr size_t kMaxTraceparentBytes = 128;  // valid ones are 55 bytes (W3C)
inline constexpr size_t kMaxTracestateBytes = 512;   // W3C: vendors propagate >= 512 bytes

// How a message body is delimited (RFC 9112 §6.3).
enum class BodyFraming : uint8_t {
  kNone,           // the message ends with its head
  kContentLength,  // exactly MessageHead::content_length bytes
  kChunked,
  kUntilClose,  // response delimited by the connection closing
  kTunnel,      // the message ends HTTP on this connection (101, CONNECT 2xx)
  kUnknown,     // the owner cannot tell (e.g. response to an unseen request): resync later
};

// MessageParser::reset_message() clears it field by field (the strings keep their buffers):
// a new field is cleared there too.
struct MessageHead {
  MessageKind kind = MessageKind::kRequest;
  std::string method;  // request
  std::string target;  // request, at most kMaxTargetBytes
  bool target_truncated = false;
  int status_code = 0;     // response
  int version_minor = -1;  // -1: not captured
  std::string host;
  std::string user_agent;
  std::string traceparent;
  std::string tracestate;
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  bool chunked = false;  // the last transfer coding is chunked
  bool start_line_complete = false;
  bool truncated = false;  // the head was not fully captured
  uint64_t start_ns = 0;
};

struct MessageEnd {
  uint64_t end_ns = 0;
  uint64_t body_bytes = 0;
  bool truncated = false;
  bool cut_by_close = false;  // the connection closed before the framing said it ended
};

// Receives the messages of one MessageParser. Calls nest only into *other* parsers.
class MessageSink {
 public:
  // The head is complete (or cut: head.truncated). Returns the framing to apply; `proposed`
  // is what the head alone says. Ignored for a truncated head, whose body cannot be followed.
  virtual BodyFraming on_head(const MessageHead& head, BodyFraming proposed) = 0;
  // Exactly one per on_head, after it.
  virtual void on_message_end(const MessageEnd& end) = 0;
  // The last `messages` messages (delivered and ended) were not messages after all: they
  // began where the parser resynced and non-HTTP bytes followed them in the same syscall, as
  // when a body that looks like a request is taken for one.
  virtual void on_messages_withdrawn(size_t messages) = 0;

 protected:
  ~MessageSink() = default;
};

// Framing from the head alone, without the request context a response needs.
BodyFraming default_framing(const MessageHead& head);

class MessageParser {
 public:
  // in_sync: the next byte starts a message (the connection was seen from its start);
  // otherwise wait for a syscall that starts with a valid start line.
  MessageParser(MessageKind kind, MessageSink* sink, ParserStats* stats, bool in_sync);

  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  MessageKind kind() const { return kind_; }

  // Same contract as ConnectionParser::on_data for this direction.
  void feed(std::string_view bytes, uint64_t gap_bytes_after, uint64_t timestamp_ns,
            bool syscall_start);

  // The other direction spoke: a message left open by lost sync ends here.
  void close_open_message();
  bool has_open_message() const { return open_; }

  // The connection closed: close-delimited bodies complete, anything else in progress ends
  // truncated. The parser ignores data afterwards.
  void finish();

  bool failed() const { return state_ == State::kFailed; }
  std::string_view failure_reason() const { return failure_reason_; }
  // Stopped for good: tunnel, close, or failure.
  bool stopped() const { return state_ == State::kFailed || state_ == State::kStopped; }
  // Message starts that were tried at a resync point and were not HTTP.
  uint64_t rejected_starts() const { return rejected_starts_; }

 private:
  enum class State : uint8_t {
    kIdle,  // in sync, between messages
    kStartLine,
    kHeaders,
    kBodyLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,  // CRLF after chunk data
    kTrailers,
    kUntilClose,
    kAwaitSync,
    kStopped,
    kFailed,
  };
  enum class ChunkStep : uint8_t { kDigits, kExtension, kLf };

  // Each consumes a prefix of `in` for the current state and returns its length.
  size_t consume_idle(std::string_view in, uint64_t ts_ns);
  size_t consume_start_line(std::string_view in, uint64_t ts_ns);
  size_t consume_headers(std::string_view in, uint64_t ts_ns);
  size_t consume_body_length(std::string_view in, uint64_t ts_ns);
  size_t consume_chunk_size(std::string_view in);
  size_t consume_chunk_data(std::string_view in, uint64_t ts_ns);
  size_t consume_chunk_data_end(std::string_view in);
  size_t consume_trailers(std::string_view in, uint64_t ts_ns);

  void skip_gap(uint64_t gap_bytes, uint64_t ts_ns);
  void begin_message(uint64_t ts_ns);
  bool append_head_bytes(std::string_view bytes);  // false: over kMaxHeadBytes
  // A head line ends with `end_of_line`: the whole line (valid until line_ changes), or
  // nullopt when the head grew over kMaxHeadBytes.
  std::optional<std::string_view> complete_line(std::string_view end_of_line);
  // Returns a failure reason, empty when the line is fine.
  std::string_view process_field_line(std::string_view line);
  void complete_head(uint64_t ts_ns);
  void deliver_truncated_head(uint64_t ts_ns);
  void deliver_lost_start(uint64_t ts_ns);
  void deliver_cut_head(uint64_t ts_ns);  // delivers head_ as truncated and leaves it open
  void end_message(uint64_t ts_ns, bool truncated, bool cut_by_close = false);
  void lose_sync(uint64_t ts_ns);
  void reject_start(std::string_view reason, uint64_t ts_ns);
  void skip_junk(uint64_t ts_ns);
  void fail(std::string_view reason);
  void reset_message();

  const MessageKind kind_;
  MessageSink* const sink_;
  ParserStats* const stats_;
  State state_;
  std::string_view failure_reason_;

  // Message in progress.
  StartLineScanner scanner_;
  MessageHead head_;
  std::string line_;  // current partial line of the head (start line or field line)
  uint64_t head_bytes_ = 0;
  // A message that began at a resync point is tentative until its head completes: a bad
  // head then means "that was not a message start", not "this stream is not HTTP".
  bool tentative_ = false;
  uint64_t body_remaining_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  ChunkStep chunk_step_ = ChunkStep::kDigits;
  uint32_t chunk_digits_ = 0;
  uint64_t chunk_line_bytes_ = 0;  // in kTrailers: bytes of the current trailer line
  bool saw_cr_ = false;            // in kTrailers: the current trailer line began with CR
  uint64_t last_data_ns_ = 0;      // timestamp of the last data of the message in progress

  // Open message: delivered (on_head) but not ended, because sync was lost.
  bool open_ = false;
  uint64_t open_last_data_ns_ = 0;
  uint64_t open_body_bytes_ = 0;
  bool open_cut_by_close_ = false;  // its head was cut by the close, not by lost bytes

  uint64_t rejected_starts_ = 0;
  bool parsed_a_head_ = false;  // the stream has shown it is HTTP: junk no longer fails it
  // Heads delivered since the parser resynced at the start of the current syscall (0 when it
  // did not resync there): what junk later in the same syscall withdraws.
  bool resynced_this_call_ = false;
  size_t heads_since_resync_ = 0;
};

}  // namespace ztrace::http1
