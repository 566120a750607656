#pragma once

// HTTP/2 frame layout (RFC 9113 §4.1, §6): pure functions over bytes, no connection state.

#include <cstdint>
#include <string_view>

#include "userspace/protocols/http2/types.h"

namespace ztrace::http2 {

// The 9-byte frame header at the start of `bytes`. Never invalid: unknown types and flags
// are legal on the wire (§4.1, §5.5); whether they are plausible is a separate question.
ParseState parse_frame_header(std::string_view bytes, FrameHeader* out);

// A whole frame at the start of `bytes` (header and payload).
ParseState parse_frame(std::string_view bytes, FrameHeader* header, std::string_view* payload);

// Whether a header could start a frame of a real connection: a known type, a length within
// the default SETTINGS_MAX_FRAME_SIZE (larger frames are legal but rare enough that
// detection need not accept them), flags the type defines, and the stream id rules of §6.
// Used to recognise HTTP/2 on connections joined mid-way and to resync after lost bytes.
bool is_plausible_frame_header(const FrameHeader& header);

// The header block fragment of a HEADERS, PUSH_PROMISE or CONTINUATION payload: padding,
// priority and the promised stream id removed (§6.2, §6.6, §6.10). Invalid when the padding
// is longer than the payload.
ParseState header_block_fragment(const FrameHeader& header, std::string_view payload,
                                 std::string_view* fragment);

// Bytes of a DATA frame that are application data: the payload minus padding (§6.1).
// `first_byte`: the payload's first byte (the pad length when PADDED).
uint32_t data_frame_body_bytes(const FrameHeader& header, uint8_t first_byte);

// Whether `chunk` (data at the start of a syscall) starts like HTTP/2: a prefix of the client
// preface, or a plausible frame header followed only by plausible frame headers as far as the
// chunk holds them. kNeedsMoreData: fewer than 9 bytes that could still be either.
ParseState detect(std::string_view chunk);

// A 31-bit big-endian value (reserved bit dropped) and 24/16/32-bit big-endian helpers.
inline uint32_t read_u32(std::string_view b, size_t at) {
  return uint32_t{static_cast<uint8_t>(b[at])} << 24 |
         uint32_t{static_cast<uint8_t>(b[at + 1])} << 16 |
         uint32_t{static_cast<uint8_t>(b[at + 2])} << 8 | uint32_t{static_cast<uint8_t>(b[at + 3])};
}
inline uint32_t read_u31(std::string_view b, size_t at) { return read_u32(b, at) & 0x7fffffffu; }

}  // namespace ztrace::http2
