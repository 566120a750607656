#pragma once

// Builders of HTTP/2 bytes for the tests: hex dumps, frames, and a minimal HPACK encoder
// (literal fields, static indices) so that tests state what goes on the wire.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/protocols/http2/types.h"

namespace ztrace::http2::testing {

// "82 86 8441..." (spaces ignored) → bytes.
inline std::string unhex(std::string_view hex) {
  std::string out;
  int nibble = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;
    }
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<char>(nibble << 4 | v));
      nibble = -1;
    }
  }
  return out;
}

inline std::string frame(FrameType type, uint8_t flags, uint32_t stream_id,
                         std::string_view payload) {
  std::string f;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>(stream_id >> 24));
  f.push_back(static_cast<char>(stream_id >> 16));
  f.push_back(static_cast<char>(stream_id >> 8));
  f.push_back(static_cast<char>(stream_id));
  f.append(payload);
  return f;
}

// RFC 7541 §5.1 integer with the first byte's high bits `high`.
inline std::string hpack_int(uint8_t high, int prefix_bits, uint32_t value) {
  const uint32_t max = (1u << prefix_bits) - 1;
  std::string out;
  if (value < max) {
    out.push_back(static_cast<char>(high | value));
    return out;
  }
  out.push_back(static_cast<char>(high | max));
  value -= max;
  while (value >= 128) {
    out.push_back(static_cast<char>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

inline std::string hpack_string(std::string_view s) {
  return hpack_int(0, 7, static_cast<uint32_t>(s.size())) + std::string(s);
}

// Literal without indexing, new name (never touches the dynamic table).
inline std::string literal(std::string_view name, std::string_view value) {
  return std::string(1, '\0') + hpack_string(name) + hpack_string(value);
}
// Literal with incremental indexing, new name (adds an entry).
inline std::string literal_indexed(std::string_view name, std::string_view value) {
  return std::string(1, '\x40') + hpack_string(name) + hpack_string(value);
}
inline std::string indexed(uint32_t index) { return hpack_int(0x80, 7, index); }

inline std::string settings(std::vector<std::pair<uint16_t, uint32_t>> values) {
  std::string p;
  for (auto [id, v] : values) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id));
    for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>(v >> s));
  }
  return frame(FrameType::kSettings, 0, 0, p);
}

inline std::string u32(uint32_t v) {
  std::string p;
  for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>(v >> s));
  return p;
}

}  // namespace ztrace::http2::testing
