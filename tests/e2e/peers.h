#pragma once

// Starting the peers of tests/e2e/peers. Servers listen on 127.0.0.1:port; each start_*
// returns once the port listens (or throws with the peer's output).

#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

using Env = std::vector<std::pair<std::string, std::string>>;

Process start_python_server(const fs::path& dir, int port, Env env = {});
Process start_junk_server(const fs::path& dir, int port);
Process start_go_server(const fs::path& dir, int port, Env env = {});
Process start_java_server(const fs::path& dir, int port, Env env = {});
Process start_node_server(const fs::path& dir, int port, Env env = {});
// nginx from peers/nginx/nginx.conf.in, files under dir/nginx/html/static: index.html,
// head.html, v10.html (12 bytes each) and big.bin (256 KiB).
Process start_nginx(const fs::path& dir, int port);
// nginx from peers/nginx/h2c.conf.in: HTTP/2 without TLS (prior knowledge), the same static
// files as start_nginx, /boom (500) and /echo/* (200, a short body).
Process start_nginx_h2c(const fs::path& dir, int port);
// nginx from peers/nginx/proxy.conf.in: a reverse proxy of every path to
// 127.0.0.1:upstream_port over HTTP/1.1 with an upstream keep-alive pool. nginx forwards
// every request header; with forward_trace_headers false it drops traceparent and tracestate
// from the upstream request (proxy_set_header ... "").
Process start_nginx_proxy(const fs::path& dir, int port, int upstream_port,
                          bool forward_trace_headers);
// peers/python/raw_http.py: records every byte received per connection in
// outdir/recv-<client port>.bin (see the script for the answers it gives).
Process start_raw_http_server(const fs::path& dir, int port, const fs::path& outdir);
// The raw_http.py client running `scenarios` against 127.0.0.1:port.
std::vector<std::string> raw_http_client(int port, const fs::path& outdir,
                                         std::vector<std::string> scenarios);

// peers/python/hostile_peers.py (see the script): a server that closes each connection with
// close_range(2) and writes a response into a file that reuses the fd (every second one); a
// keep-alive server that answers "Expect: 100-continue"; and `connections` keep-alive clients
// whose POST bodies begin with a request line, until outdir/stop exists.
Process start_fd_reuse_server(const fs::path& dir, int port);
Process start_expect_server(const fs::path& dir, int port);
std::vector<std::string> bodies_client(int port, const fs::path& outdir, int connections);
// peers/python/framing_http.py: records every byte received per connection in
// outdir/recv-<client port>-<k>.bin and echoes request bodies (Content-Length or chunked).
Process start_framing_http_server(const fs::path& dir, int port, const fs::path& outdir);
// Its client running `scenarios`, and its seeded random sequence of `requests` requests over
// `workers` concurrent keep-alive connections at a time (see the script).
std::vector<std::string> framing_http_client(int port, const fs::path& outdir,
                                             std::vector<std::string> scenarios);
std::vector<std::string> framing_http_fuzz(int port, const fs::path& outdir, unsigned seed,
                                           int requests, int workers);

// Client command lines (run them with run_command or Process).
std::vector<std::string> go_client(std::vector<std::string> args);
std::vector<std::string> java_client(std::vector<std::string> args);
std::vector<std::string> node_client(std::vector<std::string> args);

std::string url(int port, std::string_view path);

// One line of the Go, Java or Node client: "STATUS METHOD URL port=P [reused=BOOL]", where P
// is the client's port as the server saw it (the X-Client-Port response header).
struct ClientLine {
  int code = 0;
  std::string method, url;
  int port = 0;
  std::string reused;  // "true" / "false"; empty for the Java client
};
std::vector<ClientLine> parse_client_output(const std::string& out);  // http://127.0.0.1:PORT/PATH

// Runs a command that must succeed; REQUIREs exit 0 and returns its stdout.
std::string must_run(const fs::path& dir, std::vector<std::string> argv, Env env = {});

struct CurlRequest {
  std::string url;
  std::string method = "GET";  // "HEAD" uses -I
  std::string body;            // sent with --data-binary when not empty
  std::vector<std::string> extra_args;
};
// One curl invocation for all requests, joined with --next so they share one keep-alive
// connection. Prints "HTTP_CODE NUM_CONNECTS LOCAL_PORT" per request.
std::vector<std::string> curl_command(const std::vector<CurlRequest>& requests);
struct CurlLine {
  int code = 0;
  int connects = 0;  // 1 for a new connection, 0 when reused
  int local_port = 0;
};
std::vector<CurlLine> parse_curl_output(const std::string& out);

// "curl/X.Y.Z" as curl sends it by default.
std::string curl_user_agent();

}  // namespace ztrace::e2e
