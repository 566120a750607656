#pragma once

// HTTP/2 streams → exchanges: collects each stream's header blocks, DATA byte counts and
// timestamps per direction, and yields one Exchange per stream when both sides ended, the
// stream was reset, refused by GOAWAY, or the connection closed.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/common/connection_types.h"
#include "userspace/protocols/http2/types.h"

namespace ztrace::http2 {

// The fields of one header block that spans use (pseudo-headers, content-type, user-agent,
// trace context, gRPC status), values capped; the rest are dropped after decoding.
struct HeaderBlock {
  std::vector<HeaderField> fields;
  uint32_t unknown_fields = 0;  // fields that referenced unseen dynamic table entries
  bool values_truncated = false;
  // The value of the first field named `name`, nullptr when absent or unknown.
  const std::string* find(std::string_view name) const;
};

// One side of a stream.
struct Message {
  bool seen = false;  // a header block arrived
  HeaderBlock headers;
  std::optional<HeaderBlock> trailers;  // a second header block
  uint64_t body_bytes = 0;              // DATA payload without padding
  uint64_t start_ns = 0;                // first frame
  uint64_t end_ns = 0;                  // last frame
  bool end_stream = false;
};

enum class StreamOutcome : uint8_t {
  kComplete,          // both sides sent END_STREAM
  kReset,             // RST_STREAM (error_code)
  kRefused,           // above a GOAWAY's last stream id: never processed
  kConnectionClosed,  // the connection ended first
};

struct Exchange {
  uint32_t stream_id = 0;
  Message request;
  Message response;  // response.seen false: no response headers
  StreamOutcome outcome = StreamOutcome::kComplete;
  uint32_t error_code = 0;  // RST_STREAM or GOAWAY error code
  // Bytes of the stream's frames were lost (gaps): counts and fields may be incomplete.
  bool truncated = false;
};

struct StitcherStats {
  uint64_t orphan_streams = 0;      // frames of streams whose request was not seen
  uint64_t dropped_streams = 0;     // bounds hit: too many open streams or untaken exchanges
  uint64_t undirected_streams = 0;  // joined mid-way: no header told which side asked
};

// Not thread-safe; one per connection. Bounded: kMaxOpenStreams open streams (the oldest is
// dropped beyond), kMaxPendingExchanges untaken exchanges, kept values capped.
class Stitcher {
 public:
  static constexpr size_t kMaxOpenStreams = 1024;
  static constexpr size_t kMaxPendingExchanges = 4096;
  static constexpr size_t kMaxPathBytes = 8192;
  static constexpr size_t kMaxValueBytes = 512;

  // `role`: which direction carries requests (server: ingress, client: egress); kUnknown:
  // inferred from the first header block holding a known :method/:path or :status.
  explicit Stitcher(Role role);

  // Takes the fields it keeps out of `*fields` (moved, not copied).
  void on_headers(Direction dir, uint32_t stream_id, std::vector<HeaderField>* fields,
                  bool end_stream, uint64_t first_ns, uint64_t last_ns);
  void on_data(Direction dir, uint32_t stream_id, uint64_t body_bytes, bool end_stream,
               uint64_t first_ns, uint64_t last_ns);
  void on_rst_stream(uint32_t stream_id, uint32_t error_code, uint64_t timestamp_ns);
  void on_goaway(uint32_t last_stream_id, uint32_t error_code, uint64_t timestamp_ns);
  // The direction lost bytes: every open stream may miss frames.
  void on_lost_bytes();
  void on_close(uint64_t timestamp_ns);
  // The client side sent the preface: it carries requests.
  void set_request_direction(Direction dir);

  std::vector<Exchange> take_exchanges();
  // Request header blocks with a traceparent, as soon as they arrive (server side only).
  struct HeadContext {
    uint64_t start_ns = 0;
    std::string traceparent;
    std::string tracestate;  // "": none
  };
  std::vector<HeadContext> take_head_contexts();

  Role role() const;
  const StitcherStats& stats() const { return stats_; }
  bool is_open(uint32_t stream_id) const { return streams_.count(stream_id) != 0; }
  uint32_t highest_stream_id() const { return highest_stream_id_; }

 private:
  struct Stream {
    Message side[2];  // by Direction
    bool truncated = false;
  };
  void finish(std::map<uint32_t, Stream>::iterator it, StreamOutcome outcome, uint32_t code);
  int request_dir_;  // -1 until known

  std::map<uint32_t, Stream> streams_;  // open streams by id (ordered: GOAWAY ranges)
  uint32_t goaway_last_stream_id_ = UINT32_MAX;
  uint32_t highest_stream_id_ = 0;  // of any header block
  std::vector<Exchange> done_;
  std::vector<HeadContext> heads_;
  StitcherStats stats_;
};

}  // namespace ztrace::http2
