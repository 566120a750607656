// The stitcher: one MessageParser per direction, requests paired with responses FIFO
// (RFC 9112 §9.3.2: responses come in the order of their requests, pipelined or not).

#include "userspace/protocols/http1/connection_parser.h"

#include <array>
#include <deque>
#include <utility>

#include "userspace/protocols/http1/message_parser.h"

namespace ztrace::http1 {
namespace {

// Requests awaiting their response. Real pipelining depth is a handful; the bound keeps a
// connection whose responses are never captured from growing without limit.
constexpr size_t kMaxPendingExchanges = 64;
// Completed exchanges waiting for take_exchanges().
constexpr size_t kMaxReadyExchanges = 4096;

size_t index_of(Direction dir) { return dir == Direction::kEgress ? 0 : 1; }
Direction opposite(Direction dir) {
  return dir == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
}

}  // namespace

struct ConnectionParser::Impl {
  // Routes one direction's parser callbacks to the stitcher.
  class DirectionSink final : public MessageSink {
   public:
    DirectionSink(Impl* impl, Direction dir) : impl_(impl), dir_(dir) {}
    BodyFraming on_head(const MessageHead& head, BodyFraming proposed) override {
      return impl_->on_head(dir_, head, proposed);
    }
    void on_message_end(const MessageEnd& end) override { impl_->on_message_end(dir_, end); }
    void on_messages_withdrawn(size_t messages) override {
      impl_->on_messages_withdrawn(dir_, messages);
    }

   private:
    Impl* impl_;
    Direction dir_;
  };

  struct PendingExchange {
    Exchange exchange;
    bool request_done = false;
    bool response_assigned = false;
    bool response_done = false;
  };

  Impl(Role given_role, bool midstream);

  void on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes, uint64_t ts_ns,
               bool syscall_start);
  void on_close();

  BodyFraming on_head(Direction dir, const MessageHead& head, BodyFraming proposed);
  BodyFraming on_request_head(Direction dir, const MessageHead& head, BodyFraming proposed);
  BodyFraming on_response_head(const MessageHead& head, BodyFraming proposed);
  void on_message_end(Direction dir, const MessageEnd& end);
  void on_messages_withdrawn(Direction dir, size_t messages);

  MessageParser& parser(Direction dir) { return *parsers[index_of(dir)]; }
  PendingExchange* find(std::optional<uint64_t> seq);
  void finish_parsers();
  void flush_completed();
  void flush_all();
  void emit(Exchange&& exchange);
  void fail(std::string_view reason);
  bool stopped() const { return failed || closed || tunnel; }

  Role role;
  const bool joined_midstream;
  std::optional<Direction> request_dir;  // known from the role, or once inferred
  std::array<DirectionSink, 2> sinks;    // by index_of(Direction)
  std::array<std::optional<MessageParser>, 2> parsers;
  std::array<bool, 2> seen_data{};

  std::deque<PendingExchange> pending;
  uint64_t front_seq = 0;                // sequence number of pending.front()
  std::optional<uint64_t> request_seq;   // exchange whose request is being parsed
  std::optional<uint64_t> response_seq;  // exchange whose response is being parsed
  bool tunnel_requested = false;         // a 101 or CONNECT 2xx head was seen

  bool failed = false;
  bool closed = false;
  bool tunnel = false;
  std::string_view failure_reason;
  std::vector<Exchange> ready;
  static constexpr size_t kMaxHeadContexts = 64;
  std::vector<RequestHeadContext> head_contexts;  // not yet taken
  ParserStats stats;
};

ConnectionParser::Impl::Impl(Role given_role, bool midstream)
    : role(given_role),
      joined_midstream(midstream),
      sinks{DirectionSink(this, Direction::kEgress), DirectionSink(this, Direction::kIngress)} {
  if (role == Role::kServer) request_dir = Direction::kIngress;
  if (role == Role::kClient) request_dir = Direction::kEgress;
  if (request_dir) {
    const Direction response_dir = opposite(*request_dir);
    parsers[index_of(*request_dir)].emplace(MessageKind::kRequest, &sinks[index_of(*request_dir)],
                                            &stats, !midstream);
    parsers[index_of(response_dir)].emplace(MessageKind::kResponse, &sinks[index_of(response_dir)],
                                            &stats, !midstream);
    return;
  }
  // Both directions look for request lines at syscall starts until one finds one.
  for (size_t i = 0; i < parsers.size(); ++i) {
    parsers[i].emplace(MessageKind::kRequest, &sinks[i], &stats, /*in_sync=*/false);
  }
}

void ConnectionParser::Impl::on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes,
                                     uint64_t ts_ns, bool syscall_start) {
  if (stopped() || (bytes.empty() && gap_bytes == 0)) return;
  seen_data[index_of(dir)] = true;
  MessageParser& p = parser(dir);
  p.feed(bytes, gap_bytes, ts_ns, syscall_start);
  if (p.failed()) {
    fail(p.failure_reason());
    return;
  }
  if (!request_dir && !joined_midstream && p.rejected_starts() > 0) {
    // Seen from its start, an HTTP/1 connection begins with a request.
    fail("stream does not start with an HTTP/1 request");
    return;
  }
  if (tunnel_requested) {
    // Bytes after 101 / CONNECT 2xx are another protocol: finish what HTTP saw and stop.
    finish_parsers();
    flush_all();
    tunnel = true;
    return;
  }
  flush_completed();
}

void ConnectionParser::Impl::on_close() {
  if (stopped()) return;
  finish_parsers();
  flush_all();
  closed = true;
}

void ConnectionParser::Impl::finish_parsers() {
  // Requests first, so that a response cut by close pairs with everything its peer sent.
  if (request_dir) {
    parser(*request_dir).finish();
    parser(opposite(*request_dir)).finish();
    return;
  }
  // Still probing: finishing one probe may infer the role and replace the other parser,
  // which is then finished fresh.
  parsers[0]->finish();
  parsers[1]->finish();
}

BodyFraming ConnectionParser::Impl::on_head(Direction dir, const MessageHead& head,
                                            BodyFraming proposed) {
  if (parser(dir).kind() == MessageKind::kRequest) return on_request_head(dir, head, proposed);
  return on_response_head(head, proposed);
}

BodyFraming ConnectionParser::Impl::on_request_head(Direction dir, const MessageHead& head,
                                                    BodyFraming proposed) {
  if (!request_dir) {
    request_dir = dir;
    role = dir == Direction::kIngress ? Role::kServer : Role::kClient;
    // The other direction carries responses. It is in sync only if it has said nothing yet
    // on a connection seen from its start.
    const size_t other = index_of(opposite(dir));
    parsers[other].emplace(MessageKind::kResponse, &sinks[other], &stats,
                           !joined_midstream && !seen_data[other]);
  }
  // The client spoke again: a response left open by lost sync is over.
  parser(opposite(dir)).close_open_message();

  if (pending.size() >= kMaxPendingExchanges) {
    pending.pop_front();
    ++front_seq;
    ++stats.dropped_exchanges;
  }
  PendingExchange& entry = pending.emplace_back();
  Request& request = entry.exchange.request;
  request.method = head.method;
  request.target = head.target;
  request.target_truncated = head.target_truncated;
  if (head.version_minor >= 0) request.version_minor = head.version_minor;
  request.host = head.host;
  request.user_agent = head.user_agent;
  request.traceparent = head.traceparent;
  request.tracestate = head.tracestate;
  request.start_ns = head.start_ns;
  request.truncated = head.truncated;
  request_seq = front_seq + pending.size() - 1;
  if (!head.traceparent.empty() && head_contexts.size() < kMaxHeadContexts) {
    head_contexts.push_back(
        {head.start_ns, std::string(head.traceparent), std::string(head.tracestate)});
  }
  return proposed;
}

BodyFraming ConnectionParser::Impl::on_response_head(const MessageHead& head,
                                                     BodyFraming proposed) {
  std::optional<uint64_t> seq;
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!pending[i].response_assigned) {
      seq = front_seq + i;
      break;
    }
  }
  // A response cannot answer a request sent after the response began.
  if (seq && find(seq)->exchange.request.start_ns > head.start_ns) seq.reset();
  if (!seq) {
    // Its request was not seen (joined mid-stream, lost, or an unsolicited 408): its framing
    // may depend on that request (HEAD), so do not follow it.
    ++stats.orphan_responses;
    response_seq.reset();
    return BodyFraming::kUnknown;
  }
  // A request left open by lost sync ends at the latest when its response starts.
  if (request_seq == seq) parser(*request_dir).close_open_message();

  const int status = head.status_code;
  if (status / 100 == 1 && status != 101) {
    // Interim response (RFC 9110 §15.2), e.g. 100 Continue: the final one follows.
    response_seq.reset();
    return BodyFraming::kNone;
  }
  PendingExchange& entry = *find(seq);
  entry.response_assigned = true;
  Response& response = entry.exchange.response.emplace();
  response.status_code = status;
  if (head.version_minor >= 0) response.version_minor = head.version_minor;
  response.start_ns = head.start_ns;
  response.truncated = head.truncated;
  response_seq = seq;

  const std::string& method = entry.exchange.request.method;
  // 101 (RFC 9110 §15.2.2) and CONNECT 2xx (§9.3.6) hand the connection to another protocol.
  if (status == 101 || (method == "CONNECT" && status / 100 == 2)) {
    tunnel_requested = true;
    return BodyFraming::kTunnel;
  }
  if (method == "HEAD") return BodyFraming::kNone;  // RFC 9110 §9.3.2
  // The request was lost: it may have been HEAD, so a body cannot be trusted.
  const bool has_body = proposed != BodyFraming::kNone &&
                        !(proposed == BodyFraming::kContentLength && head.content_length == 0);
  if (method.empty() && has_body) return BodyFraming::kUnknown;
  return proposed;
}

void ConnectionParser::Impl::on_message_end(Direction dir, const MessageEnd& end) {
  if (parser(dir).kind() == MessageKind::kRequest) {
    if (PendingExchange* entry = find(request_seq)) {
      Request& request = entry->exchange.request;
      request.end_ns = end.end_ns;
      request.body_bytes = end.body_bytes;
      request.truncated = request.truncated || end.truncated;
      entry->request_done = true;
    }
    request_seq.reset();
    return;
  }
  if (PendingExchange* entry = find(response_seq)) {
    Response& response = *entry->exchange.response;
    response.end_ns = end.end_ns;
    response.body_bytes = end.body_bytes;
    response.truncated = response.truncated || end.truncated;
    response.cut_by_close = end.cut_by_close;
    entry->response_done = true;
  }
  response_seq.reset();
}

void ConnectionParser::Impl::on_messages_withdrawn(Direction dir, size_t messages) {
  // Requests only: they are the newest pending entries, not answered yet (their response
  // could not begin before them). A withdrawn response is left to pair as it did.
  if (parser(dir).kind() != MessageKind::kRequest) return;
  while (messages-- > 0 && !pending.empty() && !pending.back().response_assigned) {
    const uint64_t start_ns = pending.back().exchange.request.start_ns;
    std::erase_if(head_contexts, [&](const auto& head) { return head.start_ns == start_ns; });
    pending.pop_back();
  }
  request_seq.reset();
}

ConnectionParser::Impl::PendingExchange* ConnectionParser::Impl::find(std::optional<uint64_t> seq) {
  if (!seq || *seq < front_seq || *seq - front_seq >= pending.size()) return nullptr;
  return &pending[*seq - front_seq];
}

void ConnectionParser::Impl::flush_completed() {
  while (!pending.empty() && pending.front().request_done && pending.front().response_done) {
    emit(std::move(pending.front().exchange));
    pending.pop_front();
    ++front_seq;
  }
}

void ConnectionParser::Impl::flush_all() {
  // After finish_parsers() every delivered message has ended; a request still without a
  // response never got one.
  for (PendingExchange& entry : pending) emit(std::move(entry.exchange));
  front_seq += pending.size();
  pending.clear();
  request_seq.reset();
  response_seq.reset();
}

void ConnectionParser::Impl::emit(Exchange&& exchange) {
  if (ready.size() >= kMaxReadyExchanges) {
    ++stats.dropped_exchanges;
    return;
  }
  ready.push_back(std::move(exchange));
}

void ConnectionParser::Impl::fail(std::string_view reason) {
  failed = true;
  failure_reason = reason;
  ++stats.invalid_streams;
  // Exchanges completed before the bad bytes stand (as they would had the bad bytes come in
  // a later call); those in flight came from a stream now known to be bad.
  flush_completed();
  pending.clear();
  request_seq.reset();
  response_seq.reset();
}

ConnectionParser::ConnectionParser(Role role, bool joined_midstream)
    : impl_(std::make_unique<Impl>(role, joined_midstream)) {}
ConnectionParser::~ConnectionParser() = default;
ConnectionParser::ConnectionParser(ConnectionParser&&) noexcept = default;
ConnectionParser& ConnectionParser::operator=(ConnectionParser&&) noexcept = default;

void ConnectionParser::on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes_after,
                               uint64_t timestamp_ns, bool syscall_start) {
  impl_->on_data(dir, bytes, gap_bytes_after, timestamp_ns, syscall_start);
}

void ConnectionParser::on_close(uint64_t timestamp_ns) {
  // Close-delimited bodies end at their last byte, not at the close (see Response::end_ns).
  (void)timestamp_ns;
  impl_->on_close();
}

std::vector<RequestHeadContext> ConnectionParser::take_request_head_contexts() {
  std::vector<RequestHeadContext> out;
  out.swap(impl_->head_contexts);
  return out;
}

std::vector<Exchange> ConnectionParser::take_exchanges() {
  std::vector<Exchange> out;
  out.swap(impl_->ready);
  return out;
}

bool ConnectionParser::failed() const { return impl_->failed; }
std::string_view ConnectionParser::failure_reason() const { return impl_->failure_reason; }
Role ConnectionParser::role() const { return impl_->role; }
const ParserStats& ConnectionParser::stats() const { return impl_->stats; }

}  // namespace ztrace::http1
