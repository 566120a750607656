#include "tests/e2e/inject_wire.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace ztrace::e2e {
namespace {

constexpr std::string_view kName = "traceparent: ";
constexpr size_t kLineBytes = 70;  // "traceparent: 00-" 32 "-" 16 "-" 2 "\r\n"

bool hex_at(std::string_view s, size_t from, size_t n) {
  return std::all_of(s.begin() + from, s.begin() + from + n,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Is `s` (kLineBytes) a traceparent line as the agent writes it?
bool traceparent_line(std::string_view s) {
  return s.size() == kLineBytes && s.substr(0, kName.size()) == kName && s.substr(13, 3) == "00-" &&
         hex_at(s, 16, 32) && s[48] == '-' && hex_at(s, 49, 16) && s[65] == '-' &&
         hex_at(s, 66, 2) && s.substr(68) == "\r\n";
}

std::string printable(std::string_view s, size_t max = 120) {
  std::string out;
  for (char c : s.substr(0, max)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      out += '.';
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// Where sent offset `at` lies: "the head of request 3 (/p)" or "the body of ...".
std::string place(const std::vector<HeadMark>& heads, size_t at) {
  size_t i = 0;
  while (i + 1 < heads.size() && heads[i + 1].start <= at) ++i;
  if (heads.empty() || at < heads[0].start) return "before the first request";
  const HeadMark& h = heads[i];
  return "request " + std::to_string(i + 1) + " (" + h.path + "), byte " +
         std::to_string(at - h.start) + " of its message";
}

}  // namespace

std::vector<HeadMark> read_head_marks(const fs::path& file) {
  std::vector<HeadMark> marks;
  std::istringstream in(read_file(file));
  HeadMark m;
  while (in >> m.start >> m.line_end >> m.path >> m.expect) marks.push_back(m);
  return marks;
}

std::vector<FramedConnection> parse_framed_client_output(const std::string& out) {
  std::vector<FramedConnection> conns;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string word;
    FramedConnection c;
    if (!(ss >> word) || word != "conn" || !(ss >> c.name)) continue;
    while (ss >> word) {
      const size_t eq = word.find('=');
      if (eq == std::string::npos) continue;
      const int value = std::atoi(word.c_str() + eq + 1);
      const std::string key = word.substr(0, eq);
      if (key == "port") c.port = value;
      if (key == "seq") c.seq = value;
      if (key == "requests") c.requests = value;
      if (key == "echo_errors") c.echo_errors = value;
    }
    conns.push_back(c);
  }
  return conns;
}

FramedComparison compare_framed(const std::string& sent, const std::string& received,
                                const std::vector<HeadMark>& heads) {
  FramedComparison out;
  size_t s = 0, r = 0;
  // Compares the next n sent bytes; false (a problem noted) when they differ.
  const auto same = [&](size_t n) {
    const size_t have = received.size() > r ? received.size() - r : 0;
    const size_t common = std::min(n, have);
    size_t i = 0;
    while (i < common && sent[s + i] == received[r + i]) ++i;
    if (i < n) {
      const std::string what =
          i < common
              ? "differs: sent [" + printable(std::string_view(sent).substr(s + i, 60)) +
                    "], received [" + printable(std::string_view(received).substr(r + i, 60)) + "]"
              : "is missing (the server received " + std::to_string(received.size()) + " bytes)";
      out.problems.push_back("sent byte " + std::to_string(s + i) + " in " + place(heads, s + i) +
                             " " + what);
      return false;
    }
    s += n;
    r += n;
    return true;
  };
  for (const HeadMark& h : heads) {
    if (h.line_end < s || h.line_end > sent.size() || h.start > h.line_end) {
      out.problems.push_back("bad head mark for " + h.path + " (test bug)");
      return out;
    }
    if (!same(h.line_end - s)) return out;
    FramedRequest req{.head = h};
    const std::string_view next = std::string_view(received).substr(r, kLineBytes);
    // An added line, unless the client sent these very bytes itself.
    if (traceparent_line(next) && std::string_view(sent).substr(s, kLineBytes) != next) {
      req.traceparent = std::string(next.substr(kName.size(), 55));
      r += kLineBytes;
    }
    out.requests.push_back(req);
  }
  if (!same(sent.size() - s)) return out;
  if (r != received.size()) {
    out.problems.push_back(std::to_string(received.size() - r) +
                           " bytes received after all that was sent: [" +
                           printable(std::string_view(received).substr(r)) + "]");
  }
  return out;
}

FramedComparison compare_framed_run(const fs::path& outdir,
                                    const std::vector<FramedConnection>& conns) {
  FramedComparison all;
  std::vector<FramedConnection> by_seq = conns;
  std::stable_sort(by_seq.begin(), by_seq.end(),
                   [](const auto& a, const auto& b) { return a.seq < b.seq; });
  std::map<int, int> from_port;  // connections from a port so far, in the order they were made
  for (const FramedConnection& c : by_seq) {
    const fs::path sent = outdir / ("sent-" + c.name + ".bin");
    const fs::path heads = outdir / ("heads-" + c.name + ".txt");
    const fs::path recv = outdir / ("recv-" + std::to_string(c.port) + "-" +
                                    std::to_string(++from_port[c.port]) + ".bin");
    if (!fs::exists(sent) || !fs::exists(heads) || !fs::exists(recv)) {
      all.problems.push_back(c.name + ": " + sent.filename().string() + ", " +
                             heads.filename().string() + " or " + recv.filename().string() +
                             " missing");
      continue;
    }
    const std::vector<HeadMark> marks = read_head_marks(heads);
    FramedComparison one = compare_framed(read_file(sent), read_file(recv), marks);
    for (auto& p : one.problems) all.problems.push_back(c.name + ": " + p);
    if (one.problems.empty() && static_cast<int>(one.requests.size()) != c.requests) {
      all.problems.push_back(c.name + ": " + std::to_string(one.requests.size()) +
                             " requests compared, the client sent " + std::to_string(c.requests));
    }
    for (auto& req : one.requests) {
      req.connection = c.name;
      all.requests.push_back(std::move(req));
    }
  }
  return all;
}

long injection_counter(const std::string& log, const std::string& name) {
  const size_t line = log.rfind("injection: done=");
  if (line == std::string::npos) return -1;
  const size_t end = log.find('\n', line);
  const std::string text = log.substr(line, end == std::string::npos ? end : end - line);
  const size_t at = text.find(" " + name + "=");
  if (at == std::string::npos) return -1;
  return std::strtol(text.c_str() + at + name.size() + 2, nullptr, 10);
}

}  // namespace ztrace::e2e
