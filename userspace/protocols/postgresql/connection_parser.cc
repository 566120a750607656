#include "userspace/protocols/postgresql/connection_parser.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <unordered_map>

#include "userspace/protocols/postgresql/sql.h"
#include "userspace/protocols/postgresql/wire.h"

namespace ztrace::postgresql {
namespace {

// How one direction's bytes are framed right now.
enum class Mode : uint8_t {
  kStartup,    // frontend: an untyped StartupMessage / SSLRequest / CancelRequest
  kSslAnswer,  // backend: the one-byte answer to SSLRequest / GSSENCRequest
  kTyped,      // typed messages
  kWaitStart,  // backend of a connection joined late: until a read starts with a message
  kLost,       // backend framing lost: until a ReadyForQuery ends a read
};

struct DirectionState {
  Mode mode = Mode::kTyped;
  char header[5] = {};
  size_t header_bytes = 0;
  uint64_t body_left = 0;
  bool keep = false;    // the body is kept (the message is read), not just skipped
  bool cut = false;     // part of the kept body was not kept or not captured
  std::string body;     // kept body bytes
  std::string startup;  // kStartup: bytes so far
};

// Bytes kept of a message body: what its fields need. Row and COPY data, and passwords, are
// never kept.
size_t kept_bytes(bool frontend, char type) {
  if (frontend) {
    switch (type) {
      case 'Q':
      case 'P':
        return ConnectionParser::kMaxTextBytes;
      case 'B':
      case 'E':
      case 'C':
        return 1024;  // names come first
      default:
        return 0;
    }
  }
  switch (type) {
    case 'C':
      return 256;  // command tag
    case 'E':
      return 1024;  // fields; the SQLSTATE comes early
    case 'Z':
      return 1;
    default:
      return 0;
  }
}

// "INSERT 0 1" -> "INSERT", "CREATE TABLE" -> "CREATE TABLE": the tag without its counts.
std::string command_of_tag(std::string_view tag) {
  size_t end = tag.size();
  while (end > 0) {  // each step drops one trailing number, or stops
    const size_t space = tag.rfind(' ', end - 1);
    if (space == std::string_view::npos) break;
    const std::string_view word = tag.substr(space + 1, end - space - 1);
    const bool number = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    if (!number) break;
    end = space;
  }
  return std::string(tag.substr(0, end));
}

// The SQLSTATE ('C' field) of an ErrorResponse / NoticeResponse body.
std::string_view sqlstate_of(std::string_view body) {
  size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    const char field = body[pos++];
    std::string_view value;
    if (!read_cstring(body, pos, value)) return {};
    if (field == 'C') return value.size() == 5 ? value : std::string_view();
  }
  return {};
}

std::shared_ptr<const Statement> make_statement(std::string_view text, bool cut) {
  auto statement = std::make_shared<Statement>();
  statement->text = sanitize_sql(text);
  statement->summary = summarize_sql(statement->text);
  statement->truncated = cut;
  return statement;
}

// Statement bytes held by every parser of the process (parsers live on the pipeline thread;
// atomic for tests and tools that run parsers elsewhere).
std::atomic<size_t> total_statement_bytes{0};

}  // namespace

struct ConnectionParser::Impl {
  Role role;
  bool joined_midstream;
  bool off = false;  // server side or encrypted: nothing more is parsed, nothing failed
  const char* failure = nullptr;
  int frontend_dir = -1;  // 0 egress, 1 ingress; -1: not known yet
  DirectionState dirs[2];
  bool handshake = false;  // startup seen, its ReadyForQuery not yet
  std::shared_ptr<const std::string> database;

  // The extended-protocol batch being sent (messages since the last Sync).
  bool batch_open = false;
  Request batch;
  struct Named {
    std::shared_ptr<const Statement> statement;
    uint64_t order = 0;  // insertion order, for eviction
    size_t bytes = 0;    // what a statement entry holds, in statement_bytes and the total
  };
  std::unordered_map<std::string, Named> statements;
  std::unordered_map<std::string, Named> portals;
  uint64_t next_order = 0;
  size_t statement_bytes = 0;  // held by `statements`

  struct Pending {
    Exchange exchange;
    bool emit = true;
  };
  std::deque<Pending> pending;
  std::vector<Exchange> completed;
  ParserStats stats;
  uint64_t now_ns = 0;

  ~Impl() { total_statement_bytes -= statement_bytes; }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Impl(Role r, bool joined) : role(r), joined_midstream(joined) {
    if (role == Role::kServer) {
      off = true;
      ++stats.server_side;
      return;
    }
    if (role == Role::kClient) frontend_dir = 0;
    dirs[0].mode = dirs[1].mode = joined ? Mode::kTyped : Mode::kStartup;
    if (frontend_dir >= 0) {
      dirs[1 - frontend_dir].mode = joined ? Mode::kWaitStart : Mode::kTyped;
    }
  }

  void fail(const char* reason) {
    if (failure || off) return;
    failure = reason;
    pending.clear();
    batch_open = false;
  }
  bool stopped() const { return failure || off; }

  // The latest Parse's text and statement: drivers that parse the same unnamed statement for
  // every call (pgbench -M extended, lib/pq, node pg) sanitize it once.
  std::string last_parsed_text;
  std::shared_ptr<const Statement> last_parsed;

  std::shared_ptr<const Statement> statement_of(std::string_view text, bool cut) {
    if (last_parsed && !cut && !last_parsed->truncated && text == last_parsed_text) {
      return last_parsed;
    }
    last_parsed = make_statement(text, cut);
    last_parsed_text.assign(text);
    return last_parsed;
  }

  // ---- frontend ----

  void begin_batch(uint64_t ts) {
    if (batch_open) return;
    batch = Request{};
    batch.kind = Request::Kind::kExtended;
    batch.start_ns = ts;
    batch_open = true;
  }

  void push_request(Request request, bool emit) {
    if (pending.size() >= kMaxPendingRequests) {
      fail("too many requests awaiting ReadyForQuery");
      return;
    }
    Pending p;
    p.exchange.request = std::move(request);
    p.exchange.database = database;
    p.emit = emit;
    pending.push_back(std::move(p));
  }

  void forget(std::unordered_map<std::string, Named>& map,
              std::unordered_map<std::string, Named>::iterator it) {
    statement_bytes -= it->second.bytes;
    total_statement_bytes -= it->second.bytes;
    map.erase(it);
  }

  // Keeps `statement` under `name`, evicting the oldest entries past `bound` entries and, for
  // statements, past kMaxStatementBytes; past kMaxTotalStatementBytes over all connections
  // the name is kept without its text.
  void remember(std::unordered_map<std::string, Named>& map, std::string_view name,
                std::shared_ptr<const Statement> statement, size_t bound, uint64_t& evictions) {
    const bool is_statement = &map == &statements;
    size_t bytes = 0;
    if (is_statement && statement) {
      bytes = sizeof(Statement) + statement->text.size() + statement->summary.size() + name.size();
    }
    if (auto it = map.find(std::string(name)); it != map.end()) forget(map, it);
    while (!map.empty() && (map.size() >= bound ||
                            (is_statement && statement_bytes + bytes > kMaxStatementBytes))) {
      auto oldest = std::min_element(map.begin(), map.end(), [](const auto& a, const auto& b) {
        return a.second.order < b.second.order;
      });
      forget(map, oldest);
      ++evictions;
    }
    if (bytes && total_statement_bytes + bytes > kMaxTotalStatementBytes) {
      statement.reset();
      bytes = 0;
      ++stats.statements_over_budget;
    }
    Named& named = map[std::string(name)];
    named.statement = std::move(statement);
    named.order = next_order++;
    named.bytes = bytes;
    statement_bytes += bytes;
    total_statement_bytes += bytes;
  }

  void on_frontend(char type, std::string_view body, bool cut, uint64_t ts) {
    size_t pos = 0;
    std::string_view name, text;
    switch (type) {
      case 'Q': {
        read_cstring(body, pos, text) || (text = body, true);
        Request request;
        request.kind = Request::Kind::kQuery;
        request.statements.push_back(make_statement(text, cut));
        request.truncated = cut;
        request.start_ns = ts;
        request.end_ns = ts;
        push_request(std::move(request), true);
        return;
      }
      case 'P': {
        begin_batch(ts);
        if (!read_cstring(body, pos, name)) return fail("malformed Parse");
        if (!read_cstring(body, pos, text)) text = body.substr(pos);  // cut: a prefix
        remember(statements, name, statement_of(text, cut), kMaxStatements,
                 stats.statement_evictions);
        return;
      }
      case 'B': {
        begin_batch(ts);
        std::string_view statement;
        if (!read_cstring(body, pos, name) || !read_cstring(body, pos, statement)) {
          return fail("malformed Bind");
        }
        auto it = statements.find(std::string(statement));
        std::shared_ptr<const Statement> bound;
        if (it != statements.end()) bound = it->second.statement;
        if (name.empty()) {
          remember(portals, name, std::move(bound), kMaxPortals + 1, stats.portal_evictions);
        } else {
          remember(portals, name, std::move(bound), kMaxPortals, stats.portal_evictions);
        }
        return;
      }
      case 'E': {
        begin_batch(ts);
        if (!read_cstring(body, pos, name)) return fail("malformed Execute");
        auto it = portals.find(std::string(name));
        std::shared_ptr<const Statement> statement;
        if (it != portals.end()) statement = it->second.statement;
        if (!statement) ++stats.unknown_statements;
        ++batch.executions;
        if (batch.statements.size() < kMaxOperationsKept) {
          batch.statements.push_back(std::move(statement));
        }
        return;
      }
      case 'C': {
        begin_batch(ts);
        if (body.empty() || !read_cstring(body, ++pos, name)) return fail("malformed Close");
        auto& map = body[0] == 'S' ? statements : portals;
        if (auto it = map.find(std::string(name)); it != map.end()) forget(map, it);
        return;
      }
      case 'D':
        begin_batch(ts);
        return;
      case 'S': {
        begin_batch(ts);
        batch.end_ns = ts;
        batch_open = false;
        const bool emit = batch.executions > 0;
        if (!emit) ++stats.describe_only;
        push_request(std::move(batch), emit);
        return;
      }
      case 'F': {
        Request request;
        request.kind = Request::Kind::kFunctionCall;
        request.start_ns = request.end_ns = ts;
        push_request(std::move(request), true);
        return;
      }
      default:  // Flush, CopyData/Done/Fail, Terminate, password messages
        return;
    }
  }

  void on_startup(const Startup& startup) {
    const int backend = 1 - frontend_dir;
    switch (startup.kind) {
      case StartupKind::kStartup:
        database = std::make_shared<const std::string>(startup.database);
        handshake = true;
        dirs[frontend_dir].mode = Mode::kTyped;
        dirs[backend].mode = Mode::kTyped;
        return;
      case StartupKind::kSslRequest:
      case StartupKind::kGssEncRequest:
        dirs[backend].mode = Mode::kSslAnswer;
        return;  // the frontend's next message is untyped again
      case StartupKind::kCancelRequest:
        ++stats.cancel_requests;
        off = true;  // the server closes without answering
        return;
    }
  }

  // ---- backend ----

  void on_backend(char type, std::string_view body, bool cut, uint64_t ts) {
    Pending* current = pending.empty() ? nullptr : &pending.front();
    Response* response = nullptr;
    const bool async = type == 'N' || type == 'A' || type == 'S';
    if (current && !handshake && !async) {
      if (!current->exchange.response) current->exchange.response.emplace().start_ns = ts;
      response = &*current->exchange.response;
    }
    switch (type) {
      case 'Z':
        if (handshake) {
          handshake = false;
        } else if (!current) {
          ++stats.orphan_responses;
        } else {
          response->end_ns = ts;
          if (current->emit) completed.push_back(std::move(current->exchange));
          pending.pop_front();
        }
        return;
      case 'C':
        if (!response) return;
        if (!cut) {
          std::string_view tag;
          size_t pos = 0;
          if (read_cstring(body, pos, tag)) {
            std::string command = command_of_tag(tag);
            if (response->commands == 0) {
              response->command = std::move(command);
            } else if (command != response->command) {
              response->same_command = false;
            }
          }
        }
        ++response->commands;
        return;
      case 'E':
        if (response && response->sqlstate.empty()) response->sqlstate = sqlstate_of(body);
        return;
      case 'D':
        if (response) ++response->rows;
        return;
      default:  // async (Notice, Notification, ParameterStatus) and the rest: framing only
        return;
    }
  }

  // Requests sent before `ts` whose answers were lost complete as truncated.
  void complete_lost(uint64_t ts) {
    while (!pending.empty() && pending.front().exchange.request.end_ns < ts) {
      Pending& p = pending.front();
      Response& response =
          p.exchange.response ? *p.exchange.response : p.exchange.response.emplace();
      if (!response.start_ns) response.start_ns = ts;
      response.truncated = true;
      response.end_ns = ts;
      if (p.emit) completed.push_back(std::move(p.exchange));
      pending.pop_front();
    }
  }

  // ---- framing ----

  void dispatch(int dir, uint64_t ts) {
    DirectionState& d = dirs[dir];
    const char type = d.header[0];
    if (dir == frontend_dir) {
      on_frontend(type, d.body, d.cut, ts);
    } else {
      on_backend(type, d.body, d.cut, ts);
    }
    d.header_bytes = 0;
    d.body.clear();
    d.cut = false;
  }

  void feed_typed(int dir, std::string_view bytes, uint64_t ts) {
    DirectionState& d = dirs[dir];
    const bool frontend = dir == frontend_dir;
    while (!bytes.empty() && !stopped() && d.mode == Mode::kTyped) {
      if (d.header_bytes < 5) {
        const size_t n = std::min(bytes.size(), 5 - d.header_bytes);
        std::copy_n(bytes.data(), n, d.header + d.header_bytes);
        d.header_bytes += n;
        bytes.remove_prefix(n);
        if (!(frontend ? is_frontend_type(d.header[0]) : is_backend_type(d.header[0]))) {
          return fail(frontend ? "unknown frontend message" : "unknown backend message");
        }
        if (d.header_bytes < 5) return;
        const uint32_t length = read_u32(d.header + 1);
        if (length < 4 || length > kMaxMessageLength) return fail("message length out of bounds");
        d.body_left = length - 4;
        d.keep = kept_bytes(frontend, d.header[0]) > 0;
        if (d.body_left == 0) dispatch(dir, ts);
        continue;
      }
      const size_t n = static_cast<size_t>(std::min<uint64_t>(d.body_left, bytes.size()));
      if (d.keep) {
        const size_t limit = kept_bytes(frontend, d.header[0]);
        const size_t room = limit > d.body.size() ? limit - d.body.size() : 0;
        if (n > room) d.cut = true;
        d.body.append(bytes.data(), std::min(n, room));
      }
      d.body_left -= n;
      bytes.remove_prefix(n);
      if (d.body_left == 0) dispatch(dir, ts);
    }
    if (!bytes.empty() && !stopped()) feed(dir, bytes, ts, false);  // the mode changed
  }

  void feed_startup(int dir, std::string_view bytes, uint64_t ts) {
    DirectionState& d = dirs[dir];
    const size_t before = d.startup.size();
    d.startup.append(bytes.substr(0, std::min<size_t>(bytes.size(), kMaxStartupLength)));
    Startup startup;
    size_t consumed = 0;
    const ParseState state = parse_startup(d.startup, startup, consumed);
    if (state == ParseState::kInvalid) return fail("not a PostgreSQL startup");
    if (state == ParseState::kNeedsMoreData) {
      if (d.startup.size() >= kMaxStartupLength) fail("startup message too long");
      return;
    }
    on_startup(startup);
    const size_t rest_at = consumed - before;
    d.startup.clear();
    if (rest_at < bytes.size() && !stopped()) feed(dir, bytes.substr(rest_at), ts, false);
  }

  void feed(int dir, std::string_view bytes, uint64_t ts, bool syscall_start) {
    DirectionState& d = dirs[dir];
    switch (d.mode) {
      case Mode::kStartup:
        return feed_startup(dir, bytes, ts);
      case Mode::kSslAnswer: {
        const char answer = bytes[0];
        if (answer == 'N') {
          d.mode = Mode::kTyped;
          dirs[frontend_dir].mode = Mode::kStartup;
          if (bytes.size() > 1) feed_typed(dir, bytes.substr(1), ts);
        } else if (answer == 'S' || answer == 'G') {
          ++stats.tls;
          off = true;  // TLS or GSS encryption from here
        } else {
          fail("bad SSLRequest answer");
        }
        return;
      }
      case Mode::kTyped:
        return feed_typed(dir, bytes, ts);
      case Mode::kWaitStart: {
        Message message;
        size_t consumed = 0;
        if (!syscall_start || pending.empty() ||
            parse_message(bytes, false, message, consumed) == ParseState::kInvalid) {
          return;
        }
        d.mode = Mode::kTyped;
        return feed_typed(dir, bytes, ts);
      }
      case Mode::kLost:
        return find_ready_for_query(dir, bytes, ts);
    }
  }

  // Lost backend framing resumes after a ReadyForQuery ('Z', length 5, status I/T/E) that
  // ends a read or is followed by a valid message header.
  void find_ready_for_query(int dir, std::string_view bytes, uint64_t ts) {
    static constexpr std::string_view kReady("Z\0\0\0\5", 5);
    for (size_t at = bytes.rfind(kReady); at != std::string_view::npos;
         at = at == 0 ? std::string_view::npos : bytes.rfind(kReady, at - 1)) {
      if (at + 6 > bytes.size()) continue;
      const char status = bytes[at + 5];
      if (status != 'I' && status != 'T' && status != 'E') continue;
      const std::string_view rest = bytes.substr(at + 6);
      Message message;
      size_t consumed = 0;
      if (!rest.empty() && parse_message(rest, false, message, consumed) == ParseState::kInvalid) {
        continue;
      }
      ++stats.lost_sync;
      complete_lost(ts);
      DirectionState& d = dirs[dir];
      d = DirectionState{};
      d.mode = Mode::kTyped;
      if (!rest.empty()) feed_typed(dir, rest, ts);
      return;
    }
  }

  // `gap` bytes of this direction were not captured.
  void gap(int dir, uint64_t gap_bytes) {
    DirectionState& d = dirs[dir];
    if (d.mode == Mode::kWaitStart || d.mode == Mode::kLost) return;
    if (d.mode == Mode::kTyped && d.header_bytes == 5 && gap_bytes <= d.body_left) {
      d.body_left -= gap_bytes;
      if (d.keep) d.cut = true;
      if (d.body_left == 0) dispatch(dir, now_ns);
      return;
    }
    if (dir == frontend_dir || d.mode != Mode::kTyped) {
      return fail("frontend bytes lost across messages");
    }
    if (!pending.empty()) {
      Response& response = pending.front().exchange.response
                               ? *pending.front().exchange.response
                               : pending.front().exchange.response.emplace();
      response.truncated = true;
    }
    d = DirectionState{};
    d.mode = Mode::kLost;
  }

  void on_data(Direction direction, std::string_view bytes, uint64_t gap_bytes, uint64_t ts,
               bool syscall_start) {
    if (stopped()) return;
    now_ns = ts;
    int dir = direction == Direction::kIngress ? 1 : 0;
    if (frontend_dir < 0) {
      // No role: the first data are the frontend's (detection checked them): a startup, or
      // on a connection joined late, whole plausible frontend messages. (A forked server,
      // like PostgreSQL's backends, inherits its socket: it too looks joined late.)
      const bool start = syscall_start && is_connection_start(bytes);
      if (!start && !(syscall_start && joined_midstream && is_frontend_sequence(bytes))) {
        return fail("the first data is not a frontend's");
      }
      frontend_dir = dir;
      dirs[dir].mode = start ? Mode::kStartup : Mode::kTyped;
      dirs[1 - dir].mode = start ? Mode::kTyped : Mode::kWaitStart;
      if (frontend_dir == 1) {
        off = true;
        ++stats.server_side;
        return;
      }
    }
    if (!bytes.empty()) feed(dir, bytes, ts, syscall_start);
    if (gap_bytes && !stopped()) gap(dir, gap_bytes);
  }

  void on_close(uint64_t ts) {
    for (Pending& p : pending) {
      if (p.exchange.response) {  // begun, never ended by its ReadyForQuery
        p.exchange.response->truncated = true;
        p.exchange.response->end_ns = ts;
      }
      if (p.emit) completed.push_back(std::move(p.exchange));
    }
    pending.clear();
  }
};

ConnectionParser::ConnectionParser(Role role, bool joined_midstream)
    : impl_(std::make_unique<Impl>(role, joined_midstream)) {}
ConnectionParser::~ConnectionParser() = default;
ConnectionParser::ConnectionParser(ConnectionParser&&) noexcept = default;
ConnectionParser& ConnectionParser::operator=(ConnectionParser&&) noexcept = default;

void ConnectionParser::on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes_after,
                               uint64_t timestamp_ns, bool syscall_start) {
  impl_->on_data(dir, bytes, gap_bytes_after, timestamp_ns, syscall_start);
}

void ConnectionParser::on_close(uint64_t timestamp_ns) { impl_->on_close(timestamp_ns); }

std::vector<Exchange> ConnectionParser::take_exchanges() {
  std::vector<Exchange> out;
  out.swap(impl_->completed);
  return out;
}

bool ConnectionParser::failed() const { return impl_->failure != nullptr; }
std::string_view ConnectionParser::failure_reason() const {
  return impl_->failure ? impl_->failure : "";
}
Role ConnectionParser::role() const {
  if (impl_->role != Role::kUnknown) return impl_->role;
  if (impl_->frontend_dir < 0) return Role::kUnknown;
  return impl_->frontend_dir == 0 ? Role::kClient : Role::kServer;
}
const ParserStats& ConnectionParser::stats() const { return impl_->stats; }

}  // namespace ztrace::postgresql
