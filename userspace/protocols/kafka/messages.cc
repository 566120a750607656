#include "userspace/protocols/kafka/messages.h"

#include "userspace/protocols/kafka/api.h"

namespace ztrace::kafka {
namespace {

bool plausible_client_id(std::string_view id) {
  for (char c : id) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

void skip_int32_array(Reader& r, bool flexible) {
  const uint32_t n = r.array_length(flexible);
  r.skip(size_t{n} * 4);
}

// Keeps a partition unless the message already gave `limits.max_partitions`.
PartitionData* add_partition(std::vector<PartitionData>& partitions, const ParseLimits& limits,
                             MessageStats& stats) {
  if (partitions.size() >= limits.max_partitions) {
    ++stats.partitions_dropped;
    return nullptr;
  }
  return &partitions.emplace_back();
}

// A RECORDS field (NULLABLE_BYTES or COMPACT_NULLABLE_BYTES). When the body was cut short
// (uncaptured bytes), `captured` is what came before the cut, `declared` the field's length,
// and `cut` is set: the body cannot be read further.
struct RecordsField {
  std::string_view captured;
  size_t declared = 0;
  bool cut = false;
};
RecordsField read_records(Reader& r, std::string_view body, bool flexible) {
  const size_t before = r.position();
  const std::string_view records = r.bytes(flexible);
  if (r.ok()) return {records, records.size(), false};
  Reader length(body.substr(before));
  const int64_t declared = flexible ? int64_t{length.uvarint()} - 1 : int64_t{length.int32()};
  if (!length.ok() || declared <= 0) return {{}, 0, true};
  return {body.substr(before + length.position()), static_cast<size_t>(declared), true};
}

}  // namespace

HeaderParse parse_request_header(std::string_view message, RequestHeader& header,
                                 size_t& body_offset) {
  Reader r(message);
  header.api_key = r.int16();
  header.api_version = r.int16();
  header.correlation_id = r.int32();
  if (!r.ok()) return HeaderParse::kNeedMore;
  if (!known_version(header.api_key, header.api_version)) return HeaderParse::kInvalid;
  const int16_t id_length = r.int16();  // NULLABLE_STRING in every header version
  if (!r.ok()) return HeaderParse::kNeedMore;
  if (id_length < -1 || id_length > 255) return HeaderParse::kInvalid;
  std::string_view id = id_length > 0 ? r.take(static_cast<size_t>(id_length)) : "";
  if (!r.ok()) return HeaderParse::kNeedMore;
  if (!plausible_client_id(id)) return HeaderParse::kInvalid;
  header.client_id.assign(id);
  if (request_header_has_tags(header.api_key, header.api_version)) {
    r.tagged_fields(true);
    if (!r.ok()) return HeaderParse::kNeedMore;
  }
  body_offset = r.position();
  return HeaderParse::kOk;
}

bool parse_produce_request(std::string_view body, int16_t version, const ParseLimits& limits,
                           MessageStats& stats, std::vector<PartitionData>& partitions,
                           int16_t& acks) {
  RecordLimits produce_records = limits.records;  // the records' produce calls are found later
  produce_records.max_fingerprints = limits.max_produce_fingerprints;
  const bool flexible = version >= 9;
  Reader r(body);
  if (version >= 3) r.string(flexible);  // transactional_id
  acks = r.int16();
  r.int32();  // timeout_ms
  const uint32_t topics = r.array_length(flexible);
  for (uint32_t t = 0; t < topics && r.ok(); ++t) {
    const std::string_view topic = r.string(flexible);
    const uint32_t count = r.array_length(flexible);
    for (uint32_t p = 0; p < count && r.ok(); ++p) {
      const int32_t index = r.int32();
      if (!r.ok()) break;
      const RecordsField records = read_records(r, body, flexible);
      r.tagged_fields(flexible);
      PartitionData* partition = add_partition(partitions, limits, stats);
      if (!partition) continue;
      partition->topic.assign(topic);
      partition->partition = index;
      summarize_records(records.captured, records.declared, produce_records, stats.records,
                        partition->records);
      if (records.cut) return false;
    }
    r.tagged_fields(flexible);
  }
  r.tagged_fields(flexible);
  return r.ok();
}

bool parse_produce_response(std::string_view body, int16_t version,
                            std::vector<PartitionData>& partitions) {
  const bool flexible = version >= 9;
  Reader r(body);
  const uint32_t topics = r.array_length(flexible);
  for (uint32_t t = 0; t < topics && r.ok(); ++t) {
    const std::string_view topic = r.string(flexible);
    const uint32_t count = r.array_length(flexible);
    for (uint32_t p = 0; p < count && r.ok(); ++p) {
      const int32_t index = r.int32();
      const int16_t error_code = r.int16();
      const int64_t base_offset = r.int64();
      if (version >= 2) r.int64();  // log_append_time_ms
      if (version >= 5) r.int64();  // log_start_offset
      if (version >= 8) {
        const uint32_t errors = r.array_length(flexible);
        for (uint32_t e = 0; e < errors && r.ok(); ++e) {
          r.int32();
          r.string(flexible);
          r.tagged_fields(flexible);
        }
        r.string(flexible);  // error_message
      }
      r.tagged_fields(flexible);
      if (!r.ok()) break;
      for (PartitionData& partition : partitions) {
        if (partition.partition == index && partition.topic == topic) {
          partition.error_code = error_code;
          partition.base_offset = base_offset;
        }
      }
    }
    r.tagged_fields(flexible);
  }
  return r.ok();
}

bool parse_fetch_response(std::string_view body, int16_t version, const ParseLimits& limits,
                          MessageStats& stats, std::vector<PartitionData>& partitions,
                          int16_t& error_code) {
  const bool flexible = version >= 12;
  Reader r(body);
  if (version >= 1) r.int32();  // throttle_time_ms
  if (version >= 7) {
    error_code = r.int16();
    r.int32();  // session_id
  }
  const uint32_t topics = r.array_length(flexible);
  for (uint32_t t = 0; t < topics && r.ok(); ++t) {
    std::string_view topic;
    Uuid topic_id{};
    if (version >= 13) {
      topic_id = r.uuid();
    } else {
      topic = r.string(flexible);
    }
    const uint32_t count = r.array_length(flexible);
    for (uint32_t p = 0; p < count && r.ok(); ++p) {
      const int32_t index = r.int32();
      const int16_t partition_error = r.int16();
      r.int64();                    // high_watermark
      if (version >= 4) r.int64();  // last_stable_offset
      if (version >= 5) r.int64();  // log_start_offset
      if (version >= 4) {
        const uint32_t aborted = r.array_length(flexible);
        for (uint32_t a = 0; a < aborted && r.ok(); ++a) {
          r.skip(16);
          r.tagged_fields(flexible);
        }
      }
      if (version >= 11) r.int32();  // preferred_read_replica
      if (!r.ok()) break;
      const RecordsField records = read_records(r, body, flexible);
      r.tagged_fields(flexible);
      PartitionData* partition = add_partition(partitions, limits, stats);
      if (!partition) continue;
      partition->topic.assign(topic);
      partition->topic_id = topic_id;
      partition->has_topic_id = version >= 13;
      partition->partition = index;
      partition->error_code = partition_error;
      summarize_records(records.captured, records.declared, limits.records, stats.records,
                        partition->records);
      if (records.cut) return false;
    }
    r.tagged_fields(flexible);
  }
  r.tagged_fields(flexible);
  return r.ok();
}

bool parse_metadata_response(std::string_view body, int16_t version,
                             std::vector<TopicName>& topics) {
  const bool flexible = version >= 9;
  Reader r(body);
  if (version >= 3) r.int32();  // throttle_time_ms
  const uint32_t brokers = r.array_length(flexible);
  for (uint32_t b = 0; b < brokers && r.ok(); ++b) {
    r.int32();
    r.string(flexible);
    r.int32();
    if (version >= 1) r.string(flexible);  // rack
    r.tagged_fields(flexible);
  }
  if (version >= 2) r.string(flexible);  // cluster_id
  if (version >= 1) r.int32();           // controller_id
  const uint32_t count = r.array_length(flexible);
  for (uint32_t t = 0; t < count && r.ok(); ++t) {
    r.int16();  // error_code
    const std::string_view name = r.string(flexible);
    Uuid id{};
    if (version >= 10) id = r.uuid();
    if (version >= 1) r.int8();  // is_internal
    const uint32_t partitions = r.array_length(flexible);
    for (uint32_t p = 0; p < partitions && r.ok(); ++p) {
      r.skip(2 + 4 + 4);                                // error_code, partition_index, leader_id
      if (version >= 7) r.int32();                      // leader_epoch
      skip_int32_array(r, flexible);                    // replica_nodes
      skip_int32_array(r, flexible);                    // isr_nodes
      if (version >= 5) skip_int32_array(r, flexible);  // offline_replicas
      r.tagged_fields(flexible);
    }
    if (version >= 8) r.int32();  // topic_authorized_operations
    r.tagged_fields(flexible);
    if (r.ok() && version >= 10 && !name.empty()) topics.push_back({id, std::string(name)});
  }
  return r.ok();
}

std::string group_of_request(std::string_view body, int16_t api_key, int16_t version) {
  const bool flexible = is_flexible(api_key, version);
  Reader r(body);
  std::string_view group;
  switch (api_key) {
    case kJoinGroup:
    case kSyncGroup:
    case kHeartbeat:
    case kLeaveGroup:
    case kOffsetCommit:
      group = r.string(flexible);
      break;
    case kOffsetFetch:
      if (version >= 8) {
        if (r.array_length(flexible) > 0) group = r.string(flexible);
      } else {
        group = r.string(flexible);
      }
      break;
    case kFindCoordinator:
      if (version >= 4) {
        const int8_t key_type = r.int8();
        if (key_type == 0 && r.array_length(flexible) > 0) group = r.string(flexible);
      } else {
        group = r.string(flexible);
        if (version >= 1 && r.int8() != 0) group = {};  // a transaction coordinator
      }
      break;
    default:
      break;
  }
  return r.ok() ? std::string(group) : std::string();
}

}  // namespace ztrace::kafka
