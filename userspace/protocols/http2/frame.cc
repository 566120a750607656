#include "userspace/protocols/http2/frame.h"

namespace ztrace::http2 {

ParseState parse_frame_header(std::string_view bytes, FrameHeader* out) {
  if (bytes.size() < kFrameHeaderBytes) return ParseState::kNeedsMoreData;
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  out->length = uint32_t{b[0]} << 16 | uint32_t{b[1]} << 8 | b[2];
  out->type = static_cast<FrameType>(b[3]);
  out->flags = b[4];
  out->stream_id = read_u31(bytes, 5);
  return ParseState::kSuccess;
}

ParseState parse_frame(std::string_view bytes, FrameHeader* header, std::string_view* payload) {
  if (parse_frame_header(bytes, header) != ParseState::kSuccess) return ParseState::kNeedsMoreData;
  if (bytes.size() - kFrameHeaderBytes < header->length) return ParseState::kNeedsMoreData;
  *payload = bytes.substr(kFrameHeaderBytes, header->length);
  return ParseState::kSuccess;
}

bool is_plausible_frame_header(const FrameHeader& h) {
  constexpr uint32_t kDefaultMaxFrameBytes = 16384;  // §6.5.2 SETTINGS_MAX_FRAME_SIZE
  if (h.length > kDefaultMaxFrameBytes) return false;
  const bool on_stream = h.stream_id != 0;
  switch (h.type) {
    case FrameType::kData:
      return on_stream && (h.flags & ~(kFlagEndStream | kFlagPadded)) == 0;
    case FrameType::kHeaders:
      return on_stream &&
             (h.flags & ~(kFlagEndStream | kFlagEndHeaders | kFlagPadded | kFlagPriority)) == 0;
    case FrameType::kPriority:
      return on_stream && h.length == 5 && h.flags == 0;
    case FrameType::kRstStream:
      return on_stream && h.length == 4 && h.flags == 0;
    case FrameType::kSettings:
      return !on_stream && h.length % 6 == 0 && (h.flags & ~kFlagAck) == 0 &&
             !(h.flags & kFlagAck && h.length != 0);
    case FrameType::kPushPromise:
      return on_stream && (h.flags & ~(kFlagEndHeaders | kFlagPadded)) == 0;
    case FrameType::kPing:
      return !on_stream && h.length == 8 && (h.flags & ~kFlagAck) == 0;
    case FrameType::kGoaway:
      return !on_stream && h.length >= 8 && h.flags == 0;
    case FrameType::kWindowUpdate:
      return h.length == 4 && h.flags == 0;
    case FrameType::kContinuation:
      return on_stream && (h.flags & ~kFlagEndHeaders) == 0;
  }
  return false;
}

ParseState header_block_fragment(const FrameHeader& header, std::string_view payload,
                                 std::string_view* fragment) {
  size_t skip_front = 0;
  size_t pad = 0;
  const bool padded = header.type != FrameType::kContinuation && (header.flags & kFlagPadded);
  if (padded) {
    if (payload.empty()) return ParseState::kInvalid;
    pad = static_cast<uint8_t>(payload[0]);
    skip_front = 1;
  }
  if (header.type == FrameType::kHeaders && (header.flags & kFlagPriority)) skip_front += 5;
  if (header.type == FrameType::kPushPromise) skip_front += 4;
  if (skip_front + pad > payload.size()) return ParseState::kInvalid;
  *fragment = payload.substr(skip_front, payload.size() - skip_front - pad);
  return ParseState::kSuccess;
}

uint32_t data_frame_body_bytes(const FrameHeader& header, uint8_t first_byte) {
  if (!(header.flags & kFlagPadded) || header.length == 0) return header.length;
  const uint32_t overhead = 1u + first_byte;
  return overhead > header.length ? 0 : header.length - overhead;
}

ParseState detect(std::string_view chunk) {
  const size_t n = std::min(chunk.size(), kClientPreface.size());
  if (n > 0 && chunk.substr(0, n) == kClientPreface.substr(0, n)) {
    return n == kClientPreface.size() ? ParseState::kSuccess : ParseState::kNeedsMoreData;
  }
  FrameHeader header;
  size_t at = 0;
  bool any = false;
  while (parse_frame_header(chunk.substr(at), &header) == ParseState::kSuccess) {
    if (!is_plausible_frame_header(header)) return ParseState::kInvalid;
    any = true;
    at += kFrameHeaderBytes + header.length;
    if (at >= chunk.size()) break;
  }
  return any ? ParseState::kSuccess : ParseState::kNeedsMoreData;
}

}  // namespace ztrace::http2
