#pragma once

// Kafka for one TCP connection: frames both directions by their size prefix, pairs responses
// with requests by correlation id (many in flight, answered in order), and parses what spans
// need. Protocol guide: kafka.apache.org/protocol ("Common Request and Response Structure").

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/common/connection_types.h"
#include "userspace/protocols/kafka/kept_bytes.h"
#include "userspace/protocols/kafka/messages.h"

namespace ztrace::kafka {

// A request and its response (Produce with acks=0 has none), or a request that carries state
// (a consumer group's name).
struct Exchange {
  RequestHeader request;
  uint64_t request_start_ns = 0;  // timestamp of the syscall holding the request's first byte
  uint64_t request_end_ns = 0;
  bool has_response = false;
  uint64_t response_start_ns = 0;
  uint64_t response_end_ns = 0;
  int16_t acks = -1;                      // Produce
  int16_t error_code = 0;                 // the response's top-level error (Fetch v7+)
  std::vector<PartitionData> partitions;  // Produce, Fetch
  std::vector<TopicName> topic_names;     // Metadata v10+
  std::string group;                      // the connection's consumer group, when known
  bool truncated = false;                 // bytes of the request or response were not captured
};

struct ParserStats {
  MessageStats messages;
  uint64_t requests = 0;
  uint64_t unknown_api = 0;       // API key or version not in the guide: framed and skipped
  uint64_t orphan_responses = 0;  // no request with that correlation id
  uint64_t unanswered = 0;        // requests skipped by a later response, or open at close
  uint64_t lost_sync = 0;         // a size prefix fell in uncaptured bytes
  uint64_t truncated = 0;         // messages with uncaptured bytes
  uint64_t dropped = 0;           // bounds hit: requests in flight, exchanges untaken
  uint64_t over_memory = 0;       // messages cut short by the process's budget (kKeptBytesBudget)
};

// A request head with a traceparent (the contract's RequestHead): Kafka carries contexts in
// records, not in request headers, so there are none.
struct RequestHeadContext {
  uint64_t start_ns = 0;
  std::string traceparent;
  std::string tracestate;
};

// Not thread-safe; one per connection. Memory is bounded: at most 1 MiB kept of a message,
// and of all connections' messages in flight together kKeptBytesBudget past their first
// kUnbudgetedBytes (past either, the rest of the message is skipped as if uncaptured), 256
// requests in flight, 1024 exchanges untaken.
class ConnectionParser {
 public:
  ConnectionParser(Role role, bool joined_midstream);

  void on_data(Direction direction, std::string_view bytes, uint64_t gap_bytes_after,
               uint64_t timestamp_ns, bool syscall_start);
  void on_close(uint64_t timestamp_ns);
  std::vector<Exchange> take_exchanges();
  std::vector<RequestHeadContext> take_request_head_contexts() { return {}; }

  bool failed() const { return failed_; }
  std::string_view failure_reason() const { return failure_reason_; }
  Role role() const { return role_; }
  const ParserStats& stats() const { return stats_; }

  static constexpr size_t kMaxKeptBytes = 1u << 20;
  static constexpr uint32_t kMaxMessageBytes = 256u << 20;  // larger: not Kafka, or corrupt

 private:
  struct Pending {
    Exchange exchange;
    bool skip = false;  // unknown API or unreadable header: framed, no exchange
  };
  enum class Start : uint8_t { kYes, kNo, kNeedMore };
  struct Stream {
    std::string buffer;          // the message's captured bytes, size prefix included
    KeptBytesShare kept;         // what `buffer` holds, taken from the process's budget
    uint64_t message_bytes = 0;  // prefix + size, once the prefix is known
    uint64_t consumed = 0;       // bytes of the message seen, captured or not
    bool gapped = false;
    bool lost_sync = false;  // waiting for a syscall that starts with a message
    // The first bytes of a call, too few to tell whether it starts a message: the call's next
    // piece decides (a call may arrive in pieces of any size).
    std::string call_start;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
  };

  bool is_request_direction(Direction direction) const;
  void feed(Stream& stream, bool requests, std::string_view bytes, uint64_t timestamp_ns);
  void feed_gap(Stream& stream, bool requests, uint64_t gap_bytes);
  Start starts_message(bool requests, std::string_view bytes) const;
  // Whether `bytes` (at a call start, or continuing a kept call start) resume framing; keeps
  // them when undecided. `joined` holds the kept start and `bytes` when they were joined.
  Start resume_at(Stream& stream, bool requests, std::string_view& bytes, bool syscall_start,
                  std::string& joined);
  void on_message(Stream& stream, bool requests);
  void on_request(const Stream& stream);
  void on_response(const Stream& stream);
  void emit(Exchange&& exchange);
  void fail(std::string_view reason);
  void reset(Stream& stream);

  Role role_;
  bool failed_ = false;
  bool any_message_ = false;
  std::string_view failure_reason_;
  Stream streams_[2];  // egress, ingress
  std::deque<Pending> pending_;
  std::vector<Exchange> exchanges_;
  std::string group_;
  bool group_reported_ = false;
  ParseLimits limits_;
  ParserStats stats_;
};

}  // namespace ztrace::kafka
