#pragma once

// A message's identity as its producer's call and its record on the wire both show it: key and
// value lengths and their first bytes (what bpf/rdkafka_probes.bpf.c copies at the call). Two
// messages with the same fingerprint are told apart by order (a partition keeps it).

#include <cstdint>
#include <optional>
#include <string_view>

namespace ztrace::kafka {

inline constexpr size_t kFingerprintPrefixBytes = 64;  // ZT_RDKAFKA_PREFIX_BYTES

struct RecordFingerprint {
  int64_t offset = 0;  // in a Produce request: relative to the batch's base offset
  uint64_t hash = 0;
};

// `key`/`value`: nullopt for a null one. Only the first kFingerprintPrefixBytes of each count.
uint64_t message_fingerprint(std::optional<std::string_view> key,
                             std::optional<std::string_view> value);
// The same from lengths and captured prefixes (a produce call).
uint64_t message_fingerprint(std::optional<uint64_t> key_bytes, std::string_view key_prefix,
                             std::optional<uint64_t> value_bytes, std::string_view value_prefix);

}  // namespace ztrace::kafka
