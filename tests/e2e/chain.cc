#include "tests/e2e/chain.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cctype>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ztrace::e2e::chain {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_lower_hex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// "00-<32 hex>-<16 hex>-01", ids not all zero.
bool valid_traceparent(std::string_view v) {
  if (v.size() != 55 || v.substr(0, 3) != "00-" || v[35] != '-' || v.substr(52) != "-01") {
    return false;
  }
  const std::string_view trace = v.substr(3, 32), span = v.substr(36, 16);
  return is_lower_hex(trace) && is_lower_hex(span) &&
         trace.find_first_not_of('0') != std::string_view::npos &&
         span.find_first_not_of('0') != std::string_view::npos;
}

std::string short_id(const std::string& id) { return id.empty() ? "\"\"" : id; }

// The port a CLIENT span's connection goes to: network.peer.port, else server.port (which
// may come from a Host header: nginx sends "Host: chain_next" upstream).
int64_t remote_port(const Span& s) {
  return s.attr_int("network.peer.port").value_or(s.server_port());
}

}  // namespace

std::string runtime_name(Runtime runtime) {
  switch (runtime) {
    case Runtime::kNginx:
      return "nginx";
    case Runtime::kJava:
      return "java";
    case Runtime::kGo:
      return "go";
    case Runtime::kNode:
      return "node";
    case Runtime::kPython:
      return "python";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// Chain

Chain::Chain(const fs::path& dir, ChainOptions options) {
  const size_t n = options.order.size();
  if (n < 2) throw std::invalid_argument("a chain needs at least two services");
  hops_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (options.order[i] == Runtime::kNginx && i != 0) {
      throw std::invalid_argument("nginx can only be the chain's entry");
    }
    hops_[i].runtime = options.order[i];
    hops_[i].name = runtime_name(options.order[i]) + (i + 1 == n ? "-leaf" : "");
    hops_[i].port = reserve_port(options.first_port + static_cast<int>(i));
  }
  // Builds first: no service waits for a compiler.
  for (const auto& h : hops_) {
    if (h.runtime == Runtime::kGo) go_peer();
    if (h.runtime == Runtime::kJava) java_classes();
  }
  std::vector<std::optional<Process>> started(n);
  for (size_t k = n; k-- > 0;) {
    Hop& h = hops_[k];
    const fs::path hop_dir = dir / h.name;
    fs::create_directories(hop_dir);
    Env env = {{"CHAIN_NAME", h.name}};
    if (k + 1 < n) env.emplace_back("CHAIN_NEXT", url(hops_[k + 1].port, ""));
    if (auto it = options.hop_env.find(k); it != options.hop_env.end()) {
      env.insert(env.end(), it->second.begin(), it->second.end());
    }
    switch (h.runtime) {
      case Runtime::kNginx:
        started[k].emplace(start_nginx_proxy(hop_dir, h.port, hops_[k + 1].port,
                                             options.nginx_forwards_trace_headers));
        break;
      case Runtime::kJava:
        started[k].emplace(start_java_server(hop_dir, h.port, env));
        break;
      case Runtime::kGo:
        started[k].emplace(start_go_server(hop_dir, h.port, env));
        break;
      case Runtime::kNode:
        started[k].emplace(start_node_server(hop_dir, h.port, env));
        break;
      case Runtime::kPython:
        started[k].emplace(start_python_server(hop_dir, h.port, env));
        break;
    }
    h.pid = started[k]->pid();
    if (h.runtime == Runtime::kNginx) {
      const pid_t master = h.pid;
      std::vector<pid_t> workers;
      wait_until(
          [&] {
            workers = children_of(master);
            return workers.size() == 1;
          },
          10s);
      if (workers.size() != 1) {
        throw std::runtime_error("nginx: expected one worker, found " +
                                 std::to_string(workers.size()) + "\n" + started[k]->describe());
      }
      h.pid = workers[0];
    }
  }
  for (auto& p : started) processes_.push_back(std::move(*p));
}

std::vector<int> Chain::ports() const {
  std::vector<int> out;
  for (const auto& h : hops_) out.push_back(h.port);
  return out;
}

size_t Chain::index_of(Runtime runtime) const {
  for (size_t i = 0; i < hops_.size(); ++i) {
    if (hops_[i].runtime == runtime) return i;
  }
  throw std::invalid_argument("no " + runtime_name(runtime) + " hop in the chain");
}

std::string Chain::describe() const {
  std::ostringstream s;
  s << "chain:";
  for (const auto& h : hops_) s << " " << h.name << "(port " << h.port << ", pid " << h.pid << ")";
  return s.str();
}

// ---------------------------------------------------------------------------------------
// Clients

std::vector<ChainRequest> numbered(const std::string& prefix, int n,
                                   std::vector<std::string> headers) {
  std::vector<ChainRequest> out;
  for (int i = 1; i <= n; ++i) out.push_back({prefix + std::to_string(i), headers});
  return out;
}

std::vector<std::string> chain_curl_command(int port, const std::vector<ChainRequest>& requests,
                                            const fs::path& bodies_dir, const std::string& name) {
  std::vector<std::string> argv = {"curl"};
  for (size_t i = 0; i < requests.size(); ++i) {
    if (i) argv.push_back("--next");
    argv.insert(argv.end(), {"-sS", "--max-time", "20", "-o",
                             (bodies_dir / (name + "-" + std::to_string(i) + ".json")).string(),
                             "-w", "%{http_code} %{num_connects} %{local_port}\\n"});
    for (const auto& h : requests[i].headers) argv.insert(argv.end(), {"-H", h});
    argv.push_back(url(port, requests[i].path));
  }
  return argv;
}

namespace {

CurlRun finish_curl(const fs::path& bodies_dir, const std::string& name,
                    const std::vector<ChainRequest>& requests, CommandResult command) {
  CurlRun run;
  run.command = std::move(command);
  run.lines = parse_curl_output(run.command.out);
  run.requests = requests;
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string text = read_file(bodies_dir / (name + "-" + std::to_string(i) + ".json"));
    run.bodies.push_back(nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false));
  }
  return run;
}

}  // namespace

CurlRun run_chain_curl(const fs::path& dir, int port, const std::vector<ChainRequest>& requests,
                       const std::string& name) {
  const fs::path bodies = dir / "bodies";
  fs::create_directories(bodies);
  return finish_curl(bodies, name, requests,
                     run_command(dir, chain_curl_command(port, requests, bodies, name), 90s));
}

std::vector<CurlRun> run_concurrent_curls(const fs::path& dir, int port,
                                          const std::vector<std::vector<ChainRequest>>& requests,
                                          std::chrono::milliseconds timeout) {
  const fs::path bodies = dir / "bodies";
  fs::create_directories(bodies);
  std::vector<Process> procs;
  for (size_t c = 0; c < requests.size(); ++c) {
    const std::string name = "client" + std::to_string(c);
    ProcessOptions o;
    o.argv = chain_curl_command(port, requests[c], bodies, name);
    o.stdout_path = dir / (name + ".out");
    o.stderr_path = dir / (name + ".err");
    procs.emplace_back(std::move(o));
  }
  std::vector<CurlRun> runs;
  for (size_t c = 0; c < requests.size(); ++c) {
    CommandResult r;
    r.pid = procs[c].pid();
    auto code = procs[c].wait_exit(timeout);
    if (!code) procs[c].stop(1s);
    r.exit_code = code.value_or(-1);
    r.out = procs[c].stdout_text();
    r.err = procs[c].stderr_text();
    r.describe = procs[c].describe() + (code ? "" : "\n  (timed out)");
    runs.push_back(finish_curl(bodies, "client" + std::to_string(c), requests[c], std::move(r)));
  }
  return runs;
}

// ---------------------------------------------------------------------------------------
// Reports

std::vector<HopReport> flatten_reports(const nlohmann::json& body,
                                       std::vector<std::string>& problems) {
  std::vector<HopReport> out;
  const nlohmann::json* at = &body;
  while (at && !at->is_null()) {
    if (!at->is_object()) {
      problems.push_back("report " + std::to_string(out.size()) +
                         " is not a JSON object: " + at->dump().substr(0, 300));
      break;
    }
    HopReport r;
    const auto& j = *at;
    try {
      r.hop = j.at("hop").get<std::string>();
      r.pid = j.at("pid").get<int64_t>();
      r.method = j.at("method").get<std::string>();
      r.path = j.at("path").get<std::string>();
      r.peer_port = j.at("peer_port").get<int64_t>();
      r.traceparent = j.at("traceparent").get<std::vector<std::string>>();
      r.tracestate = j.at("tracestate").get<std::vector<std::string>>();
      r.sent_traceparent = j.at("sent_traceparent").get<std::string>();
      r.next_status = j.at("next_status").get<int64_t>();
      r.headers = j.value("headers", nlohmann::json());
    } catch (const nlohmann::json::exception& e) {
      problems.push_back("report " + std::to_string(out.size()) + ": " + e.what() + " in " +
                         j.dump().substr(0, 300));
      break;
    }
    r.raw = j;
    r.raw.erase("next");
    out.push_back(std::move(r));
    auto next = j.find("next");
    at = next == j.end() ? nullptr : &*next;
  }
  return out;
}

std::vector<std::string> report_problems(const Chain& chain, const std::vector<HopReport>& reports,
                                         const std::string& path) {
  std::vector<std::string> problems;
  const size_t first = chain.hop(0).runtime == Runtime::kNginx ? 1 : 0;
  const size_t expected = chain.size() - first;
  if (reports.size() != expected) {
    problems.push_back(path + ": " + std::to_string(reports.size()) + " hop reports, expected " +
                       std::to_string(expected));
  }
  for (size_t k = 0; k < std::min(expected, reports.size()); ++k) {
    const Hop& h = chain.hop(first + k);
    const HopReport& r = reports[k];
    const std::string where = path + " at " + h.name + ": ";
    if (r.hop != h.name) problems.push_back(where + "report of hop " + r.hop);
    if (r.pid != h.pid) problems.push_back(where + "pid " + std::to_string(r.pid));
    if (r.path != path) problems.push_back(where + "path " + r.path);
    if (r.method != "GET") problems.push_back(where + "method " + r.method);
    const int64_t status = first + k + 1 == chain.size() ? 0 : 200;
    if (r.next_status != status) {
      problems.push_back(where + "next hop answered " + std::to_string(r.next_status));
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Spans

bool RequestSpans::complete() const {
  if (!problems.empty() || !caller) return false;
  for (const auto& s : server) {
    if (!s) return false;
  }
  for (const auto& s : client) {
    if (!s) return false;
  }
  return true;
}

SpansByPath index_by_path(const std::vector<Span>& spans) {
  SpansByPath out;
  for (const auto& s : spans) out[s.path()].push_back(s);
  return out;
}

RequestSpans request_spans(const SpansByPath& by_path, const Chain& chain, const std::string& path,
                           pid_t caller_pid) {
  RequestSpans rs;
  rs.path = path;
  const size_t n = chain.size();
  rs.server.resize(n);
  rs.client.resize(n - 1);
  auto it = by_path.find(path);
  if (it == by_path.end()) {
    rs.problems.push_back(path + ": no span");
    return rs;
  }
  auto take = [&](std::optional<Span>& slot, const Span& s, const std::string& role) {
    if (slot) {
      rs.problems.push_back(path + ": two spans for " + role + ":\n    " + slot->describe() +
                            "\n    " + s.describe());
    } else {
      slot = s;
    }
  };
  for (const auto& s : it->second) {
    bool placed = false;
    if (s.kind == "CLIENT" && s.pid() == caller_pid && remote_port(s) == chain.entry_port()) {
      take(rs.caller, s, "the caller's CLIENT");
      placed = true;
    }
    for (size_t i = 0; i < n && !placed; ++i) {
      const Hop& h = chain.hop(i);
      if (s.pid() != h.pid) continue;
      if (s.kind == "SERVER" && s.attr_int("network.local.port").value_or(h.port) == h.port) {
        take(rs.server[i], s, h.name + " SERVER");
        placed = true;
      } else if (s.kind == "CLIENT" && i + 1 < n && remote_port(s) == chain.hop(i + 1).port) {
        take(rs.client[i], s, h.name + " CLIENT");
        placed = true;
      }
    }
    if (!placed) rs.problems.push_back(path + ": unexpected span " + s.describe());
  }
  if (!rs.caller) rs.problems.push_back(path + ": no CLIENT span of the caller");
  for (size_t i = 0; i < n; ++i) {
    if (!rs.server[i]) rs.problems.push_back(path + ": no SERVER span of " + chain.hop(i).name);
    if (i + 1 < n && !rs.client[i]) {
      rs.problems.push_back(path + ": no CLIENT span of " + chain.hop(i).name);
    }
  }
  return rs;
}

std::string traceparent_of(const Span& span) {
  return "00-" + span.trace_id + "-" + span.span_id + "-01";
}

std::string link_name(Link link) {
  switch (link) {
    case Link::kCorrect:
      return "correct";
    case Link::kUnlinked:
      return "unlinked";
    case Link::kDangling:
      return "dangling";
    case Link::kWrong:
      return "WRONG";
    case Link::kOtherTrace:
      return "in another trace than its parent";
    case Link::kMissing:
      return "missing span";
  }
  return "?";
}

SpansById index_by_id(const std::vector<Span>& spans) {
  SpansById out;
  for (const auto& s : spans) out.emplace(s.span_id, &s);
  return out;
}

Link classify(const std::optional<Span>& child, const std::optional<Span>& expected_parent,
              const SpansById& by_id) {
  if (!child || !expected_parent) return Link::kMissing;
  if (child->parent_span_id.empty()) return Link::kUnlinked;
  if (child->parent_span_id == expected_parent->span_id) {
    return child->trace_id == expected_parent->trace_id ? Link::kCorrect : Link::kOtherTrace;
  }
  return by_id.count(child->parent_span_id) ? Link::kWrong : Link::kDangling;
}

std::vector<HopLinks> links_of(const RequestSpans& rs, const SpansById& by_id) {
  std::vector<HopLinks> out;
  for (size_t i = 0; i < rs.server.size(); ++i) {
    HopLinks l;
    l.in = classify(rs.server[i], i == 0 ? rs.caller : rs.client[i - 1], by_id);
    if (i < rs.client.size()) l.out = classify(rs.client[i], rs.server[i], by_id);
    out.push_back(l);
  }
  return out;
}

std::vector<std::string> one_trace_problems(const Chain& chain, const RequestSpans& rs,
                                            const SpansById& by_id,
                                            const std::vector<HopReport>& reports,
                                            const std::string& trace_id,
                                            const std::set<size_t>& skip_in) {
  std::vector<std::string> problems = rs.problems;
  const std::string& path = rs.path;
  // One trace.
  std::set<std::string> traces;
  auto add_trace = [&](const std::optional<Span>& s) {
    if (s) traces.insert(s->trace_id);
  };
  add_trace(rs.caller);
  for (const auto& s : rs.server) add_trace(s);
  for (const auto& s : rs.client) add_trace(s);
  const std::string want = trace_id.empty() && rs.caller ? rs.caller->trace_id : trace_id;
  if (traces.size() != 1 || want.empty() || *traces.begin() != want) {
    std::string list;
    for (const auto& t : traces) list += " " + t;
    problems.push_back(path + ": trace ids" + list + ", expected only " + want);
  }
  // Every parent.
  const std::vector<HopLinks> links = links_of(rs, by_id);
  for (size_t i = 0; i < links.size(); ++i) {
    const Hop& h = chain.hop(i);
    if (links[i].in != Link::kCorrect && rs.server[i] && !skip_in.count(i)) {
      const auto& parent = i == 0 ? rs.caller : rs.client[i - 1];
      problems.push_back(path + ": " + h.name + " SERVER <- " +
                         (i == 0 ? std::string("caller") : chain.hop(i - 1).name) + " CLIENT is " +
                         link_name(links[i].in) + ": parent_span_id " +
                         short_id(rs.server[i]->parent_span_id) + " trace " +
                         rs.server[i]->trace_id + ", expected " +
                         (parent ? parent->span_id + " trace " + parent->trace_id : "(no span)"));
    }
    if (i + 1 < links.size() && links[i].out != Link::kCorrect && rs.client[i]) {
      problems.push_back(path + ": " + h.name + " CLIENT <- " + h.name + " SERVER is " +
                         link_name(links[i].out) + ": parent_span_id " +
                         short_id(rs.client[i]->parent_span_id) + " trace " +
                         rs.client[i]->trace_id + ", expected " +
                         (rs.server[i] ? rs.server[i]->span_id + " trace " + rs.server[i]->trace_id
                                       : "(no span)"));
    }
  }
  // The headers each hop received.
  if (!reports.empty()) {
    const size_t first = chain.hop(0).runtime == Runtime::kNginx ? 1 : 0;
    for (size_t k = 0; k < reports.size() && first + k < chain.size(); ++k) {
      const size_t i = first + k;
      if (skip_in.count(i)) continue;
      const auto& upstream = i == 0 ? rs.caller : rs.client[i - 1];
      const auto& got = reports[k].traceparent;
      std::string got_list;
      for (const auto& v : got) got_list += " [" + v + "]";
      const std::string want_tp = upstream ? traceparent_of(*upstream) : "(no CLIENT span)";
      if (got.size() != 1 || got[0] != want_tp) {
        problems.push_back(path + ": " + chain.hop(i).name + " received traceparent" +
                           (got.empty() ? " (none)" : got_list) + ", expected exactly [" + want_tp +
                           "]");
      }
    }
  }
  return problems;
}

std::vector<std::vector<HopReport>> require_chain_answers(const Chain& chain, const CurlRun& run,
                                                          bool one_connection) {
  const std::string context = chain.describe() + "\n" + run.command.describe;
  ZTRACE_E2E_REQUIRE_PEER(run.command.exit_code == 0, context);
  ZTRACE_E2E_REQUIRE_PEER(run.lines.size() == run.requests.size(), context);
  std::vector<std::string> problems;
  std::vector<std::vector<HopReport>> all;
  for (size_t i = 0; i < run.requests.size(); ++i) {
    const std::string& path = run.requests[i].path;
    if (run.lines[i].code != 200) {
      problems.push_back(path + ": HTTP " + std::to_string(run.lines[i].code));
    }
    if (one_connection && run.lines[i].connects != (i == 0 ? 1 : 0)) {
      problems.push_back(path + ": curl made " + std::to_string(run.lines[i].connects) +
                         " connections (keep-alive expected)");
    }
    std::vector<HopReport> reports = flatten_reports(run.bodies[i], problems);
    for (auto& p : report_problems(chain, reports, path)) problems.push_back(std::move(p));
    all.push_back(std::move(reports));
  }
  ZTRACE_E2E_REQUIRE_PEER(problems.empty(), context + "\n" + join_problems(problems));
  return all;
}

std::vector<std::string> duplicate_span_ids(const std::vector<Span>& spans) {
  std::map<std::string, std::vector<const Span*>> by_id;
  for (const auto& s : spans) by_id[s.span_id].push_back(&s);
  std::vector<std::string> out;
  for (const auto& [id, list] : by_id) {
    if (list.size() < 2) continue;
    std::string line = id + " x" + std::to_string(list.size()) + ":";
    for (const Span* s : list) line += "\n      " + s->describe();
    out.push_back(line);
  }
  return out;
}

std::string join_problems(const std::vector<std::string>& problems, size_t max) {
  std::string s;
  for (size_t i = 0; i < problems.size() && i < max; ++i) s += "  " + problems[i] + "\n";
  if (problems.size() > max) {
    s += "  ... and " + std::to_string(problems.size() - max) + " more\n";
  }
  return s;
}

std::string random_hex(size_t hex_chars) {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.clear();
    for (size_t i = 0; i < hex_chars; ++i) s += digits[rng() % 16];
  } while (s.find_first_not_of('0') == std::string::npos);
  return s;
}

// ---------------------------------------------------------------------------------------
// Bytes on the wire

namespace {

std::string printable(std::string_view s, size_t max = 160) {
  std::string out;
  for (char c : s.substr(0, max)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (std::isprint(static_cast<unsigned char>(c))) {
      out += c;
    } else {
      out += '.';
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// The header lines of a header block ("\r\n"-terminated lines, the blank line excluded).
std::vector<std::string> header_lines(std::string_view block) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < block.size()) {
    size_t end = block.find("\r\n", at);
    if (end == std::string_view::npos || end == at) break;
    lines.emplace_back(block.substr(at, end - at + 2));
    at = end + 2;
  }
  return lines;
}

std::string field_name(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "";
  std::string name(line.substr(0, colon));
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
  return lower(name);
}

std::string field_value(std::string_view line) {
  const size_t colon = line.find(':');
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) {
    v.remove_suffix(1);
  }
  return std::string(v);
}

size_t content_length(const std::vector<std::string>& lines) {
  for (size_t i = 1; i < lines.size(); ++i) {
    if (field_name(lines[i]) == "content-length") return std::stoul(field_value(lines[i]));
  }
  return 0;
}

}  // namespace

WireComparison compare_wire(const std::string& sent, const std::string& received,
                            int added_lines_per_request,
                            const std::set<std::string>& not_injected) {
  WireComparison out;
  size_t s_at = 0, r_at = 0;
  for (int index = 1; s_at < sent.size(); ++index) {
    const std::string req = "request " + std::to_string(index);
    const size_t s_end = sent.find("\r\n\r\n", s_at);
    if (s_end == std::string::npos) {
      out.problems.push_back(req + ": the sent bytes end inside a header block (test bug)");
      return out;
    }
    const std::string s_block = sent.substr(s_at, s_end + 4 - s_at);
    const std::vector<std::string> s_lines = header_lines(s_block);
    WireRequest wr;
    {
      std::istringstream rl(s_lines.empty() ? "" : s_lines[0]);
      std::string method;
      rl >> method >> wr.path;
    }
    const std::string where = req + " (" + wr.path + ")";
    const size_t r_end = received.find("\r\n\r\n", r_at);
    if (r_end == std::string::npos) {
      out.problems.push_back(where + ": received bytes end inside its header block: " +
                             printable(std::string_view(received).substr(r_at)));
      return out;
    }
    const std::string r_block = received.substr(r_at, r_end + 4 - r_at);
    std::vector<std::string> r_lines = header_lines(r_block);
    std::vector<std::string> added;
    std::vector<std::string> kept;
    for (size_t i = 0; i < r_lines.size(); ++i) {
      if (i > 0 && field_name(r_lines[i]) == "traceparent") {
        added.push_back(r_lines[i]);
      } else {
        kept.push_back(r_lines[i]);
      }
    }
    std::string rebuilt;
    for (const auto& l : kept) rebuilt += l;
    rebuilt += "\r\n";
    const int expected_lines = not_injected.count(wr.path) ? 0 : added_lines_per_request;
    if (static_cast<int>(added.size()) != expected_lines) {
      std::string list;
      for (const auto& l : added) list += " [" + printable(l) + "]";
      out.problems.push_back(where + ": " + std::to_string(added.size()) +
                             " traceparent lines, expected " + std::to_string(expected_lines) +
                             list);
    }
    for (const auto& l : added) {
      const std::string v = field_value(l);
      if (!valid_traceparent(v)) {
        out.problems.push_back(where + ": malformed traceparent line [" + printable(l) + "]");
      }
      if (l.size() < 2 || l.substr(l.size() - 2) != "\r\n") {
        out.problems.push_back(where + ": traceparent line not ended by CRLF");
      }
      wr.traceparent = v;
    }
    if (rebuilt != s_block) {
      out.problems.push_back(where + ": header block differs beyond the traceparent line\n" +
                             "    sent:     " + printable(s_block, 400) + "\n" +
                             "    received: " + printable(r_block, 400));
    }
    const size_t body = content_length(s_lines);
    s_at = s_end + 4;
    r_at = r_end + 4;
    if (s_at + body > sent.size()) {
      out.problems.push_back(where + ": the sent bytes end inside the body (test bug)");
      return out;
    }
    if (r_at + body > received.size()) {
      out.problems.push_back(where + ": received " + std::to_string(received.size() - r_at) +
                             " body bytes, expected " + std::to_string(body));
      return out;
    }
    if (sent.compare(s_at, body, received, r_at, body) != 0) {
      size_t first = 0;
      while (first < body && sent[s_at + first] == received[r_at + first]) ++first;
      out.problems.push_back(where + ": body differs from byte " + std::to_string(first) + " of " +
                             std::to_string(body));
    }
    s_at += body;
    r_at += body;
    out.requests.push_back(wr);
  }
  if (r_at != received.size()) {
    out.problems.push_back(std::to_string(received.size() - r_at) +
                           " bytes received after the last request: " +
                           printable(std::string_view(received).substr(r_at)));
  }
  return out;
}

std::vector<RawConnection> parse_raw_client_output(const std::string& out) {
  std::vector<RawConnection> conns;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string word;
    RawConnection c;
    if (!(ss >> word) || word != "conn" || !(ss >> c.name)) continue;
    while (ss >> word) {
      if (word.rfind("port=", 0) == 0) c.port = std::atoi(word.c_str() + 5);
      if (word.rfind("requests=", 0) == 0) c.requests = std::atoi(word.c_str() + 9);
      if (word.rfind("statuses=", 0) == 0) {
        std::istringstream st(word.substr(9));
        std::string code;
        while (std::getline(st, code, ',')) c.statuses.push_back(std::atoi(code.c_str()));
      }
    }
    conns.push_back(c);
  }
  return conns;
}

std::vector<std::string> raw_client_paths(const std::string& out) {
  std::vector<std::string> paths;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("request ", 0) == 0) paths.push_back(line.substr(8));
  }
  return paths;
}

WireComparison compare_raw_run(const fs::path& outdir, const std::vector<RawConnection>& conns,
                               int added_lines_per_request,
                               const std::set<std::string>& not_injected) {
  WireComparison all;
  for (const auto& c : conns) {
    const fs::path sent_path = outdir / ("sent-" + c.name + ".bin");
    const fs::path recv_path = outdir / ("recv-" + std::to_string(c.port) + ".bin");
    if (!fs::exists(sent_path) || !fs::exists(recv_path)) {
      all.problems.push_back(c.name + ": missing " +
                             (fs::exists(sent_path) ? recv_path : sent_path).filename().string());
      continue;
    }
    WireComparison one =
        compare_wire(read_file(sent_path), read_file(recv_path), added_lines_per_request,
                     not_injected);
    for (auto& p : one.problems) all.problems.push_back(c.name + ": " + p);
    if (static_cast<int>(one.requests.size()) != c.requests) {
      all.problems.push_back(c.name + ": " + std::to_string(one.requests.size()) +
                             " requests compared, the client sent " + std::to_string(c.requests));
    }
    all.requests.insert(all.requests.end(), one.requests.begin(), one.requests.end());
  }
  return all;
}

}  // namespace ztrace::e2e::chain
