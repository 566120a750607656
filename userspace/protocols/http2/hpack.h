#pragma once

// HPACK header block decoder (RFC 7541) for one direction of one connection.
//
// The dynamic table mirrors the peer's encoder. When its earlier state is unknown (the agent
// joined the connection mid-way, or bytes of a header block were lost), entries added since
// are still exact: new entries go to the front (§2.3.3), so index 62 + k names the k-th
// newest entry whatever came before. A reference beyond what was seen yields a field marked
// unknown instead of a guess. Memory is bounded by kMaxTableBytes whatever the peer asks for;
// entries dropped for that bound turn later references to them into unknown fields too.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/http2/types.h"

namespace ztrace::http2 {

// Huffman-decodes `in` (RFC 7541 §5.2, Appendix B) onto `out`. Invalid: EOS inside the
// string, padding longer than 7 bits or not all ones.
ParseState huffman_decode(std::string_view in, std::string* out);

// RFC 7541 Appendix B: the code of a symbol, 0-255 or EOS (256), right-aligned in `code`.
struct HuffmanCode {
  uint32_t code;
  uint8_t bits;
};
HuffmanCode huffman_code(uint16_t symbol);

class HpackDecoder {
 public:
  static constexpr uint32_t kMaxTableBytes = 64 * 1024;

  // `state_known`: the decoder saw the connection from its start.
  explicit HpackDecoder(bool state_known = true);

  // Decodes one complete header block (all its CONTINUATION fragments joined). On kInvalid
  // the decoder's state is unspecified: the caller stops decoding this direction.
  // A partial block is not detectable here (its end may fall on a field boundary); callers
  // decode only blocks whose END_HEADERS frame arrived.
  ParseState decode(std::string_view block, std::vector<HeaderField>* out);

  // The decoding side advertised SETTINGS_HEADER_TABLE_SIZE (§6.5.2 of RFC 9113): the most
  // that table size updates may ask for. The largest value advertised is kept, since the
  // encoder may act on an older one until it sees the ACK.
  void on_settings_header_table_size(uint32_t bytes);

  // Bytes of a block were lost: its entries, and so the indices of all older ones, are
  // unknown from now on.
  void lose_state();

  bool state_known() const { return state_known_; }
  size_t table_entries() const { return table_.size(); }
  uint32_t table_bytes() const { return table_bytes_; }
  uint32_t max_table_bytes() const { return max_table_bytes_; }

 private:
  struct Entry {
    std::string name;
    std::string value;
    bool unknown = false;  // added by a field whose name was an unknown entry
  };
  void add(HeaderField field);
  void evict_to(uint32_t limit_bytes);
  // Field at HPACK index `index` (1-based, static then dynamic). False: out of range.
  bool lookup(uint64_t index, HeaderField* out) const;

  std::deque<Entry> table_;  // front: newest
  uint32_t table_bytes_ = 0;
  uint32_t max_table_bytes_ = kDefaultHeaderTableSize;  // set by table size updates
  uint32_t settings_limit_bytes_ = kDefaultHeaderTableSize;
  // False when entries older than table_.back() may exist in the peer's table unseen.
  bool state_known_ = true;
};

}  // namespace ztrace::http2
