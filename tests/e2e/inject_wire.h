#pragma once

// What an HTTP/1 server received against what its client sent, for the injection framing
// tests (peers/python/framing_http.py): the client marks where each request's head starts,
// so a difference can be placed exactly, in a head or in a body.

#include <cstddef>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

// A request the client sent: offsets in its connection's bytes of its first byte and of the
// byte after its request line; `expect` is "inject", "keep" or "any" (framing_http.py).
struct HeadMark {
  size_t start = 0;
  size_t line_end = 0;
  std::string path;
  std::string expect;
};
std::vector<HeadMark> read_head_marks(const fs::path& file);  // heads-NAME.txt

// "conn NAME port=P seq=S requests=N echo_errors=E" lines of a framing_http.py client.
struct FramedConnection {
  std::string name;
  int port = 0;
  int seq = 0;  // the order the client connected in: for one port, the server's accept order
  int requests = 0;
  int echo_errors = -1;
};
std::vector<FramedConnection> parse_framed_client_output(const std::string& out);

struct FramedRequest {
  std::string connection;
  HeadMark head;
  std::string traceparent;  // the value of the line added after its request line, or ""
};
struct FramedComparison {
  std::vector<FramedRequest> requests;
  std::vector<std::string> problems;
};

// `received` must be `sent` with, right after a marked request line, at most one added line
// "traceparent: 00-<32 hex>-<16 hex>-<2 hex>\r\n", and no other difference: a byte changed,
// added or missing anywhere (a head or a body) is a problem, placed by request.
FramedComparison compare_framed(const std::string& sent, const std::string& received,
                                const std::vector<HeadMark>& heads);

// compare_framed for every connection of a client run: sent-NAME.bin and heads-NAME.txt
// against the server's recv-PORT-K.bin in `outdir` (K: the how-manieth connection from PORT,
// by seq). Problems are prefixed with the connection.
FramedComparison compare_framed_run(const fs::path& outdir,
                                    const std::vector<FramedConnection>& conns);

// The value of `name` in the agent's "injection:" log line (-1 when absent).
long injection_counter(const std::string& log, const std::string& name);

}  // namespace ztrace::e2e
