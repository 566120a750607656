// PostgreSQL against a real server (Debian's PostgreSQL 15) and real clients: psql, pgbench
// in its three query modes, pgjdbc, psycopg2; errors, COPY, batches, statements prepared
// before the agent started, and a query made by an HTTP handler (one trace).
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"
#include "tests/e2e/pg_peers.h"

namespace ztrace::e2e {
namespace {

// The PostgreSQL CLIENT spans of `pid`, in start order.
std::vector<Span> db_spans(const std::vector<Span>& spans, pid_t pid) {
  std::vector<Span> out;
  for (const Span& s : of_pid(spans, pid)) {
    if (s.attr_str("db.system.name") == std::optional<std::string>("postgresql")) out.push_back(s);
  }
  return sorted_by_start(out);
}

// The spans whose db.query.summary (or name) is not a session setting the driver sends.
std::vector<Span> without_settings(const std::vector<Span>& spans) {
  std::vector<Span> out;
  for (const Span& s : spans) {
    if (s.name != "SET" && s.name != "SHOW") out.push_back(s);
  }
  return out;
}

struct QueryExpect {
  std::string name;
  std::optional<std::string> text;  // nullopt: absent
  std::optional<std::string> operation;
  std::optional<int64_t> rows;
  std::string sqlstate;  // "": none, status UNSET
  std::optional<int64_t> batch_size = std::nullopt;
  // The StartupMessage was seen (not on a connection opened before the agent).
  std::optional<std::string> database = "postgres";
};

void check_query(const Span& s, const QueryExpect& e, int port) {
  INFO("span: " << s.describe());
  CHECK(s.kind == "CLIENT");
  CHECK(s.name == e.name);
  CHECK(s.attr_str("db.system.name") == std::optional<std::string>("postgresql"));
  CHECK(s.attr_str("db.namespace") == e.database);
  CHECK(s.attr_str("db.query.text") == e.text);
  CHECK(s.attr_str("db.operation.name") == e.operation);
  CHECK(s.attr_int("db.operation.batch.size") == e.batch_size);
  CHECK(s.attr_str("server.address") == std::optional<std::string>("127.0.0.1"));
  CHECK(s.attr_int("server.port") == std::optional<int64_t>(port));
  CHECK(s.attr_str("network.peer.address") == std::optional<std::string>("127.0.0.1"));
  CHECK(s.attr_int("network.peer.port") == std::optional<int64_t>(port));
  if (e.sqlstate.empty()) {
    CHECK(s.status_code == "UNSET");
    CHECK_FALSE(s.attr_str("db.response.status_code"));
    CHECK_FALSE(s.attr_str("error.type"));
    if (e.rows) CHECK(s.attr_int("db.response.returned_rows") == e.rows);
  } else {
    CHECK(s.status_code == "ERROR");
    CHECK(s.attr_str("db.response.status_code") == std::optional<std::string>(e.sqlstate));
    CHECK(s.attr_str("error.type") == std::optional<std::string>(e.sqlstate));
  }
}

void check_queries(const std::vector<Span>& spans, const std::vector<QueryExpect>& expected,
                   int port) {
  INFO("spans:\n" << describe(spans));
  REQUIRE(spans.size() == expected.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    INFO("query " << i);
    check_query(spans[i], expected[i], port);
  }
}

}  // namespace

TEST_CASE("psql: simple queries, several statements in one, errors and COPY",
          "[e2e][postgresql][psql]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25432);
  const auto dir = fresh_dir("pg_psql");
  Process server = start_postgres(dir, port);
  write_file(dir / "rows.csv", "3,gamma\n4,delta\n");
  Agent agent(dir, {.ports = {port}});
  CommandResult r = run_command(
      dir, psql_command(port, {"-c", "create table items (id int primary key, name text)", "-c",
                               "insert into items values (1, 'alpha'), (2, 'beta')", "-c",
                               "select name from items where id = 1; select count(*) from items",
                               "-c", "select * from nope", "-c", "selec 1", "-c",
                               "insert into items values (1, 'secret')", "-c",
                               "\\copy items from '" + (dir / "rows.csv").string() + "' csv", "-c",
                               "copy items to stdout", "-c", "select id from items order by id"}));
  INFO(r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("4\tdelta") != std::string::npos, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.err.find("duplicate key") != std::string::npos, r.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  const auto queries = db_spans(spans, r.pid);
  check_queries(
      queries,
      {
          {"CREATE TABLE items", "create table items (id int primary key, name text)",
           "CREATE TABLE", 0, ""},
          {"INSERT items", "insert into items values (?, ?), (?, ?)", "INSERT", 0, ""},
          // Two statements: the operation is not one name (conventions), the rows are both's.
          {"SELECT items SELECT items",
           "select name from items where id = ?; select count(*) from items", std::nullopt, 2, ""},
          {"SELECT nope", "select * from nope", std::nullopt, std::nullopt, "42P01"},
          {"postgresql", "selec ?", std::nullopt, std::nullopt, "42601"},
          {"INSERT items", "insert into items values (?, ?)", std::nullopt, std::nullopt, "23505"},
          {"COPY items", "COPY  items FROM STDIN csv", "COPY", 0, ""},
          {"COPY items", "copy items to stdout", "COPY", 0, ""},
          {"SELECT items", "select id from items order by id", "SELECT", 4, ""},
      },
      port);
  for (const Span& s : queries) {
    check_resource(s, r.pid, "psql", "", "psql");
    CHECK(s.attributes.dump().find("secret") == std::string::npos);
    CHECK(s.attributes.dump().find("alpha") == std::string::npos);
  }
  // The server's side makes no span: the conventions define client spans.
  CHECK(db_spans(spans, server.pid()).empty());
  for (const Span& s : spans) CHECK(s.kind == "CLIENT");
}

TEST_CASE("pgbench -M simple, extended and prepared: one span per query, exact text",
          "[e2e][postgresql][pgbench]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25442);
  const auto dir = fresh_dir("pg_pgbench");
  Process server = start_postgres(dir, port);
  must_run(dir, pgbench_command(port, {"-i", "-s", "1", "-q"}));
  Agent agent(dir, {.ports = {port}});
  struct Mode {
    std::string mode, text;
    pid_t pid = -1;
  };
  std::vector<Mode> modes = {
      {"simple", "SELECT abalance FROM pgbench_accounts WHERE aid = ?;"},
      {"extended", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"},
      {"prepared", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"},
  };
  for (Mode& m : modes) {
    CommandResult r =
        run_command(dir, pgbench_command(port, {"-n", "-S", "-t", "6", "-c", "1", "-M", m.mode}));
    ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe);
    m.pid = r.pid;
  }
  const std::vector<Span> spans = stop_and_collect(agent);
  for (const Mode& m : modes) {
    INFO("pgbench -M " << m.mode);
    std::vector<Span> selects;
    for (const Span& s : db_spans(spans, m.pid)) {
      if (s.name == "SELECT pgbench_accounts") selects.push_back(s);
    }
    check_queries(selects,
                  std::vector<QueryExpect>(6, {"SELECT pgbench_accounts", m.text, "SELECT", 1, ""}),
                  port);
  }
}

TEST_CASE("JDBC: named statements after prepareThreshold, a batch, a unique violation",
          "[e2e][postgresql][java]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25452);
  const auto dir = fresh_dir("pg_jdbc");
  Process server = start_postgres(dir, port);
  const auto java = pg_java_command({"queries", jdbc_url(port)});  // built before the agent
  Agent agent(dir, {.ports = {port}});
  CommandResult r = run_command(dir, java, 120s);
  ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("batch 3") != std::string::npos, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("rows 3") != std::string::npos, r.describe);
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("sqlstate 23505") != std::string::npos, r.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  const auto queries = without_settings(db_spans(spans, r.pid));
  std::vector<QueryExpect> expected = {{"CREATE TABLE jitems",
                                        "create table jitems (id int primary key, name text)",
                                        "CREATE TABLE", 0, ""}};
  for (int i = 0; i < 7; ++i) {
    expected.push_back({"INSERT jitems", "insert into jitems values ($1, $2)", "INSERT", 0, ""});
  }
  expected.push_back(
      {"BATCH INSERT jitems", "insert into jitems values ($1, $2)", "BATCH INSERT", 0, "", 3});
  expected.push_back({"SELECT jitems", "select name from jitems where id <= $1", "SELECT", 3, ""});
  expected.push_back(
      {"INSERT jitems", "insert into jitems values (?, ?)", std::nullopt, std::nullopt, "23505"});
  check_queries(queries, expected, port);
}

TEST_CASE("JDBC: a statement prepared before the agent started still gets spans, without text",
          "[e2e][postgresql][java]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25462);
  const auto dir = fresh_dir("pg_late");
  Process server = start_postgres(dir, port);
  ProcessOptions o;
  o.argv = pg_java_command({"late", jdbc_url(port), (dir / "go").string()});
  o.cwd = dir;
  o.stdout_path = dir / "java.stdout";
  o.stderr_path = dir / "java.stderr";
  Process client(std::move(o));
  ZTRACE_E2E_REQUIRE_PEER(
      wait_until([&] { return client.stdout_text().find("ready") != std::string::npos; }, 60s),
      client.describe());
  Agent agent(dir, {.ports = {port}});
  write_file(dir / "go", "");
  ZTRACE_E2E_REQUIRE_PEER(client.wait_exit(60s) == std::optional<int>(0), client.describe());

  const std::vector<Span> spans = stop_and_collect(agent);
  // Never a wrong text: what is known (the operation, from the server's answer), no text.
  check_queries(db_spans(spans, client.pid()),
                std::vector<QueryExpect>(
                    3, {"SELECT", std::nullopt, "SELECT", 1, "", std::nullopt, std::nullopt}),
                port);
}

TEST_CASE("Java HTTP handler querying PostgreSQL: the query span is the SERVER span's child",
          "[e2e][postgresql][java][linking]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25472);
  const int http_port = reserve_port(25482);
  const auto dir = fresh_dir("pg_http");
  Process server = start_postgres(dir, port);
  must_run(dir, psql_command(port, {"-c", "create table jitems (id int primary key, name text)",
                                    "-c", "insert into jitems values (7, 'seven')"}));
  const auto java = pg_java_command({"server", std::to_string(http_port), jdbc_url(port)});
  Agent agent(dir, {.ports = {port, http_port}});
  ProcessOptions o;
  o.argv = java;
  o.cwd = dir;
  o.stdout_path = dir / "java.stdout";
  o.stderr_path = dir / "java.stderr";
  Process app(std::move(o));
  ZTRACE_E2E_REQUIRE_PEER(wait_for_port(http_port, 60s), app.describe());
  const std::string out =
      must_run(dir, curl_command({{url(http_port, "/items/7")}, {url(http_port, "/items/8")}}));
  ZTRACE_E2E_REQUIRE_PEER(parse_curl_output(out).size() == 2, out);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("spans:\n" << describe(spans));
  for (const char* path : {"/items/7", "/items/8"}) {
    INFO(path);
    auto server_span = expect_one(spans, "SERVER", {"GET", path, 200, http_port});
    REQUIRE(server_span);
    std::vector<Span> children;
    for (const Span& s : db_spans(spans, app.pid())) {
      if (s.parent_span_id == server_span->span_id) children.push_back(s);
    }
    REQUIRE(children.size() == 1);
    CHECK(children[0].trace_id == server_span->trace_id);
    CHECK(children[0].name == "SELECT jitems");
    CHECK(children[0].attr_str("db.query.text") ==
          std::optional<std::string>("select name from jitems where id = $1"));
    check_encloses(*server_span, children[0]);
  }
  // Counted per runtime: the two handler queries were linked by thread.
  CHECK(agent.log().find(" java by_thread=2") != std::string::npos);
}

TEST_CASE("psycopg2: client-side parameters are sanitized", "[e2e][postgresql][python]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  if (access("/usr/lib/python3/dist-packages/psycopg2", F_OK) != 0) {
    FAIL("python3-psycopg2 is not installed (scripts/install-deps.sh installs it)");
  }
  const int port = reserve_port(25492);
  const auto dir = fresh_dir("pg_psycopg2");
  Process server = start_postgres(dir, port);
  write_file(dir / "client.py",
             "import psycopg2\n"
             "c = psycopg2.connect(host='127.0.0.1', port=" +
                 std::to_string(port) +
                 ", user='postgres', dbname='postgres')\n"
                 "c.autocommit = True\n"
                 "cur = c.cursor()\n"
                 "cur.execute('create table p (id int, name text)')\n"
                 "cur.execute('insert into p values (%s, %s)', (1, \"o'secret\"))\n"
                 "cur.execute('select name from p where id = %s', (1,))\n"
                 "print(cur.fetchone()[0])\n");
  Agent agent(dir, {.ports = {port}});
  CommandResult r = run_command(dir, {"/usr/bin/python3", (dir / "client.py").string()});
  ZTRACE_E2E_REQUIRE_PEER(r.exit_code == 0, r.describe);
  const std::vector<Span> spans = stop_and_collect(agent);
  check_queries(without_settings(db_spans(spans, r.pid)),
                {{"CREATE TABLE p", "create table p (id int, name text)", "CREATE TABLE", 0, ""},
                 {"INSERT p", "insert into p values (?, ?)", "INSERT", 0, ""},
                 {"SELECT p", "select name from p where id = ?", "SELECT", 1, ""}},
                port);
}

TEST_CASE("Go lib/pq and Node pg: parameterized queries keep their text",
          "[e2e][postgresql][go][node]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(25502);
  const auto dir = fresh_dir("pg_go_node");
  Process server = start_postgres(dir, port);
  const fs::path go_client = pg_go_client();  // built before the agent
  Agent agent(dir, {.ports = {port}});
  CommandResult go = run_command(dir, {go_client.string(), std::to_string(port)});
  ZTRACE_E2E_REQUIRE_PEER((go.exit_code == 0 && go.out == "secret\n"), go.describe);
  CommandResult node = run_command(dir, pg_node_command(port));
  ZTRACE_E2E_REQUIRE_PEER((node.exit_code == 0 && node.out == "secret\n"), node.describe);
  const std::vector<Span> spans = stop_and_collect(agent);
  {
    INFO("Go lib/pq");
    check_queries(db_spans(spans, go.pid),
                  {{"CREATE TABLE g", "create table g (id int, name text)", "CREATE TABLE", 0, ""},
                   {"INSERT g", "insert into g values ($1, $2)", "INSERT", 0, ""},
                   {"SELECT g", "select name from g where id = $1", "SELECT", 1, ""}},
                  port);
  }
  {
    INFO("Node pg");
    check_queries(db_spans(spans, node.pid),
                  {{"CREATE TABLE n", "create table n (id int, name text)", "CREATE TABLE", 0, ""},
                   {"INSERT n", "insert into n values ($1, $2)", "INSERT", 0, ""},
                   {"SELECT n", "select name from n where id = $1", "SELECT", 1, ""},
                   {"SELECT", "select ?, ?", "SELECT", 1, ""}},
                  port);
  }
}

// psql over TLS (sslmode=require): libpq's plaintext comes from the OpenSSL probes (its own
// descriptor BIO names the socket), the ciphertext's SSLRequest is counted and skipped.
TEST_CASE("psql over TLS (sslmode=require): the same query spans as plaintext",
          "[e2e][postgresql][psql][tls][openssl]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24860);
  const auto dir = fresh_dir("pg_psql_tls");
  Process server = start_postgres(dir, port, /*tls=*/true);
  Agent agent(dir, {.ports = {port}});
  CommandResult r = run_command(
      dir,
      psql_command(port, {"-c", "create table titems (id int primary key, name text)", "-c",
                          "insert into titems values (1, 'alpha')", "-c",
                          "select name from titems where id = 1", "-c", "select * from nope"}),
      60s, {{"PGSSLMODE", "require"}});
  INFO(r.describe);
  // sslmode=require: psql fails unless the session is encrypted.
  ZTRACE_E2E_REQUIRE_PEER(r.out.find("alpha") != std::string::npos, r.describe);

  const std::vector<Span> spans = stop_and_collect(agent);
  INFO("agent log:\n" << agent.log_tail());
  check_queries(db_spans(spans, r.pid),
                {
                    {"CREATE TABLE titems", "create table titems (id int primary key, name text)",
                     "CREATE TABLE", 0, ""},
                    {"INSERT titems", "insert into titems values (?, ?)", "INSERT", 0, ""},
                    {"SELECT titems", "select name from titems where id = ?", "SELECT", 1, ""},
                    {"SELECT nope", "select * from nope", std::nullopt, std::nullopt, "42P01"},
                },
                port);
  for (const Span& s : db_spans(spans, r.pid)) {
    check_resource(s, r.pid, "psql", "", "psql");
    CHECK(s.attributes.dump().find("alpha") == std::string::npos);
  }
}

}  // namespace ztrace::e2e
