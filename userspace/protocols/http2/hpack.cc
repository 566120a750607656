#include "userspace/protocols/http2/hpack.h"

#include <algorithm>
#include <array>
#include <utility>

namespace ztrace::http2 {
namespace {

// RFC 7541 Appendix A.
// clang-format off
constexpr std::array<std::pair<std::string_view, std::string_view>, 61> kStaticTable = {{
    {":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
    {":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
    {":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
    {":status", "404"}, {":status", "500"}, {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""},
    {"accept", ""}, {"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
    {"authorization", ""}, {"cache-control", ""}, {"content-disposition", ""},
    {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
    {"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
    {"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
    {"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
    {"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""},
    {"max-forwards", ""}, {"proxy-authenticate", ""}, {"proxy-authorization", ""},
    {"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""}, {"server", ""},
    {"set-cookie", ""}, {"strict-transport-security", ""}, {"transfer-encoding", ""},
    {"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
}};
// clang-format on

// RFC 7541 Appendix B: {code, bit length} of symbols 0-255 (EOS, 256, is 30 one bits).
// clang-format off
constexpr std::array<HuffmanCode, 256> kHuffmanCodes = {{
    {0x1ff8, 13}, {0x7fffd8, 23}, {0xfffffe2, 28}, {0xfffffe3, 28}, {0xfffffe4, 28},
    {0xfffffe5, 28}, {0xfffffe6, 28}, {0xfffffe7, 28}, {0xfffffe8, 28}, {0xffffea, 24},
    {0x3ffffffc, 30}, {0xfffffe9, 28}, {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28},
    {0xfffffec, 28}, {0xfffffed, 28}, {0xfffffee, 28}, {0xfffffef, 28}, {0xffffff0, 28},
    {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28}, {0xffffff4, 28},
    {0xffffff5, 28}, {0xffffff6, 28}, {0xffffff7, 28}, {0xffffff8, 28}, {0xffffff9, 28},
    {0xffffffa, 28}, {0xffffffb, 28}, {0x14, 6}, {0x3f8, 10}, {0x3f9, 10}, {0xffa, 12},
    {0x1ff9, 13}, {0x15, 6}, {0xf8, 8}, {0x7fa, 11}, {0x3fa, 10}, {0x3fb, 10}, {0xf9, 8},
    {0x7fb, 11}, {0xfa, 8}, {0x16, 6}, {0x17, 6}, {0x18, 6}, {0x0, 5}, {0x1, 5}, {0x2, 5},
    {0x19, 6}, {0x1a, 6}, {0x1b, 6}, {0x1c, 6}, {0x1d, 6}, {0x1e, 6}, {0x1f, 6}, {0x5c, 7},
    {0xfb, 8}, {0x7ffc, 15}, {0x20, 6}, {0xffb, 12}, {0x3fc, 10}, {0x1ffa, 13}, {0x21, 6},
    {0x5d, 7}, {0x5e, 7}, {0x5f, 7}, {0x60, 7}, {0x61, 7}, {0x62, 7}, {0x63, 7}, {0x64, 7},
    {0x65, 7}, {0x66, 7}, {0x67, 7}, {0x68, 7}, {0x69, 7}, {0x6a, 7}, {0x6b, 7}, {0x6c, 7},
    {0x6d, 7}, {0x6e, 7}, {0x6f, 7}, {0x70, 7}, {0x71, 7}, {0x72, 7}, {0xfc, 8}, {0x73, 7},
    {0xfd, 8}, {0x1ffb, 13}, {0x7fff0, 19}, {0x1ffc, 13}, {0x3ffc, 14}, {0x22, 6}, {0x7ffd, 15},
    {0x3, 5}, {0x23, 6}, {0x4, 5}, {0x24, 6}, {0x5, 5}, {0x25, 6}, {0x26, 6}, {0x27, 6}, {0x6, 5},
    {0x74, 7}, {0x75, 7}, {0x28, 6}, {0x29, 6}, {0x2a, 6}, {0x7, 5}, {0x2b, 6}, {0x76, 7},
    {0x2c, 6}, {0x8, 5}, {0x9, 5}, {0x2d, 6}, {0x77, 7}, {0x78, 7}, {0x79, 7}, {0x7a, 7},
    {0x7b, 7}, {0x7ffe, 15}, {0x7fc, 11}, {0x3ffd, 14}, {0x1ffd, 13}, {0xffffffc, 28},
    {0xfffe6, 20}, {0x3fffd2, 22}, {0xfffe7, 20}, {0xfffe8, 20}, {0x3fffd3, 22}, {0x3fffd4, 22},
    {0x3fffd5, 22}, {0x7fffd9, 23}, {0x3fffd6, 22}, {0x7fffda, 23}, {0x7fffdb, 23}, {0x7fffdc, 23},
    {0x7fffdd, 23}, {0x7fffde, 23}, {0xffffeb, 24}, {0x7fffdf, 23}, {0xffffec, 24}, {0xffffed, 24},
    {0x3fffd7, 22}, {0x7fffe0, 23}, {0xffffee, 24}, {0x7fffe1, 23}, {0x7fffe2, 23}, {0x7fffe3, 23},
    {0x7fffe4, 23}, {0x1fffdc, 21}, {0x3fffd8, 22}, {0x7fffe5, 23}, {0x3fffd9, 22}, {0x7fffe6, 23},
    {0x7fffe7, 23}, {0xffffef, 24}, {0x3fffda, 22}, {0x1fffdd, 21}, {0xfffe9, 20}, {0x3fffdb, 22},
    {0x3fffdc, 22}, {0x7fffe8, 23}, {0x7fffe9, 23}, {0x1fffde, 21}, {0x7fffea, 23}, {0x3fffdd, 22},
    {0x3fffde, 22}, {0xfffff0, 24}, {0x1fffdf, 21}, {0x3fffdf, 22}, {0x7fffeb, 23}, {0x7fffec, 23},
    {0x1fffe0, 21}, {0x1fffe1, 21}, {0x3fffe0, 22}, {0x1fffe2, 21}, {0x7fffed, 23}, {0x3fffe1, 22},
    {0x7fffee, 23}, {0x7fffef, 23}, {0xfffea, 20}, {0x3fffe2, 22}, {0x3fffe3, 22}, {0x3fffe4, 22},
    {0x7ffff0, 23}, {0x3fffe5, 22}, {0x3fffe6, 22}, {0x7ffff1, 23}, {0x3ffffe0, 26},
    {0x3ffffe1, 26}, {0xfffeb, 20}, {0x7fff1, 19}, {0x3fffe7, 22}, {0x7ffff2, 23}, {0x3fffe8, 22},
    {0x1ffffec, 25}, {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26}, {0x7ffffde, 27},
    {0x7ffffdf, 27}, {0x3ffffe5, 26}, {0xfffff1, 24}, {0x1ffffed, 25}, {0x7fff2, 19},
    {0x1fffe3, 21}, {0x3ffffe6, 26}, {0x7ffffe0, 27}, {0x7ffffe1, 27}, {0x3ffffe7, 26},
    {0x7ffffe2, 27}, {0xfffff2, 24}, {0x1fffe4, 21}, {0x1fffe5, 21}, {0x3ffffe8, 26},
    {0x3ffffe9, 26}, {0xffffffd, 28}, {0x7ffffe3, 27}, {0x7ffffe4, 27}, {0x7ffffe5, 27},
    {0xfffec, 20}, {0xfffff3, 24}, {0xfffed, 20}, {0x1fffe6, 21}, {0x3fffe9, 22}, {0x1fffe7, 21},
    {0x1fffe8, 21}, {0x7ffff3, 23}, {0x3fffea, 22}, {0x3fffeb, 22}, {0x1ffffee, 25},
    {0x1ffffef, 25}, {0xfffff4, 24}, {0xfffff5, 24}, {0x3ffffea, 26}, {0x7ffff4, 23},
    {0x3ffffeb, 26}, {0x7ffffe6, 27}, {0x3ffffec, 26}, {0x3ffffed, 26}, {0x7ffffe7, 27},
    {0x7ffffe8, 27}, {0x7ffffe9, 27}, {0x7ffffea, 27}, {0x7ffffeb, 27}, {0xffffffe, 28},
    {0x7ffffec, 27}, {0x7ffffed, 27}, {0x7ffffee, 27}, {0x7ffffef, 27}, {0x7fffff0, 27},
    {0x3ffffee, 26},
}};
// clang-format on

// The code is canonical (codes of one length are consecutive and ordered by symbol), so a
// decoder needs per length only the first code, the count, and the symbols in code order.
// Codes up to kFastBits long (every printable ASCII byte) are read in one step from a table
// indexed by the next kFastBits bits; longer ones by comparing the next 32 bits, left-aligned,
// with each length's limit.
struct CanonicalDecoder {
  static constexpr int kMaxBits = 30;
  static constexpr int kFastBits = 9;
  struct FastEntry {
    uint16_t symbol = 0;
    uint8_t bits = 0;  // 0: the code is longer than kFastBits
  };
  uint32_t first_code[kMaxBits + 1] = {};
  uint32_t count[kMaxBits + 1] = {};
  uint32_t offset[kMaxBits + 1] = {};  // index into symbols of the first code of a length
  // Left-aligned 32-bit windows below limit[n] start with a code of at most n bits.
  uint64_t limit[kMaxBits + 1] = {};
  std::array<uint16_t, 257> symbols{};
  std::array<FastEntry, 1u << kFastBits> fast{};

  CanonicalDecoder() {
    std::array<uint16_t, 257> order{};
    for (uint16_t s = 0; s < 257; ++s) order[s] = s;
    std::sort(order.begin(), order.end(), [&](uint16_t a, uint16_t b) {
      const auto ca = huffman_code(a), cb = huffman_code(b);
      return ca.bits != cb.bits ? ca.bits < cb.bits : ca.code < cb.code;
    });
    uint32_t next = 0;
    for (uint16_t s : order) {
      const auto c = huffman_code(s);
      if (count[c.bits]++ == 0) {
        first_code[c.bits] = c.code;
        offset[c.bits] = next;
      }
      symbols[next++] = s;
      if (c.bits <= kFastBits) {
        const uint32_t first = c.code << (kFastBits - c.bits);
        for (uint32_t i = 0; i < (1u << (kFastBits - c.bits)); ++i) {
          fast[first + i] = FastEntry{s, c.bits};
        }
      }
    }
    uint64_t previous_limit = 0;
    for (int bits = 1; bits <= kMaxBits; ++bits) {
      limit[bits] = count[bits] == 0 ? previous_limit
                                     : uint64_t{first_code[bits] + count[bits]} << (32 - bits);
      previous_limit = limit[bits];
    }
  }

  // The symbol whose code starts `window` (the next 32 bits, left-aligned), and its length.
  uint16_t decode(uint32_t window, int* bits) const {
    const FastEntry& entry = fast[window >> (32 - kFastBits)];
    if (entry.bits != 0) {
      *bits = entry.bits;
      return entry.symbol;
    }
    int n = kFastBits + 1;
    while (window >= limit[n]) ++n;  // limit[30] is 2^32: the loop ends by 30
    *bits = n;
    return symbols[offset[n] + (window >> (32 - n)) - first_code[n]];
  }
};

const CanonicalDecoder& canonical_decoder() {
  static const CanonicalDecoder decoder;
  return decoder;
}

// RFC 7541 §5.1: an integer with an N-bit prefix starting at in[*pos]. Values above 2^32 are
// refused: no real header block needs them, and they would only overflow arithmetic.
ParseState decode_integer(std::string_view in, size_t* pos, int prefix_bits, uint64_t* out) {
  if (*pos >= in.size()) return ParseState::kInvalid;
  const uint32_t max_prefix = (1u << prefix_bits) - 1;
  uint64_t value = static_cast<uint8_t>(in[(*pos)++]) & max_prefix;
  if (value < max_prefix) {
    *out = value;
    return ParseState::kSuccess;
  }
  for (int shift = 0;; shift += 7) {
    if (*pos >= in.size() || shift > 28) return ParseState::kInvalid;
    const uint8_t b = static_cast<uint8_t>(in[(*pos)++]);
    value += uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) break;
  }
  if (value > 0xffffffffull) return ParseState::kInvalid;
  *out = value;
  return ParseState::kSuccess;
}

// RFC 7541 §5.2.
ParseState decode_string(std::string_view in, size_t* pos, std::string* out) {
  if (*pos >= in.size()) return ParseState::kInvalid;
  const bool huffman = static_cast<uint8_t>(in[*pos]) & 0x80;
  uint64_t length;
  if (decode_integer(in, pos, 7, &length) != ParseState::kSuccess) return ParseState::kInvalid;
  if (length > in.size() - *pos) return ParseState::kInvalid;
  const std::string_view raw = in.substr(*pos, length);
  *pos += length;
  out->clear();
  if (!huffman) {
    out->assign(raw);
    return ParseState::kSuccess;
  }
  return huffman_decode(raw, out);
}

constexpr uint32_t entry_bytes(size_t name_bytes, size_t value_bytes) {
  return static_cast<uint32_t>(name_bytes + value_bytes + 32);  // §4.1
}

}  // namespace

HuffmanCode huffman_code(uint16_t symbol) {
  return symbol == 256 ? HuffmanCode{0x3fffffff, 30} : kHuffmanCodes[symbol];
}

ParseState huffman_decode(std::string_view in, std::string* out) {
  const CanonicalDecoder& d = canonical_decoder();
  // At most 8/5 symbols per byte (the shortest code is 5 bits): written in place, then the
  // string is cut to what was decoded.
  const size_t start = out->size();
  out->resize(start + in.size() * 8 / 5 + 1);
  char* const first = out->data() + start;
  char* next_out = first;
  // The unread bits, left-aligned in a 64-bit buffer refilled a byte at a time: while input
  // remains it holds more than 56 bits, so a whole code (at most 30 bits) is always present.
  uint64_t buffer = 0;
  int buffered_bits = 0;
  size_t next = 0;
  ParseState state = ParseState::kSuccess;
  while (true) {
    while (buffered_bits <= 56 && next < in.size()) {
      buffer |= uint64_t{static_cast<uint8_t>(in[next++])} << (56 - buffered_bits);
      buffered_bits += 8;
    }
    if (buffered_bits == 0) break;
    int bits = 0;
    const uint16_t symbol = d.decode(static_cast<uint32_t>(buffer >> 32), &bits);
    if (bits > buffered_bits) {
      // The input ended inside a code: padding, the most significant bits of EOS, at most 7
      // (no shorter code is all ones, so all-ones bits never decode as a symbol).
      const uint64_t padding_mask = ~uint64_t{0} << (64 - buffered_bits);
      const bool all_ones = (buffer & padding_mask) == padding_mask;
      if (buffered_bits > 7 || !all_ones) state = ParseState::kInvalid;
      break;
    }
    if (symbol == 256) {  // EOS must not be decoded (§5.2)
      state = ParseState::kInvalid;
      break;
    }
    *next_out++ = static_cast<char>(symbol);
    buffer <<= bits;
    buffered_bits -= bits;
  }
  out->resize(start + static_cast<size_t>(next_out - first));
  return state;
}

HpackDecoder::HpackDecoder(bool state_known) : state_known_(state_known) {}

void HpackDecoder::on_settings_header_table_size(uint32_t bytes) {
  settings_limit_bytes_ = std::max(settings_limit_bytes_, bytes);
}

void HpackDecoder::lose_state() {
  // Lost blocks may have added entries in front of the known ones, shifting their indices.
  table_.clear();
  table_bytes_ = 0;
  state_known_ = false;
}

void HpackDecoder::evict_to(uint32_t limit_bytes) {
  while (table_bytes_ > limit_bytes && !table_.empty()) {
    table_bytes_ -= entry_bytes(table_.back().name.size(), table_.back().value.size());
    table_.pop_back();
  }
}

void HpackDecoder::add(HeaderField field) {
  const uint32_t size = entry_bytes(field.name.size(), field.value.size());
  // §4.4: an entry larger than the table empties it and is not added.
  if (size > max_table_bytes_) {
    evict_to(0);
    return;
  }
  evict_to(max_table_bytes_ - size);
  if (size > kMaxTableBytes) {
    evict_to(0);
    state_known_ = false;  // the peer holds an entry the agent cannot afford
    return;
  }
  if (table_bytes_ + size > kMaxTableBytes) {
    // The peer keeps entries the agent drops for its own bound.
    evict_to(kMaxTableBytes - size);
    state_known_ = false;
  }
  table_.push_front({std::move(field.name), std::move(field.value), field.unknown});
  table_bytes_ += size;
}

bool HpackDecoder::lookup(uint64_t index, HeaderField* out) const {
  if (index == 0) return false;
  if (index <= kStaticTable.size()) {
    out->name.assign(kStaticTable[index - 1].first);
    out->value.assign(kStaticTable[index - 1].second);
    out->unknown = false;
    return true;
  }
  const uint64_t dynamic = index - kStaticTable.size() - 1;
  if (dynamic < table_.size()) {
    const Entry& e = table_[dynamic];
    out->name = e.name;
    out->value = e.value;
    out->unknown = e.unknown;
    return true;
  }
  if (state_known_) return false;  // §2.3.3: a reference outside the table is an error
  *out = HeaderField{{}, {}, true};
  return true;
}

ParseState HpackDecoder::decode(std::string_view block, std::vector<HeaderField>* out) {
  size_t pos = 0;
  bool fields_started = false;
  while (pos < block.size()) {
    const uint8_t b = static_cast<uint8_t>(block[pos]);
    uint64_t index;
    if (b & 0x80) {  // §6.1 indexed field
      if (decode_integer(block, &pos, 7, &index) != ParseState::kSuccess) {
        return ParseState::kInvalid;
      }
      HeaderField field;
      if (!lookup(index, &field)) return ParseState::kInvalid;
      out->push_back(std::move(field));
      fields_started = true;
      continue;
    }
    if ((b & 0xe0) == 0x20) {  // §6.3 dynamic table size update, only before the first field
      uint64_t size;
      if (fields_started || decode_integer(block, &pos, 5, &size) != ParseState::kSuccess) {
        return ParseState::kInvalid;
      }
      if (state_known_ && size > settings_limit_bytes_) return ParseState::kInvalid;
      max_table_bytes_ = static_cast<uint32_t>(size);
      evict_to(std::min(max_table_bytes_, kMaxTableBytes));
      continue;
    }
    // §6.2 literal fields: with incremental indexing (01xxxxxx, 6-bit name index), without
    // indexing (0000xxxx) or never indexed (0001xxxx), both with a 4-bit name index.
    const bool incremental = (b & 0xc0) == 0x40;
    if (decode_integer(block, &pos, incremental ? 6 : 4, &index) != ParseState::kSuccess) {
      return ParseState::kInvalid;
    }
    HeaderField field;
    if (index == 0) {
      if (decode_string(block, &pos, &field.name) != ParseState::kSuccess) {
        return ParseState::kInvalid;
      }
    } else if (!lookup(index, &field)) {
      return ParseState::kInvalid;
    }
    if (decode_string(block, &pos, &field.value) != ParseState::kSuccess) {
      return ParseState::kInvalid;
    }
    if (field.unknown) field.name.clear();  // a known value under an unknown name tells nothing
    if (incremental) add(field);
    out->push_back(std::move(field));
    fields_started = true;
  }
  return ParseState::kSuccess;
}

}  // namespace ztrace::http2
