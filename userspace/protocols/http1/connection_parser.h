#pragma once

// HTTP/1.x for one TCP connection: frames both directions and pairs each request with its
// response (keep-alive and pipelining, FIFO). Bodies are skipped, never stored.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/common/connection_types.h"

namespace ztrace::http1 {

struct Request {
  std::string method;
  std::string target;     // request-target as sent (origin-form path?query, or absolute-form)
  int version_minor = 1;  // HTTP/1.<minor>
  std::string host;
  std::string user_agent;
  std::string traceparent;
  std::string tracestate;
  uint64_t start_ns = 0;  // timestamp of the chunk holding the first byte
  uint64_t end_ns = 0;    // timestamp of the chunk holding the last byte
  uint64_t body_bytes = 0;
  // Headers or framing not fully captured: fields may be missing. A request whose start was
  // lost entirely (it began inside uncaptured bytes) has an empty method and target.
  bool truncated = false;
  bool target_truncated = false;  // target longer than 8 KiB: only its prefix is kept
};

struct Response {
  int status_code = 0;
  int version_minor = 1;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint64_t body_bytes = 0;
  bool truncated = false;
  // The connection closed before the response was complete by its framing (the server died
  // mid-body, say): not a success whatever its status.
  bool cut_by_close = false;
};

struct Exchange {
  Request request;
  std::optional<Response> response;  // absent: connection closed before a response
};

// Counters of what the parser threw away; the pipeline sums them for metrics.
struct ParserStats {
  uint64_t invalid_streams = 0;     // connection disabled: not HTTP/1 or malformed
  uint64_t orphan_responses = 0;    // response with no request (e.g. joined mid-stream)
  uint64_t truncated_messages = 0;  // header region not fully captured
  uint64_t lost_sync_messages = 0;  // body framing lost to uncaptured bytes (chunked)
  uint64_t dropped_exchanges = 0;   // queue bounds hit: too many pending or untaken exchanges
  // Non-HTTP bytes where a message should start, on a stream already shown to be HTTP:
  // skipped to the next syscall that starts with a message (message_parser.h, "Junk").
  uint64_t junk_skips = 0;
};

// A request head with a traceparent, reported as soon as the head is parsed (long before
// its exchange completes), so that its context can be applied to the calls it causes.
struct RequestHeadContext {
  uint64_t start_ns = 0;
  std::string traceparent;
  std::string tracestate;
};

// Not thread-safe: one parser per connection, driven by one thread. Memory per parser is
// bounded: one header line (<= 128 KiB while a head is parsed), at most 64 requests awaiting
// a response, at most 4096 completed exchanges not yet taken (call take_exchanges() after
// each on_data/on_close), and bounded kept values (target 8 KiB, Host 256 B, User-Agent
// 512 B, traceparent 128 B, tracestate 512 B). Bounds hit are counted in stats().
//
// Uncaptured bytes: skipped exactly inside Content-Length bodies, chunk data and
// close-delimited bodies. Anywhere else (head, chunk framing) the message is marked
// truncated with the fields captured so far, and the direction resyncs at the next syscall
// that starts with a valid start line; the truncated message ends there, when the other
// direction speaks, or at close. If a message start itself fell in uncaptured bytes, a
// truncated message with no fields stands for it, so that pairing stays aligned.
class ConnectionParser {
 public:
  // role: which direction carries requests (server: ingress; client: egress). kUnknown: the
  // first direction whose data starts with a request line carries requests.
  // joined_midstream: the agent did not see the connection open; data before the first
  // syscall that starts with a valid message start is skipped, never parsed as a message.
  ConnectionParser(Role role, bool joined_midstream);
  ~ConnectionParser();
  // Movable (a moved-from parser may only be destroyed or assigned to); not copyable.
  ConnectionParser(ConnectionParser&&) noexcept;
  ConnectionParser& operator=(ConnectionParser&&) noexcept;

  // Data of one syscall (or a contiguous piece of it) in stream order for `dir`.
  // `bytes` were captured; `gap_bytes_after` more bytes of the same call followed but
  // were not captured. `syscall_start`: `bytes` begin a syscall's data.
  void on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes_after,
               uint64_t timestamp_ns, bool syscall_start);

  // The connection closed: messages delimited by close are completed, requests left
  // without response are emitted with no response.
  void on_close(uint64_t timestamp_ns);

  // Request heads carrying a traceparent parsed since the last call (at most 64 kept).
  std::vector<RequestHeadContext> take_request_head_contexts();

  // Completed exchanges since the last call, in request order. An exchange is complete when
  // both its request and its response are; 101 and CONNECT 2xx complete everything pending.
  std::vector<Exchange> take_exchanges();

  // True once the stream was judged not HTTP/1 or hopelessly malformed; further data is
  // ignored. failure_reason() says why (static string). Exchanges completed before the bad
  // bytes are still emitted; those in flight are dropped. Junk after a whole request head
  // does not fail the stream: it is skipped (ParserStats::junk_skips) and the requests
  // before it still get their responses.
  bool failed() const;
  std::string_view failure_reason() const;

  Role role() const;  // given or inferred
  const ParserStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ztrace::http1
