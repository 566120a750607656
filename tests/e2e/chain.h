#pragma once

// The trace-context chain of issue 4: curl -> nginx (proxy_pass, upstream keep-alive) -> Java
// (HttpServer on a thread pool, HttpURLConnection) -> Go (net/http) -> Node (http, keep-alive
// Agent) -> Python (ThreadingHTTPServer, http.client) -> Python leaf. Every hop forwards the
// request's path unchanged, so one request's spans are found by url.path (each request gets
// its own path) and told apart by kind, pid and server.port. Every hop but nginx answers
// with a JSON report that embeds the next hop's (tests/e2e/peers/*: "chain mode"), so a test
// sees which traceparent headers each hop received.
//
// Also: comparing the bytes a raw client sent with the bytes a raw server received, where an
// injecting agent must have added exactly one traceparent header line per request.

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"
#include "tests/e2e/peers.h"

namespace ztrace::e2e::chain {

enum class Runtime { kNginx, kJava, kGo, kNode, kPython };
std::string runtime_name(Runtime runtime);  // "nginx", "java", "go", "node", "python"

struct ChainOptions {
  // The services in call order; the first is the entry (curl's peer), the last the leaf.
  // nginx may only come first.
  std::vector<Runtime> order = {Runtime::kNginx, Runtime::kJava,   Runtime::kGo,
                                Runtime::kNode,  Runtime::kPython, Runtime::kPython};
  // Ports: reserve_port(first_port + i) for hop i.
  int first_port = 24400;
  // nginx forwards the client's traceparent/tracestate upstream (its default for every
  // header). false: it drops them, so nginx's upstream request carries no context of its own.
  bool nginx_forwards_trace_headers = false;
  // Extra environment of hop i, e.g. {"CHAIN_OWN_TRACEPARENT", "propagate"} (Go, Python).
  std::map<size_t, Env> hop_env;
};

struct Hop {
  std::string name;  // runtime name; "<runtime>-leaf" for the last hop
  Runtime runtime;
  int port = 0;
  pid_t pid = -1;  // the process whose spans these are (for nginx: its only worker)
};

// Starts the chain's services, leaf first; each hop's output goes to dir/<hop name>/.
// Throws std::runtime_error (with the service's output) when one does not start.
class Chain {
 public:
  Chain(const fs::path& dir, ChainOptions options = {});
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  const std::vector<Hop>& hops() const { return hops_; }
  const Hop& hop(size_t i) const { return hops_.at(i); }
  size_t size() const { return hops_.size(); }
  int entry_port() const { return hops_.front().port; }
  std::vector<int> ports() const;
  // Index of the first hop of `runtime` (e.g. the Go hop).
  size_t index_of(Runtime runtime) const;
  std::string describe() const;  // hops with ports and pids

 private:
  std::vector<Hop> hops_;
  std::vector<Process> processes_;  // same order as hops_
};

// ---------------------------------------------------------------------------------------
// Clients

struct ChainRequest {
  std::string path;                  // /chain/...
  std::vector<std::string> headers;  // extra curl -H values, e.g. "traceparent: 00-..."
};

// What one curl process did: its pid, one line per request and each answer's JSON.
struct CurlRun {
  CommandResult command;
  std::vector<CurlLine> lines;
  std::vector<nlohmann::json> bodies;  // discarded json when the body was not JSON
  std::vector<ChainRequest> requests;
};

// prefix1, prefix2, ... prefixN, each with `headers`.
std::vector<ChainRequest> numbered(const std::string& prefix, int n,
                                   std::vector<std::string> headers = {});

// The curl command for `requests` to 127.0.0.1:port, joined with --next so that they share
// one keep-alive connection; answer i goes to bodies_dir/<name>-<i>.json.
std::vector<std::string> chain_curl_command(int port, const std::vector<ChainRequest>& requests,
                                            const fs::path& bodies_dir, const std::string& name);
// Runs it to completion.
CurlRun run_chain_curl(const fs::path& dir, int port, const std::vector<ChainRequest>& requests,
                       const std::string& name);
// `clients` curl processes at once, client c sending requests[c] (one keep-alive connection
// each). Bounded by `timeout` per process.
std::vector<CurlRun> run_concurrent_curls(const fs::path& dir, int port,
                                          const std::vector<std::vector<ChainRequest>>& requests,
                                          std::chrono::milliseconds timeout = 90s);

// ---------------------------------------------------------------------------------------
// The hops' reports

struct HopReport {
  std::string hop;
  int64_t pid = -1;
  std::string method, path;
  int64_t peer_port = -1;
  std::vector<std::string> traceparent;  // every traceparent value the hop received
  std::vector<std::string> tracestate;
  std::string sent_traceparent;  // the hop's own header ("" unless CHAIN_OWN_TRACEPARENT)
  int64_t next_status = -1;
  nlohmann::json headers;  // Python hops: [[name, value], ...] as received
  nlohmann::json raw;      // this report without "next"
};

// The reports of one answer, outermost (the hop after the entry, or the entry when it is
// not nginx) first. Problems (not JSON, missing fields) are appended to `problems`.
std::vector<HopReport> flatten_reports(const nlohmann::json& body,
                                       std::vector<std::string>& problems);

// Problems of one answer: the reports must name the hops after nginx in order (nginx writes
// none), with their pids, the request's path and method GET, and next_status 200 (0 at the
// leaf).
std::vector<std::string> report_problems(const Chain& chain, const std::vector<HopReport>& reports,
                                         const std::string& path);

// ---------------------------------------------------------------------------------------
// Spans of one request

struct RequestSpans {
  std::string path;
  std::optional<Span> caller;               // the client's CLIENT span (curl)
  std::vector<std::optional<Span>> server;  // per hop: its SERVER span
  std::vector<std::optional<Span>> client;  // per hop but the leaf: its CLIENT span to the next
  std::vector<std::string> problems;        // missing, duplicate or unexpected spans
  bool complete() const;                    // every span there, exactly once
};

// Index of a run's spans by url.path.
using SpansByPath = std::map<std::string, std::vector<Span>>;
SpansByPath index_by_path(const std::vector<Span>& spans);

// The spans of the request with `path` sent by the process `caller_pid` to the entry hop:
// caller = CLIENT of caller_pid to the entry port; server[i] = SERVER of hop i's pid;
// client[i] = CLIENT of hop i's pid to hop i+1's port (network.peer.port, else server.port).
// Any other span with that path is a problem.
RequestSpans request_spans(const SpansByPath& by_path, const Chain& chain, const std::string& path,
                           pid_t caller_pid);

// "00-<trace_id>-<span_id>-01": the header a span's context gives its callee.
std::string traceparent_of(const Span& span);

// How a span's parent relates to the expected one.
enum class Link {
  kCorrect,     // parent_span_id = the expected span's id, same trace id
  kUnlinked,    // parent_span_id ""
  kDangling,    // a parent id that is no span of the run
  kWrong,       // another span of the run
  kOtherTrace,  // the expected parent's id, but the child has another trace id
  kMissing,     // the child or the expected parent span is missing
};
std::string link_name(Link link);
// All span ids of a run -> the span.
using SpansById = std::map<std::string, const Span*>;
SpansById index_by_id(const std::vector<Span>& spans);
Link classify(const std::optional<Span>& child, const std::optional<Span>& expected_parent,
              const SpansById& by_id);

// The links of one request, in chain order: for hop i, "in" (its SERVER span <- the
// caller's CLIENT span, through the traceparent header) and, except for the leaf, "out" (its
// CLIENT span <- its SERVER span, in the process).
struct HopLinks {
  std::string hop;
  Link in = Link::kMissing;
  Link out = Link::kMissing;  // kMissing for the leaf
};
std::vector<HopLinks> links_of(const RequestSpans& rs, const SpansById& by_id);

// Problems of a request that must be one exactly linked trace: every span there, all with
// one trace id (`trace_id` when not empty), every link kCorrect, and hop i (i >= 1) received
// exactly one traceparent, the one of hop i-1's CLIENT span (from the hops' reports; skipped
// when `reports` is empty). For the hops in `skip_in`, the "in" link and the header they
// received are not checked (the caller checks them its own way).
std::vector<std::string> one_trace_problems(const Chain& chain, const RequestSpans& rs,
                                            const SpansById& by_id,
                                            const std::vector<HopReport>& reports,
                                            const std::string& trace_id = "",
                                            const std::set<size_t>& skip_in = {});

// REQUIREs (as peer behaviour) that a curl run exited 0 with one line per request, all 200,
// over one connection (the first request connects, the others reuse it) unless `one_connection`
// is false, and that every answer's reports are complete (report_problems). Returns each
// request's reports.
std::vector<std::vector<HopReport>> require_chain_answers(const Chain& chain, const CurlRun& run,
                                                          bool one_connection = true);

// Span ids that occur more than once in the run.
std::vector<std::string> duplicate_span_ids(const std::vector<Span>& spans);

// At most `max` problems, one per line, with a count of the rest.
std::string join_problems(const std::vector<std::string>& problems, size_t max = 40);

// A random W3C id of `hex_chars` lowercase hex digits (not all zero).
std::string random_hex(size_t hex_chars);

// ---------------------------------------------------------------------------------------
// Bytes on the wire (raw_http.py)

struct WireRequest {
  std::string path;
  std::string traceparent;  // the value of the added line ("" when none was expected)
};
struct WireComparison {
  std::vector<WireRequest> requests;
  std::vector<std::string> problems;
};
// Walks `sent` request by request (header block up to the blank line, then a Content-Length
// body) and checks that `received` holds the same bytes, except that each request's header
// block carries exactly `added_lines_per_request` (0 or 1) extra "traceparent: 00-<32 hex>-<16
// hex>-01\r\n" line (name in any case) anywhere after the request line, and nothing else.
// `not_injected`: paths of requests the agent leaves unchanged by design (expected 0 lines).
WireComparison compare_wire(const std::string& sent, const std::string& received,
                            int added_lines_per_request,
                            const std::set<std::string>& not_injected = {});

// One connection of raw_http.py's client output ("conn NAME port=P requests=N statuses=...").
struct RawConnection {
  std::string name;
  int port = 0;
  int requests = 0;
  std::vector<int> statuses;
};
std::vector<RawConnection> parse_raw_client_output(const std::string& out);
std::vector<std::string> raw_client_paths(const std::string& out);  // "request PATH" lines

// Compares every connection of a raw_http.py client run (sent-NAME.bin in outdir) with what
// the server recorded for it (recv-PORT.bin). Problems are prefixed with the connection name.
WireComparison compare_raw_run(const fs::path& outdir, const std::vector<RawConnection>& conns,
                               int added_lines_per_request,
                               const std::set<std::string>& not_injected = {});

}  // namespace ztrace::e2e::chain
