#include "userspace/protocols/http2/connection_parser.h"

#include <algorithm>
#include <utility>

#include "userspace/protocols/http2/frame.h"

namespace ztrace::http2 {
namespace {

enum class Phase : uint8_t {
  kStart,    // nothing seen yet in this direction
  kPreface,  // inside the client connection preface
  kFrames,   // at a known frame boundary or inside a known frame
  kLost,     // framing unknown: waiting for a syscall that starts with a frame header
};

struct DirectionState {
  explicit DirectionState(bool hpack_state_known) : hpack(hpack_state_known) {}

  Phase phase = Phase::kStart;
  size_t preface_matched = 0;
  bool any_frame = false;
  std::string buffer;  // the current frame's header, then (not DATA) its payload
  bool have_header = false;
  FrameHeader header;
  uint64_t frame_first_ns = 0;
  // DATA payload being counted.
  bool data_pad_pending = false;  // PADDED: the pad length byte is next
  uint32_t data_pad_bytes = 0;
  uint64_t data_left = 0;
  bool data_truncated = false;
  // Header block under assembly (HEADERS or PUSH_PROMISE, then CONTINUATION frames).
  bool in_block = false;
  bool block_is_push = false;
  bool block_end_stream = false;
  uint32_t block_stream = 0;
  uint64_t block_first_ns = 0;
  std::string block;
  HpackDecoder hpack;
  std::vector<HeaderField> fields;  // the last block's, decoded; reused to keep its capacity
};

}  // namespace

struct ConnectionParser::Impl {
  Impl(Role role, bool joined_midstream)
      : joined_midstream(joined_midstream),
        dirs{DirectionState(!joined_midstream), DirectionState(!joined_midstream)},
        stitcher(role) {}

  void fail(const char* reason) {
    if (failure_reason) return;
    failure_reason = reason;
    stats.invalid_streams = 1;
  }

  void feed(int d, std::string_view bytes, uint64_t ts, bool syscall_start);
  size_t find_resync_point(std::string_view bytes) const;
  void gap(int d, uint64_t bytes, uint64_t ts);
  void lose_sync(int d);
  bool start_frame(int d, uint64_t ts);
  void end_data_frame(int d, uint64_t ts);
  void handle_frame(int d, std::string_view payload, uint64_t ts);
  void end_block(int d, uint64_t ts);

  bool joined_midstream;
  DirectionState dirs[2];
  Stitcher stitcher;
  const char* failure_reason = nullptr;
  ParserStats stats;
};

namespace {

// "PRI " cannot start a frame of a new connection (it would be a 5 MiB frame of type 0x20):
// what follows is checked as the preface.
bool starts_like_preface(std::string_view bytes) {
  const size_t n = std::min<size_t>(bytes.size(), 4);
  return n > 0 && bytes.substr(0, n) == kClientPreface.substr(0, n);
}

Direction direction(int d) { return d ? Direction::kIngress : Direction::kEgress; }

}  // namespace

void ConnectionParser::Impl::lose_sync(int d) {
  DirectionState& s = dirs[d];
  ++stats.lost_sync;
  s.phase = Phase::kLost;
  s.buffer.clear();
  s.have_header = false;
  s.data_left = 0;
  s.data_pad_pending = false;
  s.in_block = false;
  s.block.clear();
  s.hpack.lose_state();
  stitcher.on_lost_bytes();
}

void ConnectionParser::Impl::gap(int d, uint64_t bytes, uint64_t ts) {
  DirectionState& s = dirs[d];
  if (s.phase == Phase::kStart || s.phase == Phase::kLost) {
    s.phase = Phase::kLost;  // what the direction starts with is unknown
    return;
  }
  const bool in_data = s.have_header && s.header.type == FrameType::kData;
  if (in_data && bytes <= s.data_left + (s.data_pad_pending ? 1 : 0)) {
    // Inside a DATA payload the framing survives: only the count is less exact.
    if (s.data_pad_pending) {
      s.data_pad_pending = false;
      --bytes;
    }
    s.data_left -= bytes;
    s.data_truncated = true;
    if (s.data_left == 0) end_data_frame(d, ts);
    return;
  }
  lose_sync(d);
}

bool ConnectionParser::Impl::start_frame(int d, uint64_t ts) {
  DirectionState& s = dirs[d];
  const FrameHeader& h = s.header;
  ++stats.frames;
  s.any_frame = true;
  const bool continuation = h.type == FrameType::kContinuation;
  // §6.10: a header block is a contiguous run of frames on one stream.
  if (s.in_block != continuation || (continuation && h.stream_id != s.block_stream)) {
    fail(continuation ? "CONTINUATION without a header block" : "header block interrupted");
    return false;
  }
  const bool stream_frame = h.type == FrameType::kData || h.type == FrameType::kHeaders ||
                            h.type == FrameType::kRstStream || h.type == FrameType::kPriority ||
                            h.type == FrameType::kPushPromise || continuation;
  const bool connection_frame =
      h.type == FrameType::kSettings || h.type == FrameType::kPing || h.type == FrameType::kGoaway;
  if ((stream_frame && h.stream_id == 0) || (connection_frame && h.stream_id != 0)) {
    fail("frame on the wrong stream");
    return false;
  }
  if (h.type == FrameType::kData) {
    s.data_pad_pending = (h.flags & kFlagPadded) && h.length > 0;
    s.data_pad_bytes = 0;
    s.data_left = h.length - (s.data_pad_pending ? 1 : 0);
    s.data_truncated = false;
    if (!s.data_pad_pending && s.data_left == 0) end_data_frame(d, ts);
    return true;
  }
  if (h.length > kMaxBufferedFrameBytes) {
    fail("frame larger than the agent buffers");
    return false;
  }
  if (h.length == 0) {
    handle_frame(d, {}, ts);
    s.have_header = false;
  }
  return true;
}

void ConnectionParser::Impl::end_data_frame(int d, uint64_t ts) {
  DirectionState& s = dirs[d];
  const FrameHeader& h = s.header;
  const uint32_t overhead = (h.flags & kFlagPadded) ? 1 + s.data_pad_bytes : 0;
  if (overhead > h.length) {
    fail("DATA padding longer than the frame");
    return;
  }
  if (s.data_truncated) stitcher.on_lost_bytes();
  stitcher.on_data(direction(d), h.stream_id, h.length - overhead, h.flags & kFlagEndStream,
                   s.frame_first_ns, ts);
  s.have_header = false;
}

void ConnectionParser::Impl::end_block(int d, uint64_t ts) {
  DirectionState& s = dirs[d];
  s.in_block = false;
  std::vector<HeaderField>& fields = s.fields;
  fields.clear();
  if (s.hpack.decode(s.block, &fields) != ParseState::kSuccess) {
    fail("HPACK decoding error");
    return;
  }
  s.block.clear();
  if (s.block_is_push) return;  // decoded for the table state; pushes are not traced
  stitcher.on_headers(direction(d), s.block_stream, &fields, s.block_end_stream, s.block_first_ns,
                      ts);
}

void ConnectionParser::Impl::handle_frame(int d, std::string_view payload, uint64_t ts) {
  DirectionState& s = dirs[d];
  const FrameHeader& h = s.header;
  switch (h.type) {
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation: {
      std::string_view fragment;
      if (header_block_fragment(h, payload, &fragment) != ParseState::kSuccess) {
        fail("header block padding longer than the frame");
        return;
      }
      if (h.type != FrameType::kContinuation) {
        s.in_block = true;
        s.block_is_push = h.type == FrameType::kPushPromise;
        s.block_end_stream = h.type == FrameType::kHeaders && (h.flags & kFlagEndStream);
        s.block_stream = h.stream_id;
        s.block_first_ns = s.frame_first_ns;
        s.block.clear();
      }
      if (s.block.size() + fragment.size() > kMaxHeaderBlockBytes) {
        fail("header block larger than the agent buffers");
        return;
      }
      s.block.append(fragment);
      if (h.flags & kFlagEndHeaders) end_block(d, ts);
      return;
    }
    case FrameType::kRstStream:
      if (h.length != 4) return fail("RST_STREAM of bad length");
      stitcher.on_rst_stream(h.stream_id, read_u32(payload, 0), ts);
      return;
    case FrameType::kGoaway:
      if (h.length < 8) return fail("GOAWAY of bad length");
      stitcher.on_goaway(read_u31(payload, 0), read_u32(payload, 4), ts);
      return;
    case FrameType::kSettings:
      if (h.flags & kFlagAck) {
        if (h.length != 0) fail("SETTINGS ACK with a payload");
        return;
      }
      if (h.length % 6 != 0) return fail("SETTINGS of bad length");
      for (size_t at = 0; at < payload.size(); at += 6) {
        const uint16_t id = static_cast<uint16_t>(static_cast<uint8_t>(payload[at]) << 8 |
                                                  static_cast<uint8_t>(payload[at + 1]));
        // The sender's decoder limit: it applies to blocks flowing the other way.
        if (id == kSettingsHeaderTableSize) {
          dirs[1 - d].hpack.on_settings_header_table_size(read_u32(payload, at + 2));
        }
      }
      return;
    case FrameType::kPing:
      if (h.length != 8) fail("PING of bad length");
      return;
    case FrameType::kWindowUpdate:
      if (h.length != 4) fail("WINDOW_UPDATE of bad length");
      return;
    case FrameType::kPriority:
      if (h.length != 5) fail("PRIORITY of bad length");
      return;
    default:
      return;  // §5.5: unknown frame types are ignored
  }
}

// A frame header at `at` that only a real frame boundary is likely to hold: a plausible
// header on a stream the connection has open (or a new request stream), or a connection
// frame of exact shape, followed by plausible headers as far as `bytes` reach. Payload bytes
// matching this by chance need ~40 specific bits.
size_t ConnectionParser::Impl::find_resync_point(std::string_view bytes) const {
  for (size_t at = 0; at + kFrameHeaderBytes <= bytes.size(); ++at) {
    FrameHeader h;
    parse_frame_header(bytes.substr(at), &h);
    if (!is_plausible_frame_header(h)) continue;
    const bool known_stream =
        h.stream_id == 0 || (stitcher.is_open(h.stream_id) && h.type != FrameType::kContinuation) ||
        (h.type == FrameType::kHeaders && (h.stream_id & 1) &&
         h.stream_id > stitcher.highest_stream_id() && (h.flags & kFlagEndHeaders));
    if (!known_stream) continue;
    if (detect(bytes.substr(at)) == ParseState::kSuccess) return at;
  }
  return std::string_view::npos;
}

void ConnectionParser::Impl::feed(int d, std::string_view bytes, uint64_t ts, bool syscall_start) {
  DirectionState& s = dirs[d];
  if (s.phase == Phase::kStart) s.phase = joined_midstream ? Phase::kLost : Phase::kFrames;
  if (s.phase == Phase::kLost) {
    // A syscall that starts with frames (writers usually write whole frames), else a frame
    // boundary found inside the bytes (readers cut frames anywhere).
    size_t at = syscall_start && detect(bytes) == ParseState::kSuccess ? 0 : std::string_view::npos;
    if (at != 0 && s.any_frame) at = find_resync_point(bytes);
    if (at == std::string_view::npos) return;
    bytes.remove_prefix(at);
    s.phase = Phase::kFrames;
  }
  if (s.phase == Phase::kFrames && !s.have_header && s.buffer.empty() && s.preface_matched == 0 &&
      !s.any_frame && starts_like_preface(bytes)) {
    s.phase = Phase::kPreface;
    stitcher.set_request_direction(direction(d));
  }
  while (!bytes.empty() && !failure_reason) {
    if (s.phase == Phase::kPreface) {
      const size_t n = std::min(bytes.size(), kClientPreface.size() - s.preface_matched);
      if (bytes.substr(0, n) != kClientPreface.substr(s.preface_matched, n)) {
        return fail("bad client preface");
      }
      s.preface_matched += n;
      bytes.remove_prefix(n);
      if (s.preface_matched == kClientPreface.size()) s.phase = Phase::kFrames;
      continue;
    }
    if (s.have_header && s.header.type == FrameType::kData) {
      if (s.data_pad_pending) {
        s.data_pad_bytes = static_cast<uint8_t>(bytes[0]);
        s.data_pad_pending = false;
        bytes.remove_prefix(1);
      }
      const uint64_t n = std::min<uint64_t>(bytes.size(), s.data_left);
      s.data_left -= n;
      bytes.remove_prefix(n);
      if (s.data_left == 0 && !s.data_pad_pending) end_data_frame(d, ts);
      continue;
    }
    if (!s.have_header) {
      if (s.buffer.empty()) s.frame_first_ns = ts;
      const size_t n = std::min(bytes.size(), kFrameHeaderBytes - s.buffer.size());
      s.buffer.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (s.buffer.size() < kFrameHeaderBytes) return;
      parse_frame_header(s.buffer, &s.header);
      s.buffer.clear();
      s.have_header = true;
      start_frame(d, ts);
      continue;
    }
    const size_t n = std::min<size_t>(bytes.size(), s.header.length - s.buffer.size());
    s.buffer.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (s.buffer.size() < s.header.length) return;
    handle_frame(d, s.buffer, ts);
    s.buffer.clear();
    s.have_header = false;
  }
}

ConnectionParser::ConnectionParser(Role role, bool joined_midstream)
    : impl_(std::make_unique<Impl>(role, joined_midstream)) {}
ConnectionParser::~ConnectionParser() = default;
ConnectionParser::ConnectionParser(ConnectionParser&&) noexcept = default;
ConnectionParser& ConnectionParser::operator=(ConnectionParser&&) noexcept = default;

void ConnectionParser::on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes_after,
                               uint64_t timestamp_ns, bool syscall_start) {
  if (impl_->failure_reason) return;
  const int d = dir == Direction::kIngress ? 1 : 0;
  if (!bytes.empty()) impl_->feed(d, bytes, timestamp_ns, syscall_start);
  if (gap_bytes_after > 0 && !impl_->failure_reason) impl_->gap(d, gap_bytes_after, timestamp_ns);
}

void ConnectionParser::on_close(uint64_t timestamp_ns) {
  if (impl_->failure_reason) return;
  impl_->stitcher.on_close(timestamp_ns);
}

std::vector<Exchange> ConnectionParser::take_exchanges() {
  return impl_->stitcher.take_exchanges();
}

std::vector<Stitcher::HeadContext> ConnectionParser::take_request_head_contexts() {
  return impl_->stitcher.take_head_contexts();
}

bool ConnectionParser::failed() const { return impl_->failure_reason != nullptr; }
std::string_view ConnectionParser::failure_reason() const {
  return impl_->failure_reason ? impl_->failure_reason : "";
}
Role ConnectionParser::role() const { return impl_->stitcher.role(); }
ParserStats ConnectionParser::stats() const {
  ParserStats s = impl_->stats;
  s.streams = impl_->stitcher.stats();
  return s;
}

}  // namespace ztrace::http2
