#include "userspace/common/utf8.h"

#include <cstdint>
#include <cstring>

namespace ztrace::utf8 {
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), 0 when invalid.
size_t sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    length = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    if (c == 0xe0) low = 0xa0;
    if (c == 0xed) high = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return length;
}

}  // namespace

bool is_valid(std::string_view s) {
  // ASCII first, 8 bytes at a time: almost every text is ASCII, and then this is all it costs.
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, sizeof(word));
    if (word & 0x8080808080808080ULL) break;
  }
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  while (i < s.size()) {
    const size_t length = sequence_length(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string with_replacement_characters(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const size_t length = sequence_length(s, i);
    if (length == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD for each invalid byte
      ++i;
    } else {
      out.append(s, i, length);
      i += length;
    }
  }
  return out;
}

}  // namespace ztrace::utf8
