#include "userspace/protocols/kafka/connection_parser.h"

#include <algorithm>
#include <utility>

#include "userspace/protocols/kafka/api.h"

namespace ztrace::kafka {
namespace {

constexpr size_t kMaxPending = 256;
constexpr size_t kMaxExchanges = 1024;
constexpr size_t kSizeBytes = 4;

uint32_t read_u32(std::string_view bytes) {
  return uint32_t{static_cast<uint8_t>(bytes[0])} << 24 |
         uint32_t{static_cast<uint8_t>(bytes[1])} << 16 |
         uint32_t{static_cast<uint8_t>(bytes[2])} << 8 | uint32_t{static_cast<uint8_t>(bytes[3])};
}

// Smallest message: a response header v0 (correlation id); a request header is 10 bytes.
bool plausible_size(uint32_t size) {
  return size >= 4 && size <= ConnectionParser::kMaxMessageBytes;
}

bool is_group_api(int16_t api_key) {
  switch (api_key) {
    case kJoinGroup:
    case kSyncGroup:
    case kHeartbeat:
    case kLeaveGroup:
    case kOffsetCommit:
    case kOffsetFetch:
    case kFindCoordinator:
      return true;
    default:
      return false;
  }
}

}  // namespace

ConnectionParser::ConnectionParser(Role role, bool joined_midstream) : role_(role) {
  // A connection joined mid-way may be inside a message: wait for a syscall that starts one.
  if (joined_midstream) {
    streams_[0].lost_sync = true;
    streams_[1].lost_sync = true;
  }
}

bool ConnectionParser::is_request_direction(Direction direction) const {
  return (role_ == Role::kServer) == (direction == Direction::kIngress);
}

void ConnectionParser::on_data(Direction direction, std::string_view bytes,
                               uint64_t gap_bytes_after, uint64_t timestamp_ns,
                               bool syscall_start) {
  if (failed_) return;
  Stream& stream = streams_[static_cast<int>(direction)];
  std::string joined;
  if (role_ == Role::kUnknown) {
    // The first direction that starts with a request carries requests.
    if (resume_at(stream, true, bytes, syscall_start, joined) != Start::kYes) {
      if (gap_bytes_after) stream.call_start.clear();  // the call's rest is unknown
      return;
    }
    role_ = direction == Direction::kEgress ? Role::kClient : Role::kServer;
    // This call starts a request; the other direction resumes at a response to one.
    for (Stream& each : streams_) {
      each.lost_sync = &each != &stream;
      reset(each);
    }
  }
  const bool requests = is_request_direction(direction);
  if (stream.lost_sync) {
    if (resume_at(stream, requests, bytes, syscall_start, joined) != Start::kYes) {
      if (gap_bytes_after) stream.call_start.clear();
      return;
    }
    stream.lost_sync = false;
    reset(stream);
  }
  feed(stream, requests, bytes, timestamp_ns);
  if (gap_bytes_after && !failed_) feed_gap(stream, requests, gap_bytes_after);
}

ConnectionParser::Start ConnectionParser::resume_at(Stream& stream, bool requests,
                                                    std::string_view& bytes, bool syscall_start,
                                                    std::string& joined) {
  if (syscall_start) {
    stream.call_start.clear();
  } else if (!stream.call_start.empty()) {
    joined = std::move(stream.call_start);
    stream.call_start.clear();
    joined.append(bytes);
    bytes = joined;
  } else {
    return Start::kNo;  // inside a call whose start did not begin a message
  }
  const Start start = starts_message(requests, bytes);
  // A request header is 4 + 10 + a client id of at most 255 bytes + tagged fields.
  if (start == Start::kNeedMore && bytes.size() < 4096) stream.call_start.assign(bytes);
  return start;
}

ConnectionParser::Start ConnectionParser::starts_message(bool requests,
                                                         std::string_view bytes) const {
  if (bytes.size() < kSizeBytes) return Start::kNeedMore;
  if (!plausible_size(read_u32(bytes))) return Start::kNo;
  if (requests) {
    RequestHeader header;
    size_t body_offset = 0;
    switch (parse_request_header(bytes.substr(kSizeBytes), header, body_offset)) {
      case HeaderParse::kOk:
        return Start::kYes;
      case HeaderParse::kNeedMore:
        return Start::kNeedMore;
      case HeaderParse::kInvalid:
        return Start::kNo;
    }
  }
  if (bytes.size() < kSizeBytes + 4) return Start::kNeedMore;
  const auto correlation_id = static_cast<int32_t>(read_u32(bytes.substr(kSizeBytes)));
  const bool pending = std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return p.exchange.request.correlation_id == correlation_id;
  });
  return pending ? Start::kYes : Start::kNo;
}

void ConnectionParser::reset(Stream& stream) {
  // A large message's buffer is given back: idle connections keep small ones only.
  if (stream.buffer.capacity() > 64 * 1024) {
    std::string().swap(stream.buffer);
  } else {
    stream.buffer.clear();
  }
  stream.kept.release();
  stream.message_bytes = 0;
  stream.consumed = 0;
  stream.gapped = false;
}

void ConnectionParser::feed(Stream& stream, bool requests, std::string_view bytes,
                            uint64_t timestamp_ns) {
  while (!bytes.empty() && !failed_ && !stream.lost_sync) {
    if (stream.consumed == 0) stream.start_ns = timestamp_ns;
    stream.end_ns = timestamp_ns;
    if (stream.consumed < kSizeBytes) {
      const size_t n = std::min(kSizeBytes - stream.consumed, uint64_t{bytes.size()});
      stream.buffer.append(bytes.substr(0, n));
      stream.consumed += n;
      bytes.remove_prefix(n);
      if (stream.consumed < kSizeBytes) return;
      const uint32_t size = read_u32(stream.buffer);
      if (!plausible_size(size)) {
        if (!any_message_) return fail("not Kafka: implausible size");
        ++stats_.lost_sync;  // found again at a call that starts a message
        stream.lost_sync = true;
        reset(stream);
        return;
      }
      stream.message_bytes = uint64_t{size} + kSizeBytes;
    }
    const size_t n = std::min(stream.message_bytes - stream.consumed, uint64_t{bytes.size()});
    // After uncaptured bytes the buffer stops: what follows would not be contiguous with it.
    const size_t room = kMaxKeptBytes - std::min(kMaxKeptBytes, stream.buffer.size());
    size_t keep = stream.gapped ? 0 : std::min(n, room);
    const size_t unbudgeted = kUnbudgetedBytes - std::min(kUnbudgetedBytes, stream.buffer.size());
    if (keep > unbudgeted) {
      const size_t granted = stream.kept.take(keep - unbudgeted);
      if (granted < keep - unbudgeted) ++stats_.over_memory;  // once: gapped from here
      keep = unbudgeted + granted;
    }
    stream.buffer.append(bytes.substr(0, keep));
    if (keep < n) stream.gapped = true;
    stream.consumed += n;
    bytes.remove_prefix(n);
    if (stream.consumed == stream.message_bytes) on_message(stream, requests);
  }
}

void ConnectionParser::feed_gap(Stream& stream, bool requests, uint64_t gap_bytes) {
  if (stream.lost_sync) return;
  while (gap_bytes > 0) {
    if (stream.consumed < kSizeBytes) {
      // The size prefix was not captured: the message cannot be framed.
      ++stats_.lost_sync;
      stream.lost_sync = true;
      reset(stream);
      return;
    }
    const uint64_t n = std::min(stream.message_bytes - stream.consumed, gap_bytes);
    stream.consumed += n;
    stream.gapped = true;
    gap_bytes -= n;
    if (stream.consumed == stream.message_bytes) on_message(stream, requests);
  }
}

void ConnectionParser::on_message(Stream& stream, bool requests) {
  if (stream.gapped) ++stats_.truncated;
  if (requests) {
    on_request(stream);
  } else {
    on_response(stream);
  }
  any_message_ = true;
  reset(stream);
}

void ConnectionParser::on_request(const Stream& stream) {
  ++stats_.requests;
  const std::string_view message = std::string_view(stream.buffer).substr(kSizeBytes);
  Pending pending;
  Exchange& exchange = pending.exchange;
  exchange.request_start_ns = stream.start_ns;
  exchange.request_end_ns = stream.end_ns;
  exchange.truncated = stream.gapped;
  size_t body_offset = 0;
  switch (parse_request_header(message, exchange.request, body_offset)) {
    case HeaderParse::kOk:
      break;
    case HeaderParse::kInvalid:
      if (!any_message_) return fail("not Kafka: unknown API or client id");
      ++stats_.unknown_api;
      pending.skip = true;
      break;
    case HeaderParse::kNeedMore:
      ++stats_.messages.malformed_bodies;
      pending.skip = true;
      break;
  }
  if (message.size() >= 8) {  // the correlation id pairs even a skipped request
    exchange.request.correlation_id = static_cast<int32_t>(read_u32(message.substr(4)));
  }
  if (!pending.skip) {
    const std::string_view body = message.substr(body_offset);
    const RequestHeader& header = exchange.request;
    if (header.api_key == kProduce) {
      if (!parse_produce_request(body, header.api_version, limits_, stats_.messages,
                                 exchange.partitions, exchange.acks) &&
          !stream.gapped) {
        ++stats_.messages.malformed_bodies;
      }
    } else if (is_group_api(header.api_key)) {
      std::string group = group_of_request(body, header.api_key, header.api_version);
      if (!group.empty() && group != group_) {
        group_ = std::move(group);
        group_reported_ = false;
      }
    }
  }
  if (!pending.skip && exchange.request.api_key == kProduce && exchange.acks == 0) {
    exchange.group = group_;
    emit(std::move(exchange));  // acks=0: the broker sends no response
    return;
  }
  if (pending_.size() >= kMaxPending) {
    pending_.pop_front();
    ++stats_.dropped;
  }
  pending_.push_back(std::move(pending));
}

void ConnectionParser::on_response(const Stream& stream) {
  const std::string_view message = std::string_view(stream.buffer).substr(kSizeBytes);
  if (message.size() < 4) {
    ++stats_.orphan_responses;
    return;
  }
  const auto correlation_id = static_cast<int32_t>(read_u32(message));
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return p.exchange.request.correlation_id == correlation_id;
  });
  if (it == pending_.end()) {
    ++stats_.orphan_responses;
    return;
  }
  // A broker answers a connection's requests in order: those before it were not answered.
  stats_.unanswered += static_cast<uint64_t>(it - pending_.begin());
  Pending pending = std::move(*it);
  pending_.erase(pending_.begin(), it + 1);
  if (pending.skip) return;

  Exchange& exchange = pending.exchange;
  const RequestHeader& header = exchange.request;
  exchange.has_response = true;
  exchange.response_start_ns = stream.start_ns;
  exchange.response_end_ns = stream.end_ns;
  exchange.truncated |= stream.gapped;
  Reader r(message.substr(4));
  r.tagged_fields(response_header_has_tags(header.api_key, header.api_version));
  const std::string_view body = message.substr(4 + r.position());
  bool parsed = r.ok();
  switch (header.api_key) {
    case kProduce:
      parsed = parsed && parse_produce_response(body, header.api_version, exchange.partitions);
      break;
    case kFetch:
      parsed = parsed && parse_fetch_response(body, header.api_version, limits_, stats_.messages,
                                              exchange.partitions, exchange.error_code);
      break;
    case kMetadata:
      parsed = parsed && parse_metadata_response(body, header.api_version, exchange.topic_names);
      if (exchange.topic_names.empty()) return;  // names only: nothing to share
      break;
    default:
      // Group APIs report the group once per connection (or when it changes).
      if (!is_group_api(header.api_key) || group_.empty() || group_reported_) return;
      group_reported_ = true;
      break;
  }
  if (!parsed && !stream.gapped) ++stats_.messages.malformed_bodies;
  exchange.group = group_;
  emit(std::move(exchange));
}

void ConnectionParser::emit(Exchange&& exchange) {
  if (exchanges_.size() >= kMaxExchanges) {
    ++stats_.dropped;
    return;
  }
  exchanges_.push_back(std::move(exchange));
}

void ConnectionParser::on_close(uint64_t /*timestamp_ns*/) {
  // Requests the close left unanswered: a Produce still gets its span (an error).
  for (Pending& pending : pending_) {
    ++stats_.unanswered;
    if (!pending.skip && pending.exchange.request.api_key == kProduce) {
      pending.exchange.group = group_;
      emit(std::move(pending.exchange));
    }
  }
  pending_.clear();
}

std::vector<Exchange> ConnectionParser::take_exchanges() { return std::exchange(exchanges_, {}); }

void ConnectionParser::fail(std::string_view reason) {
  failed_ = true;
  failure_reason_ = reason;
  pending_.clear();
}

}  // namespace ztrace::kafka
