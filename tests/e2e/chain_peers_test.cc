// The chain of issue 4 and the raw HTTP peers WITHOUT the agent: the services call each other
// over keep-alive connections and report what they received, the hops' own-traceparent modes
// and nginx's header forwarding do what the chain tests rely on, and the wire comparison
// tells one added traceparent line from any other change. When these fail, the [chain] tests
// say nothing about the agent.
#include <catch2/catch_test_macros.hpp>
#include <set>

#include "tests/e2e/chain.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e::chain {
namespace {

// No agent runs: no hop receives a trace header, and none sends its own.
void check_no_context(const std::vector<HopReport>& reports) {
  for (const auto& r : reports) {
    INFO("report: " << r.raw.dump());
    CHECK(r.traceparent.empty());
    CHECK(r.tracestate.empty());
    CHECK(r.sent_traceparent.empty());
  }
}

// One request straight to a hop (not through nginx): its report and the next hops'.
std::vector<HopReport> ask(const fs::path& dir, int port, const std::string& path,
                           std::vector<std::string> headers, const std::string& name) {
  CurlRun run = run_chain_curl(dir, port, {{path, std::move(headers)}}, name);
  ZTRACE_E2E_REQUIRE_PEER(
      (run.command.exit_code == 0 && run.lines.size() == 1 && run.lines[0].code == 200),
      run.command.describe);
  std::vector<std::string> problems;
  std::vector<HopReport> reports = flatten_reports(run.bodies[0], problems);
  ZTRACE_E2E_REQUIRE_PEER((problems.empty() && !reports.empty()),
                          join_problems(problems) + run.command.describe);
  return reports;
}

int count_header(const nlohmann::json& headers, const std::string& lower_name) {
  int n = 0;
  for (const auto& kv : headers) {
    std::string name = kv.at(0).get<std::string>();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    n += name == lower_name;
  }
  return n;
}

}  // namespace

TEST_CASE(
    "chain peers: nginx Java Go Node Python and the Python leaf call each other over "
    "keep-alive connections and report every hop",
    "[e2e][chain-peers]") {
  const auto dir = fresh_dir("chain_peers");
  Chain chain(dir, {.first_port = 24400});
  INFO(chain.describe());
  REQUIRE(chain.size() == 6);

  // One client at a time, one connection: each hop's outgoing connection is reused, so every
  // hop sees the same peer port on every request.
  const CurlRun seq = run_chain_curl(dir, chain.entry_port(), numbered("/chain/peers-", 5), "seq");
  const auto reports = require_chain_answers(chain, seq);
  for (size_t i = 0; i < reports.size(); ++i) {
    INFO("request " << seq.requests[i].path);
    check_no_context(reports[i]);
    CHECK(count_header(reports[i].back().headers, "traceparent") == 0);
    for (size_t k = 0; k < reports[i].size(); ++k) {
      INFO("hop " << reports[i][k].hop);
      CHECK(reports[i][k].peer_port == reports[0][k].peer_port);
    }
  }

  // 8 clients at once, 10 requests each.
  std::vector<std::vector<ChainRequest>> load;
  for (int c = 0; c < 8; ++c)
    load.push_back(numbered("/chain/peers-c" + std::to_string(c) + "-", 10));
  const auto started = std::chrono::steady_clock::now();
  const std::vector<CurlRun> runs = run_concurrent_curls(dir, chain.entry_port(), load, 60s);
  const auto took = std::chrono::steady_clock::now() - started;
  for (const auto& run : runs) {
    for (const auto& r : require_chain_answers(chain, run)) check_no_context(r);
  }
  CHECK(took < 30s);
}

TEST_CASE(
    "chain peers: own traceparent (propagate or fixed) and nginx forwarding or dropping it "
    "and every hop reporting the headers it received",
    "[e2e][chain-peers]") {
  const auto dir = fresh_dir("chain_peers_context");
  const std::string fixed = "00-" + std::string(31, '0') + "1-" + std::string(15, '0') + "2-01";
  ChainOptions options{.first_port = 24410, .nginx_forwards_trace_headers = true};
  options.hop_env[2] = {{"CHAIN_OWN_TRACEPARENT", "propagate"}};  // Go
  options.hop_env[4] = {{"CHAIN_OWN_TRACEPARENT", fixed}};        // Python (middle)
  Chain chain(dir, options);
  INFO(chain.describe());
  REQUIRE(chain.hop(2).runtime == Runtime::kGo);
  REQUIRE(chain.hop(4).runtime == Runtime::kPython);
  const std::string trace = random_hex(32), parent = random_hex(16);
  const std::string tp = "00-" + trace + "-" + parent + "-01";

  {
    INFO("through nginx, which forwards the client's traceparent");
    const CurlRun run = run_chain_curl(dir, chain.entry_port(),
                                       {{"/chain/context-1", {"traceparent: " + tp}}}, "fwd");
    const auto r = require_chain_answers(chain, run).at(0);   // java go node python leaf
    CHECK(r[0].traceparent == std::vector<std::string>{tp});  // Java: forwarded by nginx
    CHECK(r[1].traceparent.empty());                          // Go: Java sends none
    // Go's own header: a new trace (it received none) and a span id of its own.
    REQUIRE(r[1].sent_traceparent.size() == 55);
    CHECK(r[1].sent_traceparent.substr(0, 3) == "00-");
    CHECK(r[1].sent_traceparent.substr(3, 32) != trace);
    CHECK(r[2].traceparent == std::vector<std::string>{r[1].sent_traceparent});  // Node
    CHECK(r[3].traceparent.empty());                                             // Python
    CHECK(r[3].sent_traceparent == fixed);
    CHECK(r[4].traceparent == std::vector<std::string>{fixed});  // the leaf
    CHECK(count_header(r[4].headers, "traceparent") == 1);
  }

  {
    INFO("through an nginx that drops traceparent and tracestate");
    const fs::path strip_dir = dir / "nginx-strip";
    fs::create_directories(strip_dir);
    const int strip_port = reserve_port(24417);
    Process strip = start_nginx_proxy(strip_dir, strip_port, chain.hop(1).port, false);
    const auto r = ask(dir, strip_port, "/chain/context-2",
                       {"traceparent: " + tp, "tracestate: e2e=1"}, "strip");
    REQUIRE(r.size() == 5);
    CHECK(r[0].hop == "java");
    CHECK(r[0].traceparent.empty());
    CHECK(r[0].tracestate.empty());
  }

  {
    INFO("Go propagating the incoming trace id with a span id of its own");
    const auto r = ask(dir, chain.hop(2).port, "/chain/context-3", {"traceparent: " + tp}, "go");
    REQUIRE(r.size() == 4);  // go node python leaf
    CHECK(r[0].traceparent == std::vector<std::string>{tp});
    REQUIRE(r[0].sent_traceparent.size() == 55);
    CHECK(r[0].sent_traceparent.substr(0, 36) == "00-" + trace + "-");
    CHECK(r[0].sent_traceparent.substr(36, 16) != parent);
    CHECK(r[0].sent_traceparent.substr(52) == "-01");
    CHECK(r[1].traceparent == std::vector<std::string>{r[0].sent_traceparent});
  }

  {
    INFO("the leaf echoes exactly the headers it received");
    const auto one = ask(dir, chain.hop(5).port, "/chain/context-4",
                         {"traceparent: " + tp, "tracestate: e2e=1"}, "leaf1");
    REQUIRE(one.size() == 1);
    CHECK(one[0].traceparent == std::vector<std::string>{tp});
    CHECK(one[0].tracestate == std::vector<std::string>{"e2e=1"});
    CHECK(count_header(one[0].headers, "traceparent") == 1);
    // A duplicate is visible as such, at every hop that reports.
    const std::string other = "00-" + random_hex(32) + "-" + random_hex(16) + "-01";
    for (size_t i = 1; i < chain.size(); ++i) {
      INFO("hop " << chain.hop(i).name);
      const auto r = ask(dir, chain.hop(i).port, "/chain/context-dup-" + std::to_string(i),
                         {"traceparent: " + tp, "traceparent: " + other}, "dup");
      CHECK(r[0].hop == chain.hop(i).name);
      CHECK(r[0].traceparent == std::vector<std::string>{tp, other});
    }
  }
}

TEST_CASE("chain peers: the wire comparison accepts exactly one added traceparent line",
          "[e2e][chain-peers]") {
  const std::string req =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /b HTTP/1.0\r\n\r\n";
  const std::string line = "traceparent: 00-" + random_hex(32) + "-" + random_hex(16) + "-01\r\n";
  auto with_line_at = [&](size_t at) {
    std::string r = req;
    r.insert(at, line);
    return r;
  };
  const size_t after_a_line = req.find("\r\n") + 2;        // after "POST /a HTTP/1.1\r\n"
  const size_t before_a_blank = req.find("\r\n\r\n") + 2;  // before the blank line of /a
  const size_t after_b_line = req.find("GET /b HTTP/1.0\r\n") + 17;

  auto ok = compare_wire(req, req, 0);
  CHECK(ok.problems.empty());
  REQUIRE(ok.requests.size() == 2);
  CHECK(ok.requests[0].path == "/a");
  CHECK(ok.requests[1].path == "/b");

  auto both = compare_wire(req, with_line_at(after_b_line).insert(before_a_blank, line), 1);
  CHECK(both.problems.empty());
  REQUIRE(both.requests.size() == 2);
  CHECK(both.requests[0].traceparent == line.substr(13, 55));
  auto first = with_line_at(after_a_line);
  first.insert(first.find("GET /b HTTP/1.0\r\n") + 17, "TraceParent:" + line.substr(12));
  CHECK(compare_wire(req, first, 1).problems.empty());

  // What must be caught.
  CHECK_FALSE(compare_wire(req, with_line_at(after_a_line), 1).problems.empty());  // /b: none
  CHECK_FALSE(compare_wire(req, req, 1).problems.empty());
  std::string twice = with_line_at(after_b_line).insert(after_a_line, line + line);
  CHECK_FALSE(compare_wire(req, twice, 1).problems.empty());
  std::string in_request_line = with_line_at(after_b_line).insert(0, line);
  CHECK_FALSE(compare_wire(req, in_request_line, 1).problems.empty());
  std::string in_body = with_line_at(after_b_line);
  in_body.insert(in_body.find("hello"), line);
  CHECK_FALSE(compare_wire(req, in_body, 0).problems.empty());
  std::string changed = with_line_at(after_b_line).insert(after_a_line, line);
  changed[changed.find("hello")] = 'j';
  CHECK_FALSE(compare_wire(req, changed, 1).problems.empty());
  std::string malformed = req;
  malformed.insert(after_a_line, "traceparent: 00-abc-01\r\n");
  malformed.insert(malformed.find("GET /b HTTP/1.0\r\n") + 17, line);
  CHECK_FALSE(compare_wire(req, malformed, 1).problems.empty());
  std::string extra_header = with_line_at(after_b_line).insert(after_a_line, line + "X-B3: 1\r\n");
  CHECK_FALSE(compare_wire(req, extra_header, 1).problems.empty());
  CHECK_FALSE(compare_wire(req, req + "x", 0).problems.empty());
  CHECK_FALSE(compare_wire(req, req.substr(0, req.size() - 3), 0).problems.empty());
}

TEST_CASE(
    "chain peers: the raw HTTP client and server record every byte of split; pipelined; "
    "large; HTTP/1.0 and 100-continue requests",
    "[e2e][chain-peers]") {
  const int port = reserve_port(24420);
  const auto dir = fresh_dir("chain_peers_raw");
  const fs::path wire = dir / "wire";
  Process server = start_raw_http_server(dir, port, wire);
  const std::string out = must_run(
      dir,
      raw_http_client(port, wire, {"split", "pipelined", "large", "huge", "http10", "continue"}));
  INFO(out);
  const auto conns = parse_raw_client_output(out);
  REQUIRE(conns.size() == 8);
  int requests = 0;
  for (const auto& c : conns) {
    INFO(c.name);
    CHECK(c.statuses == std::vector<int>(c.requests, 200));
    requests += c.requests;
  }
  CHECK(requests == 19);
  const auto paths = raw_client_paths(out);
  CHECK(std::set<std::string>(paths.begin(), paths.end()).size() == 19);
  const WireComparison cmp = compare_raw_run(wire, conns, 0);
  INFO(join_problems(cmp.problems));
  CHECK(cmp.problems.empty());
  CHECK(cmp.requests.size() == 19);
  // ... and the same bytes with one line added per request are what an injecting agent must
  // produce: the comparison accepts them.
  for (const auto& c : conns) {
    const std::string sent = read_file(wire / ("sent-" + c.name + ".bin"));
    std::string injected;
    size_t at = 0;
    while (at < sent.size()) {
      const size_t line_end = sent.find("\r\n", at) + 2;
      const size_t head_end = sent.find("\r\n\r\n", at) + 4;
      size_t body = 0;
      const std::string head = sent.substr(at, head_end - at);
      if (auto cl = head.find("Content-Length: "); cl != std::string::npos) {
        body = std::stoul(head.substr(cl + 16));
      }
      injected += sent.substr(at, line_end - at) + "traceparent: 00-" + random_hex(32) + "-" +
                  random_hex(16) + "-01\r\n" + sent.substr(line_end, head_end + body - line_end);
      at = head_end + body;
    }
    INFO(c.name);
    CHECK(compare_wire(sent, injected, 1).problems.empty());
  }
}

}  // namespace ztrace::e2e::chain
