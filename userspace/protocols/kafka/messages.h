#pragma once

// The Kafka messages spans are made from, parsed from whole (or captured-prefix) message
// bodies: Produce and Fetch (topics, partitions, records), Metadata (topic ids → names), and
// the group APIs (the consumer group's name). Protocol guide: kafka.apache.org/protocol,
// "The Messages"; field lists per version as its BNF gives them.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/kafka/records.h"
#include "userspace/protocols/kafka/wire.h"

namespace ztrace::kafka {

struct RequestHeader {
  int16_t api_key = -1;
  int16_t api_version = -1;
  int32_t correlation_id = 0;
  std::string client_id;
};

enum class HeaderParse : uint8_t { kOk, kNeedMore, kInvalid };

// A request header at the start of `message` (after the size prefix); `body_offset` is where
// the body starts. kNeedMore: `message` ends inside the header. kInvalid: unknown API key or
// version, or a client id no client sends (control bytes, over 255 bytes).
HeaderParse parse_request_header(std::string_view message, RequestHeader& header,
                                 size_t& body_offset);

// One partition of a Produce or Fetch, request and response merged.
struct PartitionData {
  std::string topic;  // empty until a topic id (Fetch v13+) is resolved
  Uuid topic_id{};
  bool has_topic_id = false;
  int32_t partition = -1;
  int16_t error_code = 0;
  int64_t base_offset = -1;  // Produce response: offset of the batch's first record
  RecordSummary records;     // Produce request's or Fetch response's records
};

struct TopicName {
  Uuid id{};
  std::string name;
};

struct ParseLimits {
  RecordLimits records;
  size_t max_partitions = 256;  // per message; the rest counted
  size_t max_produce_fingerprints = 1024;  // per partition of a Produce request
};

struct MessageStats {
  RecordStats records;
  uint64_t malformed_bodies = 0;    // a body that does not parse as its API and version says
  uint64_t partitions_dropped = 0;  // past ParseLimits::max_partitions
};

// Each parser reads what `body` holds; a body cut short (uncaptured bytes) gives what came
// before the cut, and returns false (as does a malformed one).
bool parse_produce_request(std::string_view body, int16_t version, const ParseLimits& limits,
                           MessageStats& stats, std::vector<PartitionData>& partitions,
                           int16_t& acks);
// Fills base_offset and error_code of the partitions the request named.
bool parse_produce_response(std::string_view body, int16_t version,
                            std::vector<PartitionData>& partitions);
bool parse_fetch_response(std::string_view body, int16_t version, const ParseLimits& limits,
                          MessageStats& stats, std::vector<PartitionData>& partitions,
                          int16_t& error_code);
bool parse_metadata_response(std::string_view body, int16_t version,
                             std::vector<TopicName>& topics);
// The group id of JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, or
// FindCoordinator (key type group); empty when the request names none.
std::string group_of_request(std::string_view body, int16_t api_key, int16_t version);

}  // namespace ztrace::kafka
