#pragma once

// What spans need from a record set (protocol guide, "Record Batch" and "Message Sets"): how
// many records, their offsets, the key of a lone record, and the W3C contexts in their
// `traceparent` headers. Record values are never kept.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/kafka/message_fingerprint.h"
#include "userspace/spans/trace_context.h"

namespace ztrace::kafka {

struct RecordLimits {
  size_t max_batch_output_bytes = 4u << 20;  // decompressed bytes per batch
  size_t max_traceparents = 32;              // kept per record set; the rest counted
  size_t max_key_bytes = 256;
  size_t max_fingerprints = 0;  // records fingerprinted per record set (Produce requests)
};

// Why batches were given up, counted per parser.
struct RecordStats {
  uint64_t batches = 0;
  uint64_t compressed_batches = 0;
  uint64_t decompressed_bytes = 0;
  uint64_t over_budget = 0;    // decompression would pass RecordLimits::max_batch_output_bytes
  uint64_t corrupt = 0;        // bad lengths, counts or compressed data
  uint64_t unknown_codec = 0;  // attributes name no codec
  uint64_t unknown_magic = 0;  // neither v0, v1 nor v2
  uint64_t traceparents_dropped = 0;  // valid contexts past RecordLimits::max_traceparents
};

struct RecordSummary {
  uint32_t count = 0;
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  bool has_key = false;  // the first record's key (reported only when it is the only record)
  std::string key;
  std::vector<spans::TraceParent> traceparents;  // valid `traceparent` header values
  std::vector<int64_t> traceparent_offsets;      // the offset of each one's record
  // Up to RecordLimits::max_fingerprints records, to find them by their produce call.
  std::vector<RecordFingerprint> fingerprints;
  bool incomplete = false;  // some batch could not be read (counted in RecordStats)
};

// Adds the batches of `records` (the captured part of one partition's RECORDS field, which
// was `declared_bytes` long on the wire) to `summary`. A batch that runs past the declared
// length is one the broker cut (a fetch may end so): not delivered, not counted. One that runs
// past the captured bytes only is counted from its v2 header (count, offsets) and marks the
// summary incomplete.
void summarize_records(std::string_view records, size_t declared_bytes, const RecordLimits& limits,
                       RecordStats& stats, RecordSummary& summary);
inline void summarize_records(std::string_view records, const RecordLimits& limits,
                              RecordStats& stats, RecordSummary& summary) {
  summarize_records(records, records.size(), limits, stats, summary);
}

}  // namespace ztrace::kafka
