#include "userspace/protocols/kafka/records.h"

#include <string>

#include "userspace/protocols/kafka/compression.h"
#include "userspace/protocols/kafka/wire.h"

namespace ztrace::kafka {
namespace {

constexpr size_t kBatchV2HeaderBytes = 61;  // baseOffset .. records count
constexpr size_t kLogOverheadBytes = 12;    // offset int64 + length int32

// Offsets come from the wire: arithmetic on them wraps instead of overflowing.
int64_t add_offsets(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

struct Context {
  const RecordLimits& limits;
  RecordStats& stats;
  RecordSummary& summary;
};

void add_record(Context& c, int64_t offset, bool has_key, std::string_view key) {
  RecordSummary& s = c.summary;
  if (s.count == 0) {
    s.first_offset = offset;
    s.has_key = has_key;
    if (has_key) s.key.assign(key.substr(0, c.limits.max_key_bytes));
  }
  ++s.count;
  s.last_offset = offset;
}

// `count` records whose bytes were not captured (offsets from the batch header).
void add_uncaptured_records(Context& c, int64_t first_offset, int64_t last_offset, uint32_t count) {
  RecordSummary& s = c.summary;
  if (s.count == 0) {
    s.first_offset = first_offset;
    s.has_key = false;
  }
  s.count += count;
  s.last_offset = last_offset;
}

void add_header(Context& c, int64_t offset, std::string_view name, std::string_view value) {
  if (name != "traceparent") return;
  auto parsed = spans::parse_traceparent(value);
  if (!parsed) return;
  if (c.summary.traceparents.size() >= c.limits.max_traceparents) {
    ++c.stats.traceparents_dropped;
    return;
  }
  c.summary.traceparents.push_back(*parsed);
  c.summary.traceparent_offsets.push_back(offset);
}

// The records of a v2 batch (after its header): each a varint-length record.
bool read_v2_records(Context& c, std::string_view body, int64_t base_offset, int32_t count) {
  Reader r(body);
  for (int32_t i = 0; i < count; ++i) {
    const int32_t length = r.varint();
    if (!r.ok() || length < 0) return false;
    Reader record(r.take(static_cast<size_t>(length)));
    if (!r.ok()) return false;
    record.int8();     // attributes
    record.varlong();  // timestampDelta
    const int32_t offset_delta = record.varint();
    const int32_t key_length = record.varint();
    std::string_view key = key_length > 0 ? record.take(static_cast<size_t>(key_length)) : "";
    const int32_t value_length = record.varint();
    std::string_view value = value_length > 0 ? record.take(static_cast<size_t>(value_length)) : "";
    const int32_t headers = record.varint();
    if (!record.ok() || headers < 0 || static_cast<size_t>(headers) > record.remaining()) {
      return false;
    }
    const int64_t offset = add_offsets(base_offset, offset_delta);
    add_record(c, offset, key_length >= 0, key);
    if (c.summary.fingerprints.size() < c.limits.max_fingerprints && record.ok()) {
      c.summary.fingerprints.push_back(
          {offset, message_fingerprint(key_length >= 0 ? std::optional(key) : std::nullopt,
                                       value_length >= 0 ? std::optional(value) : std::nullopt)});
    }
    for (int32_t h = 0; h < headers && record.ok(); ++h) {
      const int32_t name_length = record.varint();
      std::string_view name = name_length > 0 ? record.take(static_cast<size_t>(name_length)) : "";
      const int32_t header_value_length = record.varint();
      std::string_view value =
          header_value_length > 0 ? record.take(static_cast<size_t>(header_value_length)) : "";
      if (record.ok()) add_header(c, offset, name, value);
    }
    if (!record.ok()) return false;
  }
  return true;
}

bool decompress_into(Context& c, uint8_t codec, std::string_view input, std::string& out) {
  ++c.stats.compressed_batches;
  switch (decompress(codec, input, c.limits.max_batch_output_bytes, out)) {
    case DecompressResult::kOk:
      c.stats.decompressed_bytes += out.size();
      return true;
    case DecompressResult::kOverBudget:
      ++c.stats.over_budget;
      break;
    case DecompressResult::kCorrupt:
      ++c.stats.corrupt;
      break;
    case DecompressResult::kUnknownCodec:
      ++c.stats.unknown_codec;
      break;
  }
  c.summary.incomplete = true;
  return false;
}

// A whole v2 batch (`batch` starts at its baseOffset).
void read_batch_v2(Context& c, std::string_view batch) {
  Reader r(batch);
  const int64_t base_offset = r.int64();
  r.int32();  // batchLength
  r.int32();  // partitionLeaderEpoch
  r.int8();   // magic
  r.int32();  // crc
  const int16_t attributes = r.int16();
  r.skip(4 + 8 + 8 + 8 + 2 + 4);  // lastOffsetDelta .. baseSequence
  const int32_t count = r.int32();
  if (!r.ok() || count < 0) {
    ++c.stats.corrupt;
    c.summary.incomplete = true;
    return;
  }
  if (attributes & 0x20) return;  // control batch (transaction markers): no records of users
  std::string_view body = batch.substr(kBatchV2HeaderBytes);
  std::string inflated;
  const uint8_t codec = attributes & 0x07;
  if (codec != 0) {
    if (!decompress_into(c, codec, body, inflated)) return;
    body = inflated;
  }
  if (!read_v2_records(c, body, base_offset, count)) {
    ++c.stats.corrupt;
    c.summary.incomplete = true;
  }
}

// v0/v1 messages (a message set); a compressed wrapper holds a message set in its value.
void read_message_set(Context& c, std::string_view set, int depth) {
  Reader r(set);
  while (r.remaining() >= kLogOverheadBytes) {
    const int64_t offset = r.int64();
    const int32_t size = r.int32();
    if (size < 14 || static_cast<size_t>(size) > r.remaining()) {
      if (size < 14) {
        ++c.stats.corrupt;
        c.summary.incomplete = true;
      }
      return;  // a partial message ends a fetched set
    }
    ++c.stats.batches;
    Reader m(r.take(static_cast<size_t>(size)));
    m.int32();  // crc
    const int8_t magic = m.int8();
    const int8_t attributes = m.int8();
    if (magic == 1) m.int64();  // timestamp
    const int32_t key_length = m.int32();
    std::string_view key = key_length > 0 ? m.take(static_cast<size_t>(key_length)) : "";
    std::string_view value = m.bytes(false);
    if (!m.ok() || magic > 1) {
      ++c.stats.corrupt;
      c.summary.incomplete = true;
      return;
    }
    const uint8_t codec = attributes & 0x07;
    if (codec == 0) {
      add_record(c, offset, key_length >= 0, key);
      continue;
    }
    std::string inflated;
    if (depth > 0 || !decompress_into(c, codec, value, inflated)) {
      if (depth > 0) ++c.stats.corrupt;  // wrappers do not nest
      continue;
    }
    // v1 inner offsets are relative; the wrapper carries the last one's absolute offset.
    RecordSummary inner;
    Context inner_context{c.limits, c.stats, inner};
    read_message_set(inner_context, inflated, depth + 1);
    const int64_t shift = magic == 1
                              ? static_cast<int64_t>(static_cast<uint64_t>(offset) -
                                                     static_cast<uint64_t>(inner.last_offset))
                              : 0;
    for (uint32_t i = 0; i < inner.count; ++i) {
      add_record(c, add_offsets(add_offsets(inner.first_offset, shift), i), i == 0 && inner.has_key,
                 inner.key);
    }
    c.summary.incomplete |= inner.incomplete;
  }
}

}  // namespace

void summarize_records(std::string_view records, size_t declared_bytes, const RecordLimits& limits,
                       RecordStats& stats, RecordSummary& summary) {
  Context c{limits, stats, summary};
  // Batches and message sets share the first 17 bytes' layout up to magic (offset 16).
  while (records.size() >= kLogOverheadBytes + 5) {
    const auto magic = static_cast<int8_t>(records[16]);
    Reader r(records);
    const int64_t base_offset = r.int64();
    const int32_t length = r.int32();
    if (length < 0) {
      ++stats.corrupt;
      summary.incomplete = true;
      return;
    }
    const size_t total = kLogOverheadBytes + static_cast<size_t>(length);
    if (total > declared_bytes) return;  // a partial batch the broker cut: not delivered
    if (total > records.size()) {
      // Sent whole but captured in part: a v2 header still tells the count and offsets.
      summary.incomplete = true;
      if (magic == 2 && records.size() >= kBatchV2HeaderBytes) {
        Reader header(records.substr(23));  // lastOffsetDelta (after attributes)
        const int32_t last_delta = header.int32();
        header.skip(8 + 8 + 8 + 2 + 4);
        const int32_t count = header.int32();
        if (count > 0 && last_delta >= 0) {
          ++stats.batches;
          add_uncaptured_records(c, base_offset, add_offsets(base_offset, last_delta), count);
        }
      }
      return;
    }
    if (magic == 2) {
      if (total < kBatchV2HeaderBytes) {
        ++stats.corrupt;
        summary.incomplete = true;
        return;
      }
      ++stats.batches;
      read_batch_v2(c, records.substr(0, total));
    } else if (magic == 0 || magic == 1) {
      read_message_set(c, records.substr(0, total), 0);
    } else {
      ++stats.unknown_magic;
      summary.incomplete = true;
      return;
    }
    records.remove_prefix(total);
    declared_bytes -= total;
  }
}

}  // namespace ztrace::kafka
