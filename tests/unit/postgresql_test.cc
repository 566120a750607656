// PostgreSQL: framing of every message type, detection, sanitizing, the connection parser
// (simple and extended protocol, pipelining, COPY, async messages, errors, bounds, lost
// bytes) and the span builder.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tests/unit/postgresql_test_support.h"
#include "userspace/protocols/postgresql/protocol.h"
#include "userspace/protocols/postgresql/sql.h"

namespace ztrace::postgresql {
namespace {

using namespace test;

struct Chunk {
  Direction dir;
  std::string bytes;
};
constexpr Direction kOut = Direction::kEgress;  // frontend, for a client
constexpr Direction kIn = Direction::kIngress;

struct Run {
  std::vector<Exchange> exchanges;
  bool failed = false;
  std::string reason;
  ParserStats stats;
};

// Feeds chunks (each one syscall, timestamps 1000, 2000, ...) to a client-side parser.
Run replay(const std::vector<Chunk>& chunks, Role role = Role::kClient, bool joined = false,
           bool close = false) {
  ConnectionParser parser(role, joined);
  Run run;
  uint64_t ts = 0;
  for (const Chunk& c : chunks) {
    ts += 1000;
    parser.on_data(c.dir, c.bytes, 0, ts, true);
    for (auto& e : parser.take_exchanges()) run.exchanges.push_back(std::move(e));
  }
  if (close) {
    parser.on_close(ts + 1000);
    for (auto& e : parser.take_exchanges()) run.exchanges.push_back(std::move(e));
  }
  run.failed = parser.failed();
  run.reason = std::string(parser.failure_reason());
  run.stats = parser.stats();
  return run;
}

std::vector<Chunk> opened(std::vector<Chunk> rest) {
  std::vector<Chunk> chunks = {{kOut, startup("app", "shop")}, {kIn, startup_answer()}};
  chunks.insert(chunks.end(), rest.begin(), rest.end());
  return chunks;
}

std::string text_of(const Exchange& e, size_t i = 0) {
  const auto& s = e.request.statements;
  return i < s.size() && s[i] ? s[i]->text : "<unknown>";
}

protocols::ConnectionView client_view() {
  protocols::ConnectionView v;
  v.pid = 10;
  v.role = Role::kClient;
  v.local = {"10.0.0.2", 40000};
  v.remote = {"10.0.0.1", 5432};
  return v;
}

std::string str(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<absent>";
}
int64_t num(const spans::Span& span, std::string_view key) {
  const auto* v = span.find(key);
  return v && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : -1;
}

}  // namespace

TEST_CASE("postgresql wire: every message type frames, and each proper prefix needs more data",
          "[postgresql]") {
  struct Row {
    const char* name;
    bool frontend;
    std::string bytes;
  };
  const std::vector<Row> rows = {
      {"Query", true, query("select 1")},
      {"Parse", true, parse("s1", "select $1", 1)},
      {"Bind", true, bind("p1", "s1", {"42"})},
      {"Describe", true, describe('S', "s1")},
      {"Execute", true, execute("p1")},
      {"Close", true, close('P', "p1")},
      {"Sync", true, sync()},
      {"Flush", true, flush()},
      {"FunctionCall", true, function_call(1598)},
      {"CopyData (frontend)", true, copy_data("1\tx\n")},
      {"CopyDone (frontend)", true, copy_done()},
      {"CopyFail", true, msg('f', cstr("no"))},
      {"Terminate", true, terminate()},
      {"PasswordMessage", true, password("hunter2")},
      {"Authentication", false, auth_ok()},
      {"BackendKeyData", false, backend_key()},
      {"ParameterStatus", false, parameter_status("TimeZone", "UTC")},
      {"ReadyForQuery", false, ready('T')},
      {"RowDescription", false, row_description(2)},
      {"DataRow", false, data_row("abc")},
      {"CommandComplete", false, command_complete("SELECT 1")},
      {"ErrorResponse", false, error_response("42P01", "no such table")},
      {"NoticeResponse", false, notice("hello")},
      {"NotificationResponse", false, notification("ch", "payload")},
      {"CopyInResponse", false, copy_in_response()},
      {"CopyOutResponse", false, copy_out_response()},
      {"CopyBothResponse", false, msg('W', std::string(1, '\0') + be16(0))},
      {"CopyData (backend)", false, copy_data("row\n")},
      {"CopyDone (backend)", false, copy_done()},
      {"ParseComplete", false, parse_complete()},
      {"BindComplete", false, bind_complete()},
      {"CloseComplete", false, close_complete()},
      {"NoData", false, no_data()},
      {"PortalSuspended", false, portal_suspended()},
      {"ParameterDescription", false, parameter_description()},
      {"EmptyQueryResponse", false, empty_query()},
      {"FunctionCallResponse", false, function_result()},
      {"NegotiateProtocolVersion", false, msg('v', be32(0) + be32(0))},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Message m;
    size_t consumed = 0;
    REQUIRE(parse_message(row.bytes, row.frontend, m, consumed) == ParseState::kSuccess);
    CHECK(consumed == row.bytes.size());
    CHECK(m.type == row.bytes[0]);
    CHECK(m.body.size() == row.bytes.size() - 5);
    // Followed by more bytes, it still ends where its length says.
    REQUIRE(parse_message(row.bytes + "Zjunk", row.frontend, m, consumed) == ParseState::kSuccess);
    CHECK(consumed == row.bytes.size());
    for (size_t n = 0; n < row.bytes.size(); ++n) {
      CHECK(parse_message(std::string_view(row.bytes).substr(0, n), row.frontend, m, consumed) ==
            ParseState::kNeedsMoreData);
    }
  }
}

TEST_CASE("postgresql wire: unknown types and lengths out of bounds are invalid", "[postgresql]") {
  Message m;
  size_t consumed = 0;
  CHECK(parse_message("GET / HTTP/1.1\r\n", true, m, consumed) == ParseState::kInvalid);
  CHECK(parse_message("POST /x HTTP/1.1\r\n", true, m, consumed) == ParseState::kInvalid);
  CHECK(parse_message("Q" + be32(3), true, m, consumed) == ParseState::kInvalid);
  CHECK(parse_message("Q" + be32(0x40000000), true, m, consumed) == ParseState::kInvalid);
  CHECK(parse_message(ready(), true, m, consumed) == ParseState::kInvalid);  // 'Z': backend only
  CHECK(parse_message(query("x"), false, m, consumed) == ParseState::kInvalid);  // 'Q': frontend
}

TEST_CASE("postgresql wire: startup, SSL, GSSENC and cancel requests", "[postgresql]") {
  Startup s;
  size_t consumed = 0;
  const std::string start = startup("alice", "orders");
  REQUIRE(parse_startup(start, s, consumed) == ParseState::kSuccess);
  CHECK(s.kind == StartupKind::kStartup);
  CHECK(s.user == "alice");
  CHECK(s.database == "orders");
  CHECK(consumed == start.size());
  const std::string no_database = startup("bob", "");
  REQUIRE(parse_startup(no_database, s, consumed) == ParseState::kSuccess);
  CHECK(s.database == "bob");  // the server's default
  REQUIRE(parse_startup(ssl_request(), s, consumed) == ParseState::kSuccess);
  CHECK(s.kind == StartupKind::kSslRequest);
  REQUIRE(parse_startup(gssenc_request(), s, consumed) == ParseState::kSuccess);
  CHECK(s.kind == StartupKind::kGssEncRequest);
  REQUIRE(parse_startup(cancel_request(), s, consumed) == ParseState::kSuccess);
  CHECK(s.kind == StartupKind::kCancelRequest);
  for (const std::string& whole : {start, ssl_request(), cancel_request()}) {
    for (size_t n = 0; n < whole.size(); ++n) {
      INFO(n);
      CHECK(parse_startup(std::string_view(whole).substr(0, n), s, consumed) ==
            ParseState::kNeedsMoreData);
    }
  }
  CHECK(parse_startup(be32(8) + be32(12345), s, consumed) == ParseState::kInvalid);
  CHECK(parse_startup("GET / HTTP/1.1\r\n", s, consumed) == ParseState::kInvalid);
}

TEST_CASE("postgresql detection: startup messages, strict frontend messages, never HTTP",
          "[postgresql]") {
  CHECK(Protocol::detect(startup("u", "d"), Role::kClient, false));
  CHECK(Protocol::detect(ssl_request(), Role::kClient, false));
  CHECK(Protocol::detect(gssenc_request(), Role::kClient, false));
  CHECK(Protocol::detect(cancel_request(), Role::kClient, false));
  // A connection opened before the agent: whole, well-formed frontend messages only.
  CHECK(Protocol::detect(query("select 1"), Role::kUnknown, true));
  CHECK(Protocol::detect(
      parse("", "select $1", 1) + bind("", "", {"1"}) + describe('P', "") + execute("") + sync(),
      Role::kUnknown, true));
  CHECK(Protocol::detect(bind("", "S_1", {"7"}) + execute("") + sync(), Role::kUnknown, true));
  CHECK_FALSE(Protocol::detect(query("select 1"), Role::kClient, false));  // must open first
  CHECK_FALSE(Protocol::detect(query("select 1").substr(0, 8), Role::kUnknown, true));
  CHECK_FALSE(Protocol::detect(query("select 1") + "x", Role::kUnknown, true));
  CHECK_FALSE(Protocol::detect(sync(), Role::kUnknown, true));  // opens no request
  CHECK_FALSE(Protocol::detect(copy_data("abc"), Role::kUnknown, true));
  CHECK_FALSE(Protocol::detect(msg('Q', "no terminator"), Role::kUnknown, true));
  for (const char* http :
       {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /q HTTP/1.1\r\n\r\n", "PUT /q HTTP/1.1\r\n\r\n",
        "PATCH /q HTTP/1.1\r\n\r\n", "DELETE / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "\x16\x03\x01\x02\x00\x01"}) {
    INFO(http);
    CHECK_FALSE(Protocol::detect(http, Role::kUnknown, true));
    CHECK_FALSE(Protocol::detect(http, Role::kClient, false));
  }
}

TEST_CASE("postgresql sql: literals become ?, everything else stays", "[postgresql]") {
  struct Row {
    std::string in, out;
  };
  const std::vector<Row> rows = {
      {"SELECT * FROM t WHERE a = 'x' AND b = 42", "SELECT * FROM t WHERE a = ? AND b = ?"},
      {"select 'it''s', E'a\\'b', $$dollar 'q'$$, $tag$x$tag$ from t", "select ?, ?, ?, ? from t"},
      {"insert into t1 values (1.5, -2, 1e10, .5, 0x1F)", "insert into t1 values (?, -?, ?, ?, ?)"},
      {"select x'1F', b'101', n'nat', U&'d\\0061t' from \"Tab 1\"",
       "select ?, ?, ?, ? from \"Tab 1\""},
      {"select $1, $2::int from t where c = $3", "select $1, $2::int from t where c = $3"},
      {"select 1 -- secret\nfrom t /* password 'x' /* nested */ */ where y",
       "select ? \nfrom t  where y"},
      {"select 'unterminated secret", "select ?"},
      {"select $q$ unterminated", "select ?"},
      {"SELECT col1, t2.c3 FROM s.t2", "SELECT col1, t2.c3 FROM s.t2"},
  };
  for (const Row& row : rows) {
    INFO(row.in);
    CHECK(sanitize_sql(row.in) == row.out);
  }
}

TEST_CASE("postgresql sql: summaries name operations and tables", "[postgresql]") {
  struct Row {
    std::string in, out;
  };
  const std::vector<Row> rows = {
      {"SELECT * FROM wuser_table WHERE username = ?", "SELECT wuser_table"},
      {"INSERT INTO shipping_details (order_id, address) SELECT order_id, address FROM orders",
       "INSERT shipping_details SELECT orders"},
      {"select * from songs, artists where songs.artist_id = artists.id", "SELECT songs artists"},
      {"select a from t1 x join public.t2 y on x.id = y.id", "SELECT t1 public.t2"},
      {"update accounts set v = v + ? where id = ?", "UPDATE accounts"},
      {"delete from \"Orders\" where id = ?", "DELETE \"Orders\""},
      {"select extract(year from d) from t", "SELECT t"},
      {"select * from t for update", "SELECT t"},
      {"create table if not exists t(id int)", "CREATE TABLE t"},
      {"drop index i", "DROP INDEX i"},
      {"copy t from stdin", "COPY t"},
      {"vacuum analyze t", "VACUUM t"},
      {"begin; select ?; commit", "BEGIN SELECT COMMIT"},
      {"with c as (select * from a) select * from c", "SELECT a SELECT c"},
      {"select ?", "SELECT"},
      {"nonsense words", ""},
  };
  for (const Row& row : rows) {
    INFO(row.in);
    CHECK(summarize_sql(row.in) == row.out);
  }
}

TEST_CASE("postgresql parser: simple queries, several statements, errors, async messages",
          "[postgresql]") {
  const auto run = replay(opened({
      {kOut, query("select name from users where id = 7")},
      {kIn, row_description() + data_row("ann") + notice("n") + parameter_status("a", "b") +
                notification("ch", "p") + command_complete("SELECT 1") + ready()},
      {kOut, query("begin; insert into t values (1); commit")},
      {kIn, command_complete("BEGIN") + command_complete("INSERT 0 1") +
                command_complete("COMMIT") + ready()},
      {kOut, query("select * from nope")},
      {kIn, error_response("42P01", "relation \"nope\" does not exist") + ready()},
      {kOut, query("")},
      {kIn, empty_query() + ready()},
  }));
  REQUIRE_FALSE(run.failed);
  REQUIRE(run.exchanges.size() == 4);
  const Exchange& a = run.exchanges[0];
  CHECK(*a.database == "shop");
  CHECK(text_of(a) == "select name from users where id = ?");
  REQUIRE(a.response);
  CHECK(a.response->rows == 1);
  CHECK(a.response->command == "SELECT");
  CHECK(a.response->sqlstate.empty());
  CHECK(a.request.start_ns == 3000);
  CHECK(a.response->end_ns == 4000);
  const Exchange& b = run.exchanges[1];
  CHECK(text_of(b) == "begin; insert into t values (?); commit");
  CHECK(b.response->commands == 3);
  CHECK_FALSE(b.response->same_command);
  CHECK(run.exchanges[2].response->sqlstate == "42P01");
  CHECK(run.exchanges[3].response->commands == 0);
}

TEST_CASE("postgresql parser: the extended protocol keeps statements and portals", "[postgresql]") {
  const auto run = replay(opened({
      // Prepared once (named), described: no Execute, no span.
      {kOut, parse("S_1", "select * from t where id = $1", 1) + describe('S', "S_1") + sync()},
      {kIn, parse_complete() + parameter_description() + row_description() + ready()},
      // Executed later, twice, in separate syncs.
      {kOut, bind("", "S_1", {"1"}) + execute("") + sync()},
      {kIn, bind_complete() + data_row("a") + command_complete("SELECT 1") + ready()},
      {kOut, bind("", "S_1", {"2"}) + execute("") + sync()},
      {kIn, bind_complete() + command_complete("SELECT 0") + ready()},
      // Unnamed statement, named portal, flush in between, then closes.
      {kOut, parse("", "update t set v = 1 where id = $1", 1) + bind("P_1", "", {"3"}) + flush()},
      {kIn, parse_complete() + bind_complete()},
      {kOut, execute("P_1") + close('P', "P_1") + close('S', "S_1") + sync()},
      {kIn, command_complete("UPDATE 1") + close_complete() + close_complete() + ready()},
      // S_1 is closed: an Execute of it now has no text.
      {kOut, bind("", "S_1", {"1"}) + execute("") + sync()},
      {kIn, error_response("26000", "prepared statement \"S_1\" does not exist") + ready()},
  }));
  REQUIRE_FALSE(run.failed);
  REQUIRE(run.exchanges.size() == 4);
  CHECK(run.stats.describe_only == 1);
  CHECK(text_of(run.exchanges[0]) == "select * from t where id = $1");
  CHECK(run.exchanges[0].response->rows == 1);
  CHECK(text_of(run.exchanges[1]) == "select * from t where id = $1");
  CHECK(run.exchanges[1].request.kind == Request::Kind::kExtended);
  CHECK(text_of(run.exchanges[2]) == "update t set v = ? where id = $1");
  CHECK(run.exchanges[2].response->command == "UPDATE");
  CHECK(run.exchanges[2].request.start_ns == 9000);  // the Parse's syscall, not the Sync's
  CHECK(text_of(run.exchanges[3]) == "<unknown>");
  CHECK(run.exchanges[3].response->sqlstate == "26000");
  CHECK(run.stats.unknown_statements == 1);
}

TEST_CASE("postgresql parser: pipelined batches pair in order", "[postgresql]") {
  std::string batch = parse("", "insert into t values ($1)", 1);
  std::string answers = parse_complete();
  for (int i = 0; i < 5; ++i) {
    batch += bind("", "", {std::to_string(i)}) + execute("");
    answers += bind_complete() + command_complete("INSERT 0 1");
  }
  const auto run = replay(opened({
      {kOut, batch + sync() + query("select 1") + parse("", "select 2") + bind("", "") +
                 execute("") + sync()},
      {kIn, answers + ready('T')},
      {kIn, row_description() + data_row("1") + command_complete("SELECT 1") + ready()},
      {kIn,
       parse_complete() + bind_complete() + data_row("2") + command_complete("SELECT 1") + ready()},
  }));
  REQUIRE_FALSE(run.failed);
  REQUIRE(run.exchanges.size() == 3);
  CHECK(run.exchanges[0].request.executions == 5);
  CHECK(run.exchanges[0].request.statements.size() == 5);
  CHECK(run.exchanges[0].response->commands == 5);
  CHECK(run.exchanges[0].response->same_command);
  CHECK(text_of(run.exchanges[1]) == "select ?");
  CHECK(text_of(run.exchanges[2]) == "select ?");
  CHECK(run.exchanges[2].response->rows == 1);
}

TEST_CASE("postgresql parser: COPY in both directions is skipped exactly", "[postgresql]") {
  const std::string rows = copy_data("1\tsecret\n") + copy_data("2\tsecret\n");
  const auto run = replay(opened({
      {kOut, query("copy t from stdin")},
      {kIn, copy_in_response()},
      {kOut, rows + copy_done()},
      {kIn, command_complete("COPY 2") + ready()},
      {kOut, query("copy t to stdout")},
      {kIn, copy_out_response() + copy_data("Z\0\0\0\x05I") + rows + copy_done() +
                command_complete("COPY 2") + ready()},
      {kOut, function_call(1598)},
      {kIn, function_result() + ready()},
  }));
  REQUIRE_FALSE(run.failed);
  REQUIRE(run.exchanges.size() == 3);
  CHECK(run.exchanges[0].response->command == "COPY");
  CHECK(run.exchanges[1].response->command == "COPY");
  CHECK(run.exchanges[1].response->rows == 0);  // CopyData is not a DataRow
  CHECK(run.exchanges[2].request.kind == Request::Kind::kFunctionCall);
}

TEST_CASE("postgresql parser: SSL refused then startup; SSL accepted; cancel", "[postgresql]") {
  const auto plain = replay({{kOut, ssl_request()},
                             {kIn, "N"},
                             {kOut, startup("u", "db2")},
                             {kIn, msg('R', be32(5) + "salt")},
                             {kOut, password("md5secret")},
                             {kIn, startup_answer()},
                             {kOut, query("select 1")},
                             {kIn, command_complete("SELECT 1") + ready()}});
  REQUIRE_FALSE(plain.failed);
  REQUIRE(plain.exchanges.size() == 1);
  CHECK(*plain.exchanges[0].database == "db2");
  const auto tls = replay({{kOut, ssl_request()}, {kIn, "S"}, {kOut, "\x16\x03\x01 tls bytes"}});
  CHECK_FALSE(tls.failed);
  CHECK(tls.stats.tls == 1);
  CHECK(tls.exchanges.empty());
  const auto cancel = replay({{kOut, cancel_request()}});
  CHECK_FALSE(cancel.failed);
  CHECK(cancel.stats.cancel_requests == 1);
}

TEST_CASE("postgresql parser: no password reaches an exchange", "[postgresql]") {
  const auto run = replay({{kOut, startup("u", "d")},
                           {kIn, auth_cleartext()},
                           {kOut, password("hunter2")},
                           {kIn, startup_answer()},
                           {kOut, query("select 1")},
                           {kIn, command_complete("SELECT 1") + ready()}});
  REQUIRE(run.exchanges.size() == 1);
  for (const auto& e : run.exchanges) {
    for (const auto& s : e.request.statements) CHECK(s->text.find("hunter2") == std::string::npos);
  }
}

TEST_CASE("postgresql parser: every prefix of a conversation waits, then completes the same",
          "[postgresql]") {
  const std::vector<Chunk> conversation = opened({
      {kOut, query("select 1")},
      {kIn,
       row_description() + data_row("1") + notice("x") + command_complete("SELECT 1") + ready()},
      {kOut, parse("S_1", "select $1", 1) + bind("", "S_1", {"9"}) + execute("") + sync()},
      {kIn,
       parse_complete() + bind_complete() + data_row("9") + command_complete("SELECT 1") + ready()},
      {kOut, query("copy t from stdin")},
      {kIn, copy_in_response()},
      {kOut, copy_data("a\n") + copy_done()},
      {kIn, command_complete("COPY 1") + ready()},
  });
  const Run whole = replay(conversation);
  REQUIRE(whole.exchanges.size() == 3);
  size_t total = 0;
  for (const Chunk& c : conversation) total += c.bytes.size();
  for (size_t cut = 0; cut < total; ++cut) {
    // The first `cut` bytes, then the rest, as separate pieces of the same syscalls.
    ConnectionParser parser(Role::kClient, false);
    std::vector<Exchange> got;
    size_t seen = 0;
    uint64_t ts = 0;
    for (const Chunk& c : conversation) {
      ts += 1000;
      if (seen + c.bytes.size() <= cut || seen >= cut) {
        parser.on_data(c.dir, c.bytes, 0, ts, true);
      } else {
        const size_t at = cut - seen;
        parser.on_data(c.dir, std::string_view(c.bytes).substr(0, at), 0, ts, true);
        REQUIRE_FALSE(parser.failed());
        for (auto& e : parser.take_exchanges()) got.push_back(std::move(e));
        parser.on_data(c.dir, std::string_view(c.bytes).substr(at), 0, ts, false);
      }
      seen += c.bytes.size();
      for (auto& e : parser.take_exchanges()) got.push_back(std::move(e));
    }
    INFO("cut at " << cut);
    REQUIRE_FALSE(parser.failed());
    REQUIRE(got.size() == whole.exchanges.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(text_of(got[i]) == text_of(whole.exchanges[i]));
      CHECK(got[i].response->rows == whole.exchanges[i].response->rows);
    }
  }
}

TEST_CASE("postgresql parser: a connection joined late starts at a frontend message",
          "[postgresql]") {
  // Statement S_2 was prepared before the agent: its Execute gets a span without text.
  const auto run =
      replay({{kOut, bind("", "S_2", {"1"}) + execute("") + sync()},
              {kIn, bind_complete() + data_row("x") + command_complete("SELECT 1") + ready()},
              {kOut, query("select 2")},
              {kIn, data_row("2") + command_complete("SELECT 1") + ready()}},
             Role::kUnknown, true);
  REQUIRE_FALSE(run.failed);
  REQUIRE(run.exchanges.size() == 2);
  CHECK(text_of(run.exchanges[0]) == "<unknown>");
  CHECK(run.exchanges[0].response->command == "SELECT");
  CHECK(run.exchanges[0].database == nullptr);
  CHECK(text_of(run.exchanges[1]) == "select ?");
  // The server side (a forked backend looks joined late too): parsed no further.
  const auto server =
      replay({{kIn, startup("u", "d")}, {kOut, startup_answer()}}, Role::kUnknown, true);
  CHECK_FALSE(server.failed);
  CHECK(server.stats.server_side == 1);
  const auto accepted = replay({{kIn, startup("u", "d")}}, Role::kServer, false);
  CHECK(accepted.stats.server_side == 1);
}

TEST_CASE("postgresql parser: bad input fails the connection with a reason", "[postgresql]") {
  struct Row {
    const char* name;
    std::vector<Chunk> chunks;
  };
  const std::vector<Row> rows = {
      {"unknown frontend type", opened({{kOut, msg('z', "abc")}})},
      {"unknown backend type", opened({{kOut, query("select 1")}, {kIn, msg('q', "abc")}})},
      {"length past any bound", opened({{kOut, "Q" + be32(0x7fffffff)}})},
      {"length below its own size", opened({{kOut, "Q" + be32(2)}})},
      {"not a startup", {{kOut, "GET / HTTP/1.1\r\n\r\n"}}},
      {"bad SSL answer", {{kOut, ssl_request()}, {kIn, "X"}}},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    const Run run = replay(row.chunks);
    CHECK(run.failed);
    CHECK_FALSE(run.reason.empty());
  }
}

TEST_CASE("postgresql parser: statements and portals are bounded, evictions counted",
          "[postgresql]") {
  ConnectionParser parser(Role::kClient, false);
  parser.on_data(kOut, startup("u", "d"), 0, 1, true);
  parser.on_data(kIn, startup_answer(), 0, 2, true);
  std::string out;
  for (size_t i = 0; i < ConnectionParser::kMaxStatements + 10; ++i) {
    out += parse("S_" + std::to_string(i), "select " + std::to_string(i));
  }
  for (size_t i = 0; i < ConnectionParser::kMaxPortals + 5; ++i) {
    out += bind("P_" + std::to_string(i), "S_300");
  }
  parser.on_data(kOut, out + sync(), 0, 3, true);
  CHECK(parser.stats().statement_evictions == 10);
  CHECK(parser.stats().portal_evictions == 5);
  // The newest survive: S_265 is still there.
  parser.on_data(kOut, bind("", "S_265") + execute("") + sync(), 0, 4, true);
  parser.on_data(kIn, ready() + command_complete("SELECT 1") + ready(), 0, 5, true);
  auto exchanges = parser.take_exchanges();
  REQUIRE(exchanges.size() == 1);
  CHECK(text_of(exchanges[0]) == "select ?");
}

TEST_CASE("postgresql parser: uncaptured bytes", "[postgresql]") {
  SECTION("inside a DataRow: skipped exactly") {
    ConnectionParser parser(Role::kClient, false);
    parser.on_data(kOut, startup("u", "d"), 0, 1, true);
    parser.on_data(kIn, startup_answer(), 0, 2, true);
    parser.on_data(kOut, query("select big"), 0, 3, true);
    const std::string big = data_row(std::string(100000, 'x'));
    parser.on_data(kIn, big.substr(0, 4096), big.size() - 4096, 4, true);
    parser.on_data(kIn, data_row("y") + command_complete("SELECT 2") + ready(), 0, 5, true);
    auto exchanges = parser.take_exchanges();
    REQUIRE(exchanges.size() == 1);
    CHECK(exchanges[0].response->rows == 2);
    CHECK_FALSE(exchanges[0].response->truncated);
  }
  SECTION("across backend messages: resumes after a ReadyForQuery, the request truncated") {
    ConnectionParser parser(Role::kClient, false);
    parser.on_data(kOut, startup("u", "d"), 0, 1, true);
    parser.on_data(kIn, startup_answer(), 0, 2, true);
    parser.on_data(kOut, query("select many"), 0, 3, true);
    std::string rows;
    for (int i = 0; i < 100; ++i) rows += data_row(std::string(100, 'r'));
    rows += command_complete("SELECT 100") + ready();
    parser.on_data(kIn, rows.substr(0, 1000), 5000, 4, true);
    parser.on_data(kIn, rows.substr(6000), 0, 5, true);
    parser.on_data(kOut, query("select 1"), 0, 6, true);
    parser.on_data(kIn, command_complete("SELECT 1") + ready(), 0, 7, true);
    auto exchanges = parser.take_exchanges();
    CHECK_FALSE(parser.failed());
    REQUIRE(exchanges.size() == 2);
    CHECK(exchanges[0].response->truncated);
    CHECK_FALSE(exchanges[1].response->truncated);
    CHECK(parser.stats().lost_sync == 1);
  }
  SECTION("across frontend messages: the connection fails, counted") {
    ConnectionParser parser(Role::kClient, false);
    parser.on_data(kOut, startup("u", "d"), 0, 1, true);
    parser.on_data(kIn, startup_answer(), 0, 2, true);
    parser.on_data(kOut, query("select 1").substr(0, 3), 100, 3, true);
    CHECK(parser.failed());
  }
  SECTION("inside a Query: its text is marked truncated") {
    ConnectionParser parser(Role::kClient, false);
    parser.on_data(kOut, startup("u", "d"), 0, 1, true);
    parser.on_data(kIn, startup_answer(), 0, 2, true);
    const std::string q = query("select '" + std::string(20000, 's') + "' from t");
    parser.on_data(kOut, q.substr(0, 4096), q.size() - 4096, 3, true);
    parser.on_data(kIn, command_complete("SELECT 1") + ready(), 0, 4, true);
    auto exchanges = parser.take_exchanges();
    REQUIRE(exchanges.size() == 1);
    CHECK(exchanges[0].request.statements[0]->truncated);
    CHECK(exchanges[0].request.statements[0]->text == "select ?");
  }
}

TEST_CASE("postgresql spans: attributes per the database conventions", "[postgresql]") {
  spans::KernelClock clock;
  SpanBuilder builder({}, clock);
  const auto run =
      replay(opened({
                 {kOut, query("select name from users where id = 7")},
                 {kIn, data_row("a") + data_row("b") + command_complete("SELECT 2") + ready()},
                 {kOut, query("insert into users values (1)")},
                 {kIn, error_response("23505", "duplicate key value violates unique constraint") +
                           ready()},
                 {kOut, parse("", "insert into t values ($1)", 1) + bind("", "", {"1"}) +
                            execute("") + bind("", "", {"2"}) + execute("") + sync()},
                 {kIn, parse_complete() + bind_complete() + command_complete("INSERT 0 1") +
                           bind_complete() + command_complete("INSERT 0 1") + ready()},
                 {kOut, bind("", "S_9") + execute("") + sync()},
                 {kIn, bind_complete() + command_complete("DELETE 3") + ready()},
                 {kOut, query("select 1; select 2")},
             }),
             Role::kClient, false, /*close=*/true);
  REQUIRE(run.exchanges.size() == 5);
  const auto view = client_view();

  auto select = *builder.build({view}, run.exchanges[0]);
  CHECK(select.kind == spans::SpanKind::kClient);
  CHECK(select.name == "SELECT users");
  CHECK(str(select, "db.system.name") == "postgresql");
  CHECK(str(select, "db.namespace") == "shop");
  CHECK(str(select, "db.query.text") == "select name from users where id = ?");
  CHECK(str(select, "db.query.summary") == "SELECT users");
  CHECK(str(select, "db.operation.name") == "SELECT");
  CHECK(str(select, "db.collection.name") == "<absent>");  // not parsed out of query text
  CHECK(num(select, "db.response.returned_rows") == 2);
  CHECK(str(select, "db.response.status_code") == "<absent>");
  CHECK(select.status_code == spans::StatusCode::kUnset);
  CHECK(str(select, "server.address") == "10.0.0.1");
  CHECK(num(select, "server.port") == 5432);
  CHECK(str(select, "network.peer.address") == "10.0.0.1");
  CHECK(num(select, "network.peer.port") == 5432);

  auto failed = *builder.build({view}, run.exchanges[1]);
  CHECK(failed.status_code == spans::StatusCode::kError);
  CHECK(str(failed, "db.response.status_code") == "23505");
  CHECK(str(failed, "error.type") == "23505");
  CHECK(failed.status_message.find("duplicate") == std::string::npos);  // messages may hold data

  auto batch = *builder.build({view}, run.exchanges[2]);
  CHECK(batch.name == "BATCH INSERT t");
  CHECK(num(batch, "db.operation.batch.size") == 2);
  CHECK(str(batch, "db.operation.name") == "BATCH INSERT");
  CHECK(str(batch, "db.query.text") == "insert into t values ($1)");

  auto unknown = *builder.build({view}, run.exchanges[3]);
  CHECK(unknown.name == "DELETE");
  CHECK(str(unknown, "db.query.text") == "<absent>");
  CHECK(str(unknown, "db.operation.name") == "DELETE");

  auto cut = *builder.build({view}, run.exchanges[4]);
  CHECK(cut.name == "SELECT SELECT");
  CHECK(str(cut, "error.type") == "ztrace.no_response");
  CHECK(cut.status_code == spans::StatusCode::kError);
}

}  // namespace ztrace::postgresql

namespace ztrace::postgresql {

TEST_CASE("postgresql parser: statement bytes are bounded per connection and in total",
          "[postgresql]") {
  using namespace test;
  // Texts of ~60 KiB (one long identifier: sanitizing keeps it).
  const auto big_parse = [](int i) {
    return parse("S_" + std::to_string(i), "select " + std::string(60000, 'a'));
  };
  const auto open_parser = [] {
    ConnectionParser parser(Role::kClient, false);
    parser.on_data(Direction::kEgress, startup("u", "d"), 0, 1, true);
    parser.on_data(Direction::kIngress, startup_answer(), 0, 2, true);
    return parser;
  };
  {
    ConnectionParser parser = open_parser();
    for (int i = 0; i < 20; ++i) parser.on_data(Direction::kEgress, big_parse(i), 0, 3, true);
    // 1 MiB per connection: 17 fit, the oldest went.
    CHECK(parser.stats().statement_evictions == 3);
    CHECK(parser.stats().statements_over_budget == 0);
  }
  {
    // 128 MiB over all connections: past it, names are kept without text.
    std::vector<ConnectionParser> parsers;
    uint64_t over_budget = 0;
    for (int p = 0; p < 140; ++p) {
      parsers.push_back(open_parser());
      for (int i = 0; i < 17; ++i) {
        parsers.back().on_data(Direction::kEgress, big_parse(i), 0, 3, true);
      }
      over_budget += parsers.back().stats().statements_over_budget;
    }
    CHECK(over_budget > 0);
    CHECK(parsers.front().stats().statements_over_budget == 0);
    ConnectionParser& last = parsers.back();
    last.on_data(Direction::kEgress, bind("", "S_16") + execute("") + sync(), 0, 4, true);
    last.on_data(Direction::kIngress, command_complete("SELECT 1") + ready(), 0, 5, true);
    auto exchanges = last.take_exchanges();
    REQUIRE(exchanges.size() == 1);
    CHECK(exchanges[0].request.statements[0] == nullptr);  // no text: never a wrong one
  }
  // Closed connections give their budget back.
  ConnectionParser parser = open_parser();
  parser.on_data(Direction::kEgress, big_parse(0), 0, 3, true);
  CHECK(parser.stats().statements_over_budget == 0);
}

}  // namespace ztrace::postgresql
