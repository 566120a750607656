#pragma once

// HTTP/2 wire vocabulary (RFC 9113) shared by the frame parser, HPACK decoder and stitcher.

#include <cstdint>
#include <string>
#include <string_view>

namespace ztrace::http2 {

// What a parse step made of the bytes it was given.
enum class ParseState : uint8_t {
  kSuccess,        // a complete unit was parsed
  kNeedsMoreData,  // a valid prefix: call again with more bytes
  kInvalid,        // not HTTP/2, or a protocol error
};

// RFC 9113 §6.
enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};

inline constexpr uint8_t kFlagEndStream = 0x1;   // DATA, HEADERS
inline constexpr uint8_t kFlagAck = 0x1;         // SETTINGS, PING
inline constexpr uint8_t kFlagEndHeaders = 0x4;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kFlagPadded = 0x8;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kFlagPriority = 0x20;   // HEADERS

inline constexpr size_t kFrameHeaderBytes = 9;
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// RFC 9113 §6.5.2.
inline constexpr uint16_t kSettingsHeaderTableSize = 0x1;
inline constexpr uint16_t kSettingsMaxFrameSize = 0x5;
inline constexpr uint32_t kDefaultHeaderTableSize = 4096;

struct FrameHeader {
  uint32_t length = 0;  // payload bytes (24 bits)
  FrameType type = FrameType::kData;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // reserved bit cleared
};

// One decoded header field. `unknown`: the field referenced a dynamic table entry the agent
// never saw (connection joined mid-way or bytes lost): its name and value are not known.
struct HeaderField {
  std::string name;
  std::string value;
  bool unknown = false;
  bool operator==(const HeaderField&) const = default;
};

}  // namespace ztrace::http2
