#pragma once

// Kafka API keys and versions as the protocol guide lists them (kafka.apache.org/protocol,
// "Api Keys"; versions up to Apache Kafka 4.0), and which versions are flexible (KIP-482:
// request header v2, tagged fields, compact strings and arrays).

#include <cstdint>
#include <string_view>

namespace ztrace::kafka {

enum ApiKey : int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kApiVersions = 18,
};

struct ApiInfo {
  std::string_view name;       // empty: not an API key this table knows
  int16_t max_version = -1;    // newest version known
  int16_t first_flexible = 0;  // first flexible version (> max_version: never)
};

ApiInfo api_info(int16_t api_key);

// The API key and version are ones the guide defines.
inline bool known_version(int16_t api_key, int16_t api_version) {
  const ApiInfo info = api_info(api_key);
  return !info.name.empty() && api_version >= 0 && api_version <= info.max_version;
}

inline bool is_flexible(int16_t api_key, int16_t api_version) {
  return api_version >= api_info(api_key).first_flexible;
}

// Request header v2 (client id, then tagged fields) for flexible versions, else v1. The client
// id is a (non-compact) NULLABLE_STRING in both.
inline bool request_header_has_tags(int16_t api_key, int16_t api_version) {
  return is_flexible(api_key, api_version);
}

// Response header v1 (correlation id, tagged fields) for flexible versions, else v0; an
// ApiVersions response is always v0, so that a client can read it whatever it asked (KIP-511).
inline bool response_header_has_tags(int16_t api_key, int16_t api_version) {
  return api_key != kApiVersions && is_flexible(api_key, api_version);
}

}  // namespace ztrace::kafka
