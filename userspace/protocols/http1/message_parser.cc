#include "userspace/protocols/http1/message_parser.h"

#include <algorithm>

#include "userspace/protocols/http1/header_fields.h"

namespace ztrace::http1 {
namespace {

// Uncaptured bytes after a message end that are too few to hold a message start: at most the
// stray CRLF some clients send after a body (RFC 9112 §2.2).
constexpr uint64_t kMaxStrayBytes = 2;
// 15 hex digits = 2^60 bytes: far beyond any chunk, and cannot overflow uint64_t.
constexpr uint32_t kMaxChunkSizeDigits = 15;
// Keep a large line buffer's memory only while it is needed.
constexpr size_t kRetainedLineCapacityBytes = 4096;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view strip_line_end(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

void assign_bounded(std::string& out, std::string_view value, size_t max_bytes) {
  out.assign(value.substr(0, max_bytes));
}

}  // namespace

BodyFraming default_framing(const MessageHead& head) {
  // RFC 9112 §6.3, in rule order; rules that need the request (HEAD, CONNECT) are the owner's.
  if (head.kind == MessageKind::kResponse) {
    const int status = head.status_code;
    if (status / 100 == 1 || status == 204 || status == 304) return BodyFraming::kNone;
    if (head.has_transfer_encoding) {
      return head.chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose;
    }
    if (head.has_content_length) return BodyFraming::kContentLength;
    return BodyFraming::kUntilClose;
  }
  // A request whose last coding is not chunked cannot be delimited (rule 4): the server
  // would answer 400 and close.
  if (head.has_transfer_encoding) {
    return head.chunked ? BodyFraming::kChunked : BodyFraming::kUnknown;
  }
  if (head.has_content_length) return BodyFraming::kContentLength;
  return BodyFraming::kNone;
}

MessageParser::MessageParser(MessageKind kind, MessageSink* sink, ParserStats* stats, bool in_sync)
    : kind_(kind),
      sink_(sink),
      stats_(stats),
      state_(in_sync ? State::kIdle : State::kAwaitSync),
      scanner_(kind) {}

void MessageParser::feed(std::string_view bytes, uint64_t gap_bytes_after, uint64_t timestamp_ns,
                         bool syscall_start) {
  if (stopped()) return;
  if (syscall_start) {
    resynced_this_call_ = false;
    heads_since_resync_ = 0;
  }
  // Only the first byte of a syscall's data can be trusted as a message start after sync
  // was lost (or before it was ever found).
  if (state_ == State::kAwaitSync && syscall_start && !bytes.empty()) {
    state_ = State::kIdle;
    tentative_ = true;
    resynced_this_call_ = true;
  }
  size_t pos = 0;
  while (pos < bytes.size() && !stopped()) {
    const std::string_view in = bytes.substr(pos);
    switch (state_) {
      case State::kIdle:
        pos += consume_idle(in, timestamp_ns);
        break;
      case State::kStartLine:
        pos += consume_start_line(in, timestamp_ns);
        break;
      case State::kHeaders:
        pos += consume_headers(in, timestamp_ns);
        break;
      case State::kBodyLength:
        pos += consume_body_length(in, timestamp_ns);
        break;
      case State::kChunkSize:
        last_data_ns_ = timestamp_ns;
        pos += consume_chunk_size(in);
        break;
      case State::kChunkData:
        pos += consume_chunk_data(in, timestamp_ns);
        break;
      case State::kChunkDataEnd:
        last_data_ns_ = timestamp_ns;
        pos += consume_chunk_data_end(in);
        break;
      case State::kTrailers:
        pos += consume_trailers(in, timestamp_ns);
        break;
      case State::kUntilClose:
        body_bytes_ += in.size();
        last_data_ns_ = timestamp_ns;
        pos = bytes.size();
        break;
      case State::kAwaitSync:
        if (open_) open_last_data_ns_ = timestamp_ns;
        pos = bytes.size();
        break;
      case State::kStopped:
      case State::kFailed:
        pos = bytes.size();
        break;
    }
  }
  if (gap_bytes_after > 0 && !stopped()) skip_gap(gap_bytes_after, timestamp_ns);
}

size_t MessageParser::consume_idle(std::string_view in, uint64_t ts_ns) {
  // Empty lines before a message are ignored (RFC 9112 §2.2).
  size_t i = 0;
  while (i < in.size() && (in[i] == '\r' || in[i] == '\n')) ++i;
  if (i < in.size()) begin_message(ts_ns);
  return i;
}

void MessageParser::begin_message(uint64_t ts_ns) {
  reset_message();
  head_.kind = kind_;
  head_.start_ns = ts_ns;
  last_data_ns_ = ts_ns;
  scanner_.reset();
  state_ = State::kStartLine;
}

size_t MessageParser::consume_start_line(std::string_view in, uint64_t ts_ns) {
  last_data_ns_ = ts_ns;
  size_t used = 0;
  const ScanResult result = scanner_.scan(in, &used);
  if (result == ScanResult::kInvalid) {
    reject_start(kind_ == MessageKind::kRequest ? "invalid request line" : "invalid status line",
                 ts_ns);
    return in.size();
  }
  if (result == ScanResult::kComplete) {
    const std::optional<std::string_view> whole = complete_line(in.substr(0, used));
    if (!whole) {
      deliver_truncated_head(ts_ns);
      return used;
    }
    const StartLineFields fields = parse_start_line(kind_, strip_line_end(*whole));
    head_.method.assign(fields.method);
    assign_bounded(head_.target, fields.target, kMaxTargetBytes);
    head_.target_truncated = fields.target.size() > kMaxTargetBytes;
    head_.status_code = fields.status_code;
    head_.version_minor = fields.version_minor;
    head_.start_line_complete = true;
    line_.clear();
    state_ = State::kHeaders;
    return used;
  }
  if (!append_head_bytes(in)) deliver_truncated_head(ts_ns);
  return in.size();
}

size_t MessageParser::consume_headers(std::string_view in, uint64_t ts_ns) {
  last_data_ns_ = ts_ns;
  size_t consumed = 0;
  while (consumed < in.size()) {
    const std::string_view rest = in.substr(consumed);
    const size_t newline = rest.find('\n');
    if (newline == std::string_view::npos) {
      if (!append_head_bytes(rest)) deliver_truncated_head(ts_ns);
      return in.size();
    }
    const std::string_view piece = rest.substr(0, newline + 1);
    consumed += piece.size();
    const std::optional<std::string_view> whole = complete_line(piece);
    if (!whole) {
      deliver_truncated_head(ts_ns);
      return consumed;
    }
    const std::string_view line = strip_line_end(*whole);
    if (line.empty()) {
      complete_head(ts_ns);
      return consumed;
    }
    const std::string_view error = process_field_line(line);
    if (!error.empty()) {
      reject_start(error, ts_ns);
      return in.size();
    }
    line_.clear();
  }
  return consumed;
}

std::optional<std::string_view> MessageParser::complete_line(std::string_view end_of_line) {
  // The common case, a line within one piece, is read in place; only a line split across
  // pieces was collected in line_.
  if (line_.empty()) {
    head_bytes_ += end_of_line.size();
    if (head_bytes_ > kMaxHeadBytes) return std::nullopt;
    return end_of_line;
  }
  if (!append_head_bytes(end_of_line)) return std::nullopt;
  return std::string_view(line_);
}

bool MessageParser::append_head_bytes(std::string_view bytes) {
  head_bytes_ += bytes.size();
  if (head_bytes_ > kMaxHeadBytes) return false;
  line_.append(bytes);
  return true;
}

std::string_view MessageParser::process_field_line(std::string_view line) {
  // obs-fold continuation (RFC 9112 §5.2): the folded value is not one we keep.
  if (line.front() == ' ' || line.front() == '\t') return {};
  const std::optional<HeaderField> field = split_field_line(line);
  if (!field) return "invalid header field";
  const std::string_view value = field->value;
  switch (classify_field_name(field->name)) {
    case KnownField::kContentLength: {
      const std::optional<uint64_t> length = parse_content_length(value);
      // Differing lengths make the framing unknowable (RFC 9112 §6.3 rule 5).
      if (!length || (head_.has_content_length && head_.content_length != *length)) {
        return "invalid Content-Length";
      }
      head_.has_content_length = true;
      head_.content_length = *length;
      break;
    }
    case KnownField::kTransferEncoding:
      // Several fields form one list: the last field holds the last coding.
      head_.has_transfer_encoding = true;
      head_.chunked = last_coding_is_chunked(value);
      break;
    case KnownField::kHost:
      if (head_.host.empty()) assign_bounded(head_.host, value, kMaxHostBytes);
      break;
    case KnownField::kUserAgent:
      if (head_.user_agent.empty()) assign_bounded(head_.user_agent, value, kMaxUserAgentBytes);
      break;
    case KnownField::kTraceparent:
      // A cut traceparent is invalid; keep the first one whole or none.
      if (head_.traceparent.empty() && value.size() <= kMaxTraceparentBytes) {
        head_.traceparent.assign(value);
      }
      break;
    case KnownField::kTracestate:
      if (head_.tracestate.empty() && value.size() <= kMaxTracestateBytes) {
        head_.tracestate.assign(value);
      }
      break;
    case KnownField::kOther:
      break;
  }
  return {};
}

void MessageParser::complete_head(uint64_t ts_ns) {
  tentative_ = false;
  parsed_a_head_ = true;
  if (resynced_this_call_) ++heads_since_resync_;
  close_open_message();
  const BodyFraming framing = sink_->on_head(head_, default_framing(head_));
  body_bytes_ = 0;
  body_remaining_bytes_ = 0;
  switch (framing) {
    case BodyFraming::kNone:
      end_message(ts_ns, false);
      break;
    case BodyFraming::kContentLength:
      if (!head_.has_content_length || head_.content_length == 0) {
        end_message(ts_ns, false);
      } else {
        body_remaining_bytes_ = head_.content_length;
        state_ = State::kBodyLength;
      }
      break;
    case BodyFraming::kChunked:
      chunk_step_ = ChunkStep::kDigits;
      chunk_digits_ = 0;
      chunk_line_bytes_ = 0;
      state_ = State::kChunkSize;
      break;
    case BodyFraming::kUntilClose:
      state_ = State::kUntilClose;
      break;
    case BodyFraming::kTunnel:
      end_message(ts_ns, false);
      state_ = State::kStopped;
      break;
    case BodyFraming::kUnknown:
      open_ = true;
      open_last_data_ns_ = ts_ns;
      open_body_bytes_ = 0;
      state_ = State::kAwaitSync;
      reset_message();
      break;
  }
  line_.clear();  // the head is consumed; only the body state matters from here on
}

void MessageParser::deliver_truncated_head(uint64_t ts_ns) {
  if (!head_.start_line_complete) {
    // A resync attempt cut before its start line proved anything: not a known message.
    if (tentative_) {
      tentative_ = false;
      reset_message();
      state_ = State::kAwaitSync;
      return;
    }
    const StartLineFields fields = parse_start_line(kind_, strip_line_end(line_));
    head_.method.assign(fields.method);
    assign_bounded(head_.target, fields.target, kMaxTargetBytes);
    head_.target_truncated = fields.target.size() > kMaxTargetBytes;
    head_.status_code = fields.status_code;
    head_.version_minor = fields.version_minor;
  }
  deliver_cut_head(ts_ns);
}

void MessageParser::deliver_lost_start(uint64_t ts_ns) {
  // The next message began inside uncaptured bytes: report it so that pairing stays aligned,
  // with no fields, and follow it no further.
  reset_message();
  head_.start_ns = ts_ns;
  deliver_cut_head(ts_ns);
}

void MessageParser::deliver_cut_head(uint64_t ts_ns) {
  head_.truncated = true;
  ++stats_->truncated_messages;
  tentative_ = false;
  close_open_message();
  sink_->on_head(head_, BodyFraming::kUnknown);  // a cut head's body cannot be followed
  open_ = true;
  open_last_data_ns_ = ts_ns;
  open_body_bytes_ = 0;
  reset_message();
  state_ = State::kAwaitSync;
}

size_t MessageParser::consume_body_length(std::string_view in, uint64_t ts_ns) {
  last_data_ns_ = ts_ns;
  const uint64_t take = std::min<uint64_t>(in.size(), body_remaining_bytes_);
  body_remaining_bytes_ -= take;
  body_bytes_ += take;
  if (body_remaining_bytes_ == 0) end_message(ts_ns, false);
  return take;
}

size_t MessageParser::consume_chunk_size(std::string_view in) {
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (++chunk_line_bytes_ > kMaxChunkLineBytes) {
      fail("chunk-size line too long");
      return in.size();
    }
    bool line_done = false;
    switch (chunk_step_) {
      case ChunkStep::kDigits: {
        const int digit = hex_value(c);
        if (digit >= 0) {
          if (++chunk_digits_ > kMaxChunkSizeDigits) {
            fail("invalid chunk size");
            return in.size();
          }
          body_remaining_bytes_ = body_remaining_bytes_ * 16 + static_cast<uint64_t>(digit);
        } else if (chunk_digits_ == 0) {
          fail("invalid chunk size");
          return in.size();
        } else if (c == ';' || c == ' ' || c == '\t') {
          // chunk-ext, possibly after BWS (RFC 9112 §7.1.1): skipped.
          chunk_step_ = ChunkStep::kExtension;
        } else if (c == '\r') {
          chunk_step_ = ChunkStep::kLf;
        } else if (c == '\n') {
          line_done = true;
        } else {
          fail("invalid chunk size");
          return in.size();
        }
        break;
      }
      case ChunkStep::kExtension:
        line_done = c == '\n';
        break;
      case ChunkStep::kLf:
        if (c != '\n') {
          fail("invalid chunk size");
          return in.size();
        }
        line_done = true;
        break;
    }
    if (!line_done) continue;
    chunk_step_ = ChunkStep::kDigits;
    chunk_digits_ = 0;
    chunk_line_bytes_ = 0;
    if (body_remaining_bytes_ == 0) {
      // last-chunk: trailer section follows (RFC 9112 §7.1.2).
      head_bytes_ = 0;
      saw_cr_ = false;
      state_ = State::kTrailers;
    } else {
      state_ = State::kChunkData;
    }
    return i + 1;
  }
  return in.size();
}

size_t MessageParser::consume_chunk_data(std::string_view in, uint64_t ts_ns) {
  last_data_ns_ = ts_ns;
  const uint64_t take = std::min<uint64_t>(in.size(), body_remaining_bytes_);
  body_remaining_bytes_ -= take;
  body_bytes_ += take;
  if (body_remaining_bytes_ == 0) {
    saw_cr_ = false;
    state_ = State::kChunkDataEnd;
  }
  return take;
}

size_t MessageParser::consume_chunk_data_end(std::string_view in) {
  const char c = in.front();
  if (c == '\r' && !saw_cr_) {
    saw_cr_ = true;
    return 1;
  }
  if (c == '\n') {
    state_ = State::kChunkSize;
    return 1;
  }
  fail("invalid chunked framing");
  return in.size();
}

size_t MessageParser::consume_trailers(std::string_view in, uint64_t ts_ns) {
  // Trailer fields are not kept; only the empty line that ends them matters.
  last_data_ns_ = ts_ns;
  size_t consumed = 0;
  while (consumed < in.size()) {
    const std::string_view rest = in.substr(consumed);
    const size_t newline = rest.find('\n');
    const std::string_view content = rest.substr(0, newline);
    if (chunk_line_bytes_ == 0 && !content.empty()) saw_cr_ = content.front() == '\r';
    const uint64_t line_bytes = chunk_line_bytes_ + content.size();
    head_bytes_ += content.size() + (newline == std::string_view::npos ? 0 : 1);
    if (head_bytes_ > kMaxHeadBytes) {
      lose_sync(ts_ns);
      return in.size();
    }
    if (newline == std::string_view::npos) {
      chunk_line_bytes_ = line_bytes;
      return in.size();
    }
    consumed += newline + 1;
    chunk_line_bytes_ = 0;
    if (line_bytes == 0 || (line_bytes == 1 && saw_cr_)) {
      end_message(ts_ns, false);
      return consumed;
    }
  }
  return consumed;
}

void MessageParser::skip_gap(uint64_t gap_bytes, uint64_t ts_ns) {
  switch (state_) {
    case State::kIdle:
      if (tentative_) {
        tentative_ = false;
        state_ = State::kAwaitSync;
      } else if (gap_bytes > kMaxStrayBytes) {
        deliver_lost_start(ts_ns);
      } else {
        state_ = State::kAwaitSync;
      }
      break;
    case State::kStartLine:
    case State::kHeaders:
      deliver_truncated_head(ts_ns);
      break;
    case State::kBodyLength:
      last_data_ns_ = ts_ns;
      if (gap_bytes < body_remaining_bytes_) {
        // Exact: the body continues in later data (sendfile, capture limit).
        body_remaining_bytes_ -= gap_bytes;
        body_bytes_ += gap_bytes;
      } else {
        const uint64_t leftover_bytes = gap_bytes - body_remaining_bytes_;
        body_bytes_ += body_remaining_bytes_;
        body_remaining_bytes_ = 0;
        end_message(ts_ns, false);
        if (leftover_bytes > 0) skip_gap(leftover_bytes, ts_ns);
      }
      break;
    case State::kChunkData:
      last_data_ns_ = ts_ns;
      if (gap_bytes < body_remaining_bytes_) {
        body_remaining_bytes_ -= gap_bytes;
        body_bytes_ += gap_bytes;
      } else if (gap_bytes == body_remaining_bytes_) {
        body_bytes_ += gap_bytes;
        body_remaining_bytes_ = 0;
        saw_cr_ = false;
        state_ = State::kChunkDataEnd;
      } else {
        body_bytes_ += body_remaining_bytes_;
        lose_sync(ts_ns);
      }
      break;
    case State::kChunkSize:
    case State::kChunkDataEnd:
    case State::kTrailers:
      lose_sync(ts_ns);
      break;
    case State::kUntilClose:
      body_bytes_ += gap_bytes;
      last_data_ns_ = ts_ns;
      break;
    case State::kAwaitSync:
      if (open_) open_last_data_ns_ = ts_ns;
      break;
    case State::kStopped:
    case State::kFailed:
      break;
  }
}

void MessageParser::lose_sync(uint64_t ts_ns) {
  ++stats_->lost_sync_messages;
  open_ = true;
  open_last_data_ns_ = ts_ns;
  open_body_bytes_ = body_bytes_;
  reset_message();
  state_ = State::kAwaitSync;
}

void MessageParser::end_message(uint64_t ts_ns, bool truncated, bool cut_by_close) {
  const MessageEnd end{ts_ns, body_bytes_, truncated, cut_by_close};
  reset_message();
  state_ = State::kIdle;
  sink_->on_message_end(end);
}

void MessageParser::close_open_message() {
  if (!open_) return;
  open_ = false;
  const bool cut_by_close = open_cut_by_close_;
  open_cut_by_close_ = false;
  sink_->on_message_end(MessageEnd{open_last_data_ns_, open_body_bytes_, true, cut_by_close});
}

void MessageParser::finish() {
  if (stopped()) return;
  switch (state_) {
    case State::kStartLine:
    case State::kHeaders:
      // A head cut by close is worth reporting only if its start line was captured.
      if (head_.start_line_complete) {
        deliver_truncated_head(last_data_ns_);
        open_cut_by_close_ = true;
      }
      break;
    case State::kBodyLength:
    case State::kChunkSize:
    case State::kChunkData:
    case State::kChunkDataEnd:
    case State::kTrailers:
      end_message(last_data_ns_, true, /*cut_by_close=*/true);
      break;
    case State::kUntilClose:
      end_message(last_data_ns_, false);
      break;
    default:
      break;
  }
  close_open_message();
  reset_message();
  state_ = State::kStopped;
}

void MessageParser::reject_start(std::string_view reason, uint64_t ts_ns) {
  if (!tentative_ && parsed_a_head_) {
    skip_junk(ts_ns);
    return;
  }
  if (!tentative_) {
    fail(reason);
    return;
  }
  // Not a message start after all: what was read belongs to whatever was open.
  ++rejected_starts_;
  tentative_ = false;
  reset_message();
  if (open_) open_last_data_ns_ = ts_ns;
  state_ = State::kAwaitSync;
}

void MessageParser::skip_junk(uint64_t ts_ns) {
  ++stats_->junk_skips;
  reset_message();
  if (open_) open_last_data_ns_ = ts_ns;
  state_ = State::kAwaitSync;
  if (heads_since_resync_ > 0) {
    const size_t withdrawn = heads_since_resync_;
    heads_since_resync_ = 0;
    sink_->on_messages_withdrawn(withdrawn);
  }
}

void MessageParser::fail(std::string_view reason) {
  failure_reason_ = reason;
  open_ = false;
  reset_message();
  state_ = State::kFailed;
}

void MessageParser::reset_message() {
  // Field by field, not `head_ = MessageHead{}`: the strings keep their buffers.
  head_.method.clear();
  head_.target.clear();
  head_.target_truncated = false;
  head_.status_code = 0;
  head_.version_minor = -1;
  head_.host.clear();
  head_.user_agent.clear();
  head_.traceparent.clear();
  head_.tracestate.clear();
  head_.has_content_length = false;
  head_.content_length = 0;
  head_.has_transfer_encoding = false;
  head_.chunked = false;
  head_.start_line_complete = false;
  head_.truncated = false;
  head_.start_ns = 0;
  head_.kind = kind_;
  if (line_.capacity() > kRetainedLineCapacityBytes) {
    std::string().swap(line_);
  } else {
    line_.clear();
  }
  head_bytes_ = 0;
  body_remaining_bytes_ = 0;
  body_bytes_ = 0;
  chunk_line_bytes_ = 0;
  chunk_digits_ = 0;
  chunk_step_ = ChunkStep::kDigits;
  saw_cr_ = false;
}

}  // namespace ztrace::http1
