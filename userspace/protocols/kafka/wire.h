#pragma once

// Reading Kafka's primitive types (protocol guide, "Protocol Primitive Types") from a bounded
// buffer. Every read checks the bounds: a read past the end sets the reader's error and
// returns a zero value, so message parsers read straight through and check ok() once.

#include <array>
#include <cstdint>
#include <string_view>

namespace ztrace::kafka {

using Uuid = std::array<uint8_t, 16>;

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? bytes_.size() - position_ : 0; }
  size_t position() const { return position_; }
  void fail() { ok_ = false; }

  int8_t int8() { return static_cast<int8_t>(big_endian(1)); }
  int16_t int16() { return static_cast<int16_t>(big_endian(2)); }
  int32_t int32() { return static_cast<int32_t>(big_endian(4)); }
  int64_t int64() { return static_cast<int64_t>(big_endian(8)); }
  Uuid uuid() {
    Uuid id{};
    std::string_view raw = take(16);
    for (size_t i = 0; i < raw.size(); ++i) id[i] = static_cast<uint8_t>(raw[i]);
    return id;
  }
  // UNSIGNED_VARINT: at most 5 bytes for 32 bits.
  uint32_t uvarint() { return static_cast<uint32_t>(varint_bits(5)); }
  // VARINT / VARLONG: zigzag.
  int32_t varint() {
    uint64_t v = varint_bits(5);
    return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  int64_t varlong() {
    uint64_t v = varint_bits(10);
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }

  // STRING / NULLABLE_STRING (int16 length, -1 null) or COMPACT_* (uvarint length + 1, 0 null).
  // A null string reads as empty.
  std::string_view string(bool compact) {
    int64_t length = compact ? int64_t{uvarint()} - 1 : int64_t{int16()};
    return length <= 0 ? std::string_view() : take(static_cast<size_t>(length));
  }
  // BYTES / NULLABLE_BYTES (int32 length) or COMPACT_*; null reads as empty.
  std::string_view bytes(bool compact) {
    int64_t length = compact ? int64_t{uvarint()} - 1 : int64_t{int32()};
    return length <= 0 ? std::string_view() : take(static_cast<size_t>(length));
  }
  // ARRAY length (int32, -1 null) or COMPACT_ARRAY (uvarint length + 1, 0 null); null is 0.
  // A count larger than the bytes left (each element takes at least one byte) is an error:
  // no loop runs on a corrupt count.
  uint32_t array_length(bool compact) {
    int64_t length = compact ? int64_t{uvarint()} - 1 : int64_t{int32()};
    if (length <= 0) return 0;
    if (static_cast<uint64_t>(length) > remaining()) {
      ok_ = false;
      return 0;
    }
    return static_cast<uint32_t>(length);
  }
  // TAGGED_FIELDS of a flexible version: skipped (none is needed for spans).
  void tagged_fields(bool flexible) {
    if (!flexible) return;
    uint32_t count = uvarint();
    if (count > remaining()) fail();
    for (uint32_t i = 0; i < count && ok_; ++i) {
      uvarint();  // tag
      take(uvarint());
    }
  }
  std::string_view take(size_t n) {
    if (!ok_ || n > bytes_.size() - position_) {
      ok_ = false;
      return {};
    }
    std::string_view out = bytes_.substr(position_, n);
    position_ += n;
    return out;
  }
  void skip(size_t n) { take(n); }

 private:
  uint64_t big_endian(size_t n) {
    std::string_view raw = take(n);
    uint64_t v = 0;
    for (char c : raw) v = v << 8 | static_cast<uint8_t>(c);
    return v;
  }
  uint64_t varint_bits(int max_bytes) {
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      std::string_view raw = take(1);
      if (raw.empty()) return 0;
      const auto byte = static_cast<uint8_t>(raw[0]);
      v |= uint64_t{byte & 0x7fu} << (7 * i);
      if (!(byte & 0x80)) return v;
    }
    ok_ = false;  // too long
    return 0;
  }

  std::string_view bytes_;
  size_t position_ = 0;
  bool ok_ = true;
};

}  // namespace ztrace::kafka
