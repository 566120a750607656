#include "userspace/protocols/http2/stitcher.h"

#include <algorithm>
#include <utility>

namespace ztrace::http2 {
namespace {

bool kept(std::string_view name) {
  if (!name.empty() && name[0] == ':') return true;
  return name == "content-type" || name == "user-agent" || name == "traceparent" ||
         name == "tracestate" || name == "grpc-status" || name == "grpc-message";
}

// Moves the kept fields out of `fields`.
HeaderBlock keep_fields(std::vector<HeaderField>* fields) {
  HeaderBlock block;
  block.fields.reserve(fields->size());
  for (HeaderField& f : *fields) {
    if (f.unknown) {
      ++block.unknown_fields;
      continue;
    }
    if (!kept(f.name)) continue;
    const size_t cap = f.name == ":path" ? Stitcher::kMaxPathBytes : Stitcher::kMaxValueBytes;
    if (f.value.size() > cap) {
      f.value.resize(cap);
      block.values_truncated = true;
    }
    block.fields.push_back(std::move(f));
  }
  return block;
}

bool is_request_block(const HeaderBlock& b) { return b.find(":method") || b.find(":path"); }

int index(Direction dir) { return dir == Direction::kIngress ? 1 : 0; }

}  // namespace

const std::string* HeaderBlock::find(std::string_view name) const {
  for (const HeaderField& f : fields) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

Stitcher::Stitcher(Role role)
    : request_dir_(role == Role::kServer   ? 1
                   : role == Role::kClient ? 0
                                           : -1) {}

void Stitcher::set_request_direction(Direction dir) {
  if (request_dir_ < 0) request_dir_ = index(dir);
}

Role Stitcher::role() const {
  return request_dir_ < 0 ? Role::kUnknown : request_dir_ == 1 ? Role::kServer : Role::kClient;
}

void Stitcher::on_headers(Direction dir, uint32_t stream_id, std::vector<HeaderField>* fields,
                          bool end_stream, uint64_t first_ns, uint64_t last_ns) {
  const int d = index(dir);
  highest_stream_id_ = std::max(highest_stream_id_, stream_id);
  HeaderBlock block = keep_fields(fields);
  if (request_dir_ < 0) {
    if (is_request_block(block)) {
      request_dir_ = d;
    } else if (block.find(":status")) {
      request_dir_ = 1 - d;
    }
  }
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    // A stream starts with its request; any other first block belongs to a request the
    // agent did not see (joined mid-way, server push, or a finished stream's late frames).
    if (request_dir_ >= 0 && d != request_dir_) {
      ++stats_.orphan_streams;
      return;
    }
    if (streams_.size() >= kMaxOpenStreams) {
      ++stats_.dropped_streams;
      streams_.erase(streams_.begin());
    }
    it = streams_.emplace(stream_id, Stream{}).first;
  }
  Message& m = it->second.side[d];
  if (!m.seen) {
    m.seen = true;
    m.start_ns = first_ns;
    m.headers = std::move(block);
    if (d == request_dir_) {
      if (const std::string* tp = m.headers.find("traceparent"); tp && role() == Role::kServer) {
        const std::string* state = m.headers.find("tracestate");
        if (heads_.size() < 64) heads_.push_back({first_ns, *tp, state ? *state : ""});
      }
    }
  } else {
    m.trailers = std::move(block);
  }
  m.end_ns = last_ns;
  if (end_stream) m.end_stream = true;
  if (it->second.side[0].end_stream && it->second.side[1].end_stream) {
    finish(it, StreamOutcome::kComplete, 0);
  }
}

void Stitcher::on_data(Direction dir, uint32_t stream_id, uint64_t body_bytes, bool end_stream,
                       uint64_t first_ns, uint64_t last_ns) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;  // its headers were not seen: nothing to attach it to
  Message& m = it->second.side[index(dir)];
  if (!m.seen && m.start_ns == 0) m.start_ns = first_ns;
  m.body_bytes += body_bytes;
  m.end_ns = last_ns;
  if (end_stream) m.end_stream = true;
  if (it->second.side[0].end_stream && it->second.side[1].end_stream) {
    finish(it, StreamOutcome::kComplete, 0);
  }
}

void Stitcher::on_rst_stream(uint32_t stream_id, uint32_t error_code, uint64_t timestamp_ns) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  // RFC 9113 §8.1: after a complete response (END_STREAM), a server may reset the stream with
  // NO_ERROR to stop a request body it does not need (Go's net/http does when a handler
  // returns without reading the body). The exchange completed; the reset is no failure.
  if (error_code == 0 && request_dir_ >= 0 && it->second.side[1 - request_dir_].end_stream) {
    finish(it, StreamOutcome::kComplete, 0);
    return;
  }
  for (Message& m : it->second.side) {
    if (m.seen) m.end_ns = std::max(m.end_ns, timestamp_ns);
  }
  finish(it, StreamOutcome::kReset, error_code);
}

void Stitcher::on_goaway(uint32_t last_stream_id, uint32_t error_code, uint64_t timestamp_ns) {
  goaway_last_stream_id_ = std::min(goaway_last_stream_id_, last_stream_id);
  // §6.8: streams above the last id were not processed and may be retried elsewhere.
  for (auto it = streams_.upper_bound(last_stream_id); it != streams_.end();) {
    auto next = std::next(it);
    for (Message& m : it->second.side) {
      if (m.seen) m.end_ns = std::max(m.end_ns, timestamp_ns);
    }
    finish(it, StreamOutcome::kRefused, error_code);
    it = next;
  }
}

void Stitcher::on_lost_bytes() {
  for (auto& [id, stream] : streams_) stream.truncated = true;
}

void Stitcher::on_close(uint64_t timestamp_ns) {
  while (!streams_.empty()) {
    auto it = streams_.begin();
    // An open side lasted until the close, unless bytes were lost: then its end may have
    // been among them, and the close time would only stretch the span.
    for (Message& m : it->second.side) {
      if (m.seen && !m.end_stream && !it->second.truncated) {
        m.end_ns = std::max(m.end_ns, timestamp_ns);
      }
    }
    finish(it, StreamOutcome::kConnectionClosed, 0);
  }
}

void Stitcher::finish(std::map<uint32_t, Stream>::iterator it, StreamOutcome outcome,
                      uint32_t code) {
  Stream stream = std::move(it->second);
  const uint32_t id = it->first;
  streams_.erase(it);
  int req = request_dir_;
  if (req < 0) {
    // Still undecided: this stream's own blocks may tell.
    for (int d = 0; d < 2 && req < 0; ++d) {
      if (is_request_block(stream.side[d].headers)) req = d;
      if (stream.side[d].headers.find(":status")) req = 1 - d;
    }
  }
  if (req < 0) {
    ++stats_.undirected_streams;
    return;
  }
  if (done_.size() >= kMaxPendingExchanges) {
    ++stats_.dropped_streams;
    return;
  }
  Exchange e;
  e.stream_id = id;
  e.request = std::move(stream.side[req]);
  e.response = std::move(stream.side[1 - req]);
  e.outcome = outcome;
  e.error_code = code;
  e.truncated = stream.truncated;
  done_.push_back(std::move(e));
}

std::vector<Exchange> Stitcher::take_exchanges() { return std::exchange(done_, {}); }

std::vector<Stitcher::HeadContext> Stitcher::take_head_contexts() {
  return std::exchange(heads_, {});
}

}  // namespace ztrace::http2
