// One trace across services (issue 4): curl -> nginx -> Java -> Go -> Node -> Python ->
// Python leaf, every hop a real server calling the next over HTTP/1.1 keep-alive (chain.h).
// Per request (own url.path, forwarded by every hop) the agent must write 12 spans: curl's
// CLIENT, then per hop its SERVER span and (but the leaf) its CLIENT span to the next hop,
// with these parents:
//   nginx SERVER <- curl CLIENT          (the traceparent the agent injected into curl's request)
//   nginx CLIENT <- nginx SERVER         (in the process)
//   Java SERVER  <- nginx CLIENT         (header)     Java CLIENT   <- Java SERVER (process)
//   Go SERVER    <- Java CLIENT          ...          Python SERVER <- Node CLIENT
//   Python CLIENT <- Python SERVER       Python-leaf SERVER <- Python CLIENT
// nginx drops the client's traceparent from its upstream request (proxy_set_header ""), so
// each hop's outgoing request carries no context but the one the agent injects; nginx
// forwarding it is chain_own_traceparent_test.cc.
//
// Hidden ([.]) and DISABLED in ctest until the agent links and injects: run with
//   ztrace_e2e_tests "[chain]"
#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/e2e/chain.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/inject_wire.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e::chain {
namespace {

constexpr size_t kSpansPerHop = 2;  // SERVER + CLIENT; the leaf has SERVER only, curl CLIENT

size_t spans_per_request(const Chain& chain) { return kSpansPerHop * chain.size(); }

}  // namespace

TEST_CASE("chain: one client at a time: one trace per request and every parent exact",
          "[.][chain][chain-link]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("chain_sequential");
  Chain chain(dir, {.first_port = 24430});
  Agent agent(dir, {.ports = chain.ports()});
  constexpr int kRequests = 20;
  const CurlRun run =
      run_chain_curl(dir, chain.entry_port(), numbered("/chain/seq-", kRequests), "seq");
  const auto reports = require_chain_answers(chain, run);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO(chain.describe());
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == kRequests * spans_per_request(chain));
  {
    const auto duplicates = duplicate_span_ids(spans);
    INFO("span ids used more than once:\n" << join_problems(duplicates));
    CHECK(duplicates.empty());
  }

  const SpansByPath by_path = index_by_path(spans);
  const SpansById by_id = index_by_id(spans);
  std::vector<std::string> problems;
  std::set<std::string> traces;
  for (int i = 0; i < kRequests; ++i) {
    const RequestSpans rs = request_spans(by_path, chain, run.requests[i].path, run.command.pid);
    for (auto& p : one_trace_problems(chain, rs, by_id, reports[i])) problems.push_back(p);
    if (rs.caller) {
      traces.insert(rs.caller->trace_id);
      // curl has no incoming request: its span is the root.
      if (!rs.caller->parent_span_id.empty()) {
        problems.push_back(rs.path + ": curl's CLIENT span has parent " +
                           rs.caller->parent_span_id);
      }
    }
  }
  INFO("problems:\n" << join_problems(problems));
  CHECK(problems.empty());
  CHECK(traces.size() == kRequests);  // a new trace per request
}

TEST_CASE(
    "chain: keep-alive connections opened before the agent started get no traceparent (their "
    "message boundaries are unknown), and no link is wrong",
    "[.][chain][chain-link]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("chain_preopened");
  Chain chain(dir, {.first_port = 24420});
  // Without the agent: every hop opens its keep-alive connection to the next one.
  require_chain_answers(
      chain, run_chain_curl(dir, chain.entry_port(), numbered("/chain/warm-", 3), "warm"));
  Agent agent(dir, {.ports = chain.ports()});
  // A server thread already blocked in read() when the agent attached returns data whose
  // syscall entry was never seen (Python's per-connection threads): the first request on each
  // such connection is not captured. One request settles them; the checked ones follow.
  require_chain_answers(
      chain, run_chain_curl(dir, chain.entry_port(), numbered("/chain/settle-", 1), "settle"));
  constexpr int kRequests = 10;
  const CurlRun run =
      run_chain_curl(dir, chain.entry_port(), numbered("/chain/pre-", kRequests), "pre");
  const auto reports = require_chain_answers(chain, run);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO(chain.describe());
  INFO("spans:\n" << describe(spans));
  const std::string log = agent.log();
  CHECK(log.find("client connections opened before the agent") != std::string::npos);

  // What a connection carried before the agent is unknown, so where its next request starts
  // is too (the rest of a body may still come): the kernel injects nothing into them. curl's
  // connection to nginx is new: that hop stays linked. Any other hop is linked when its
  // caller opened a new connection, else unlinked; never wrong.
  const SpansByPath by_path = index_by_path(spans);
  const SpansById by_id = index_by_id(spans);
  std::vector<std::string> problems;
  int linked_in = 0;
  for (int i = 0; i < kRequests; ++i) {
    const RequestSpans rs = request_spans(by_path, chain, run.requests[i].path, run.command.pid);
    problems.insert(problems.end(), rs.problems.begin(), rs.problems.end());
    const auto links = links_of(rs, by_id);
    for (size_t h = 0; h < chain.size(); ++h) {
      const std::string where = rs.path + ": " + chain.hop(h).name;
      const Link in = links[h].in;
      if (in == Link::kCorrect) {
        ++linked_in;
      } else if (h == 0 || (in != Link::kUnlinked && in != Link::kDangling)) {
        problems.push_back(where + " SERVER link " + link_name(in));
      }
      if (h + 1 < chain.size() && links[h].out != Link::kCorrect &&
          links[h].out != Link::kUnlinked) {
        problems.push_back(where + " CLIENT link " + link_name(links[h].out));
      }
      if (h >= 1) {  // nginx writes no report
        const auto& got = reports[i][h - 1].traceparent;
        const bool header = !got.empty();
        if (got.size() > 1 || header != (in == Link::kCorrect) ||
            (header && (!rs.client[h - 1] || got[0] != traceparent_of(*rs.client[h - 1])))) {
          problems.push_back(where + " received " + std::to_string(got.size()) +
                             " traceparent(s), link " + link_name(in));
        }
      }
    }
  }
  INFO("problems:\n" << join_problems(problems));
  CHECK(problems.empty());
  INFO(log.substr(log.rfind("injection: done=")));
  CHECK(injection_counter(log, "h1_joined_midway") >= 1);
  CHECK(injection_counter(log, "h1_unknown_boundary") >= kRequests);
  // Every header injected in the checked requests made one correct link, curl's to nginx at
  // least; the settling request added one per hop it reached over a new connection (1 or more,
  // its spans are not all captured).
  CHECK(linked_in >= kRequests);
  CHECK(injection_counter(log, "done") >= linked_in + 1);
  CHECK(injection_counter(log, "done") <= linked_in + static_cast<long>(chain.size()));
}

TEST_CASE("chain: a caller's traceparent: the whole chain joins the caller's trace",
          "[.][chain][chain-link]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("chain_incoming");
  Chain chain(dir, {.first_port = 24440});
  Agent agent(dir, {.ports = chain.ports()});
  constexpr int kRequests = 10;
  std::vector<ChainRequest> requests;
  std::vector<std::string> trace_ids, parent_ids;
  for (int i = 1; i <= kRequests; ++i) {
    trace_ids.push_back(random_hex(32));
    parent_ids.push_back(random_hex(16));
    requests.push_back({"/chain/in-" + std::to_string(i),
                        {"traceparent: 00-" + trace_ids.back() + "-" + parent_ids.back() + "-01"}});
  }
  const CurlRun run = run_chain_curl(dir, chain.entry_port(), requests, "in");
  const auto reports = require_chain_answers(chain, run);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO(chain.describe());
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == kRequests * spans_per_request(chain));
  {
    const auto duplicates = duplicate_span_ids(spans);
    INFO("span ids used more than once:\n" << join_problems(duplicates));
    CHECK(duplicates.empty());
  }

  const SpansByPath by_path = index_by_path(spans);
  const SpansById by_id = index_by_id(spans);
  std::vector<std::string> problems;
  for (int i = 0; i < kRequests; ++i) {
    const RequestSpans rs = request_spans(by_path, chain, requests[i].path, run.command.pid);
    // Every span in the caller's trace, every parent exact: nginx's SERVER span's parent is
    // curl's CLIENT span, which carries the context curl sent (the agent adds no second
    // header and its CLIENT span adopts curl's: span_id = the header's parent id, no parent).
    for (auto& p : one_trace_problems(chain, rs, by_id, reports[i], trace_ids[i])) {
      problems.push_back(p);
    }
    if (rs.caller && (rs.caller->span_id != parent_ids[i] || !rs.caller->parent_span_id.empty())) {
      problems.push_back(rs.path + ": curl's CLIENT span " + rs.caller->span_id + " (parent \"" +
                         rs.caller->parent_span_id + "\"), expected the context curl sent: " +
                         parent_ids[i] + " without a parent");
    }
    if (rs.server[0] && rs.server[0]->parent_span_id != parent_ids[i]) {
      problems.push_back(rs.path + ": nginx SERVER parent " + rs.server[0]->parent_span_id +
                         ", expected the caller's " + parent_ids[i]);
    }
  }
  INFO("problems:\n" << join_problems(problems));
  CHECK(problems.empty());
}

TEST_CASE(
    "chain: 8 concurrent clients: zero wrong links and every thread-based hop linked (link "
    "accuracy per runtime reported)",
    "[.][chain][chain-load]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("chain_load");
  Chain chain(dir, {.first_port = 24450});
  Agent agent(dir, {.ports = chain.ports()});
  constexpr int kClients = 8, kPerClient = 40;
  std::vector<std::vector<ChainRequest>> load;
  for (int c = 0; c < kClients; ++c) {
    load.push_back(numbered("/chain/load-c" + std::to_string(c) + "-", kPerClient));
  }
  const auto started = std::chrono::steady_clock::now();
  const std::vector<CurlRun> runs = run_concurrent_curls(dir, chain.entry_port(), load, 90s);
  const double took_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<std::vector<std::vector<HopReport>>> reports;
  for (const auto& run : runs) reports.push_back(require_chain_answers(chain, run));
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO(chain.describe());
  const size_t requests = kClients * kPerClient;
  CHECK(spans.size() == requests * spans_per_request(chain));
  const auto duplicates = duplicate_span_ids(spans);
  INFO("duplicate span ids:\n" << join_problems(duplicates));
  CHECK(duplicates.empty());

  const SpansByPath by_path = index_by_path(spans);
  const SpansById by_id = index_by_id(spans);
  struct Tally {
    std::map<Link, int> in, out;
    int header_problems = 0;  // not exactly one traceparent, or not the caller's CLIENT span
  };
  std::vector<Tally> tally(chain.size());
  std::vector<std::string> wrong, other_trace, incomplete, header_problems;
  int one_trace = 0;
  const size_t first_reporting = 1;  // nginx writes no report
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < kPerClient; ++i) {
      const RequestSpans rs = request_spans(by_path, chain, load[c][i].path, runs[c].command.pid);
      if (!rs.problems.empty())
        incomplete.insert(incomplete.end(), rs.problems.begin(), rs.problems.end());
      const auto links = links_of(rs, by_id);
      bool all_correct = rs.complete();
      for (size_t h = 0; h < chain.size(); ++h) {
        ++tally[h].in[links[h].in];
        if (h + 1 < chain.size()) ++tally[h].out[links[h].out];
        all_correct = all_correct && links[h].in == Link::kCorrect &&
                      (h + 1 == chain.size() || links[h].out == Link::kCorrect);
        if (links[h].in == Link::kWrong) {
          wrong.push_back(rs.path + ": " + chain.hop(h).name + " SERVER parent " +
                          rs.server[h]->parent_span_id + " is another span");
        }
        if (h + 1 < chain.size() && links[h].out == Link::kWrong) {
          wrong.push_back(rs.path + ": " + chain.hop(h).name + " CLIENT parent " +
                          rs.client[h]->parent_span_id + " is another span");
        }
        if (links[h].in == Link::kOtherTrace) {
          other_trace.push_back(rs.path + ": " + chain.hop(h).name + " SERVER trace " +
                                rs.server[h]->trace_id + ", its parent's " +
                                (h ? rs.client[h - 1] : rs.caller)->trace_id);
        }
        if (h + 1 < chain.size() && links[h].out == Link::kOtherTrace) {
          other_trace.push_back(rs.path + ": " + chain.hop(h).name + " CLIENT trace " +
                                rs.client[h]->trace_id + ", its parent's " +
                                rs.server[h]->trace_id);
        }
        if (h >= first_reporting) {
          const auto& got = reports[c][i][h - first_reporting].traceparent;
          const auto& upstream = rs.client[h - 1];
          if (got.size() != 1 || !upstream || got[0] != traceparent_of(*upstream)) {
            ++tally[h].header_problems;
            std::string list;
            for (const auto& v : got) list += " [" + v + "]";
            header_problems.push_back(rs.path + ": " + chain.hop(h).name + " received" +
                                      (got.empty() ? " no traceparent" : list));
          }
        }
      }
      one_trace += all_correct;
    }
  }

  // The report (also in the test's folder).
  std::ostringstream table;
  auto pct = [](int n, int of) {
    char b[32];
    std::snprintf(b, sizeof b, "%5.1f%%", of ? 100.0 * n / of : 0.0);
    return std::string(b);
  };
  auto row = [&](const std::map<Link, int>& m, int of) {
    const auto get = [&](Link l) { return m.count(l) ? m.at(l) : 0; };
    std::ostringstream r;
    r << get(Link::kCorrect) << "/" << of << " " << pct(get(Link::kCorrect), of) << " (unlinked "
      << get(Link::kUnlinked) << ", dangling " << get(Link::kDangling) << ", wrong "
      << get(Link::kWrong) << ", other trace " << get(Link::kOtherTrace) << ", missing "
      << get(Link::kMissing) << ")";
    return r.str();
  };
  table << "link accuracy: " << requests << " requests from " << kClients
        << " concurrent curl clients in " << took_s << " s\n";
  const int n = static_cast<int>(requests);
  for (size_t h = 0; h < chain.size(); ++h) {
    table << "  " << chain.hop(h).name
          << "\n    in  (SERVER <- caller's CLIENT, header): " << row(tally[h].in, n) << "\n";
    if (h + 1 < chain.size()) {
      table << "    out (CLIENT <- own SERVER, in process): " << row(tally[h].out, n) << "\n";
    }
  }
  table << "  requests entirely one trace with every parent exact: " << one_trace << "/" << n << " "
        << pct(one_trace, n) << "\n";
  std::printf("%s", table.str().c_str());
  std::fflush(stdout);
  std::ofstream(dir / "link_accuracy.txt") << table.str();

  {
    INFO("incomplete requests:\n" << join_problems(incomplete));
    CHECK(incomplete.empty());
  }
  {
    INFO("wrong links:\n" << join_problems(wrong));
    CHECK(wrong.empty());
  }
  {
    INFO("right parent, other trace id:\n" << join_problems(other_trace));
    CHECK(other_trace.empty());
  }
  {
    INFO("headers received:\n" << join_problems(header_problems));
    CHECK(header_problems.empty());
  }
  for (size_t h = 0; h < chain.size(); ++h) {
    const Hop& hop = chain.hop(h);
    INFO("hop " << hop.name);
    // The header link is exact at every hop; the in-process link must be for thread-based
    // servers (Java, Python). nginx's and Node's (event loops) and Go's are reported: they are
    // linked by matching the forwarded request line, and Go's exact mechanism, goroutine
    // tracking, comes with the Go uprobes. Wrong links are zero everywhere (checked above).
    CHECK(tally[h].in[Link::kCorrect] == n);
    const bool thread_based = hop.runtime == Runtime::kJava || hop.runtime == Runtime::kPython;
    if (h + 1 < chain.size() && thread_based) CHECK(tally[h].out[Link::kCorrect] == n);
  }
  CHECK(took_s < 60);
}

TEST_CASE(
    "chain: injection off (--no-inject): every span written and no header sent and hops "
    "unlinked",
    "[.][chain][chain-link]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const auto dir = fresh_dir("chain_no_inject");
  Chain chain(dir, {.first_port = 24480});
  Agent agent(dir, {.ports = chain.ports(), .extra_args = {"--no-inject"}});
  constexpr int kRequests = 10;
  const CurlRun run =
      run_chain_curl(dir, chain.entry_port(), numbered("/chain/noinj-", kRequests), "noinj");
  const auto reports = require_chain_answers(chain, run);
  const std::vector<Span> spans = stop_and_collect(agent);
  INFO(chain.describe());
  INFO("spans:\n" << describe(spans));
  CHECK(spans.size() == kRequests * spans_per_request(chain));
  CHECK(of_kind(spans, "SERVER").size() == kRequests * chain.size());
  CHECK(of_kind(spans, "CLIENT").size() == kRequests * chain.size());
  {
    const auto duplicates = duplicate_span_ids(spans);
    INFO("span ids used more than once:\n" << join_problems(duplicates));
    CHECK(duplicates.empty());
  }

  const SpansByPath by_path = index_by_path(spans);
  const SpansById by_id = index_by_id(spans);
  std::vector<std::string> problems;
  for (int i = 0; i < kRequests; ++i) {
    const std::string& path = run.requests[i].path;
    for (const auto& r : reports[i]) {
      if (!r.traceparent.empty() || !r.tracestate.empty()) {
        problems.push_back(path + ": " + r.hop + " received a trace header: " + r.raw.dump());
      }
    }
    const RequestSpans rs = request_spans(by_path, chain, path, run.command.pid);
    problems.insert(problems.end(), rs.problems.begin(), rs.problems.end());
    const auto links = links_of(rs, by_id);
    for (size_t h = 0; h < chain.size(); ++h) {
      const std::string& name = chain.hop(h).name;
      // Across hops: no parent, or one that is no span of this run, and another trace.
      if (links[h].in != Link::kUnlinked && links[h].in != Link::kDangling &&
          links[h].in != Link::kMissing) {
        problems.push_back(path + ": " + name + " SERVER is linked across the hop (" +
                           link_name(links[h].in) + ") without injection");
      }
      const auto& upstream = h == 0 ? rs.caller : rs.client[h - 1];
      if (rs.server[h] && upstream && rs.server[h]->trace_id == upstream->trace_id) {
        problems.push_back(path + ": " + name + " SERVER shares the caller's trace id");
      }
      // In the process, a link may remain, but never a wrong one.
      if (h + 1 < chain.size() && links[h].out != Link::kCorrect &&
          links[h].out != Link::kUnlinked && links[h].out != Link::kMissing) {
        problems.push_back(path + ": " + name + " CLIENT parent is " + link_name(links[h].out));
      }
    }
  }
  INFO("problems:\n" << join_problems(problems));
  CHECK(problems.empty());
}

}  // namespace ztrace::e2e::chain
