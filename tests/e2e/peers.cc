#include "tests/e2e/peers.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace ztrace::e2e {

namespace {

Process start_server(const fs::path& dir, const std::string& name, int port,
                     std::vector<std::string> argv, Env env) {
  if (port_listening(port)) {
    throw std::runtime_error("port " + std::to_string(port) + " already listens before starting " +
                             name + " (a leftover peer, or another program uses it)");
  }
  ProcessOptions o;
  o.argv = std::move(argv);
  o.env = std::move(env);
  o.cwd = dir;
  o.stdout_path = dir / (name + ".stdout");
  o.stderr_path = dir / (name + ".stderr");
  Process p(std::move(o));
  if (!wait_for_port(port, 60s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error(name + " did not listen on port " + std::to_string(port) + "\n" +
                             p.describe());
  }
  return p;
}

}  // namespace

std::string url(int port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

std::vector<ClientLine> parse_client_output(const std::string& out) {
  std::vector<ClientLine> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    ClientLine l;
    std::string word;
    if (!(ss >> l.code >> l.method >> l.url)) continue;
    while (ss >> word) {
      if (word.rfind("port=", 0) == 0) l.port = std::atoi(word.c_str() + 5);
      if (word.rfind("reused=", 0) == 0) l.reused = word.substr(7);
    }
    lines.push_back(l);
  }
  return lines;
}

Process start_python_server(const fs::path& dir, int port, Env env) {
  return start_server(dir, "python-server", port,
                      {python3().string(), (peers_dir() / "python" / "http_server.py").string(),
                       std::to_string(port)},
                      std::move(env));
}

Process start_junk_server(const fs::path& dir, int port) {
  return start_server(dir, "junk-server", port,
                      {python3().string(), (peers_dir() / "python" / "junk_server.py").string(),
                       std::to_string(port)},
                      {});
}

Process start_go_server(const fs::path& dir, int port, Env env) {
  return start_server(dir, "go-server", port, {go_peer().string(), "server", std::to_string(port)},
                      std::move(env));
}

Process start_java_server(const fs::path& dir, int port, Env env) {
  return start_server(
      dir, "java-server", port,
      {"java", "-cp", java_classes().string(), "Peer", "server", std::to_string(port)},
      std::move(env));
}

Process start_node_server(const fs::path& dir, int port, Env env) {
  return start_server(
      dir, "node-server", port,
      {"node", (peers_dir() / "node" / "peer.js").string(), "server", std::to_string(port)},
      std::move(env));
}

namespace {

// Renders peers/nginx/<conf_template> into dir/nginx/nginx.conf (@DIR@, @PORT@ and `extra`
// replaced) and starts nginx on it.
Process start_nginx_with(const fs::path& dir, int port, const std::string& conf_template,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  const fs::path root = dir / "nginx";
  std::string conf = read_file(peers_dir() / "nginx" / conf_template);
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = conf.find(from); at != std::string::npos; at = conf.find(from, at + to.size()))
      conf.replace(at, from.size(), to);
  };
  replace_all("@DIR@", root.string());
  replace_all("@PORT@", std::to_string(port));
  for (const auto& [from, to] : extra) replace_all(from, to);
  write_file(root / "nginx.conf", conf);
  return start_server(dir, "nginx", port,
                      {"nginx", "-e", (root / "logs/error.log").string(), "-p", root.string(), "-c",
                       (root / "nginx.conf").string()},
                      {});
}

}  // namespace

Process start_nginx(const fs::path& dir, int port) {
  const fs::path root = dir / "nginx";
  for (const char* sub : {"html/static", "logs", "tmp"}) fs::create_directories(root / sub);
  for (const char* page : {"index.html", "head.html", "v10.html"}) {
    write_file(root / "html/static" / page, "hello nginx\n");
  }
  std::string big(256 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  write_file(root / "html/static/big.bin", big);
  return start_nginx_with(dir, port, "nginx.conf.in", {});
}

Process start_nginx_h2c(const fs::path& dir, int port) {
  const fs::path root = dir / "nginx";
  for (const char* sub : {"html/static", "logs", "tmp"}) fs::create_directories(root / sub);
  write_file(root / "html/static/index.html", "hello nginx\n");
  write_file(root / "html/static/head.html", "hello nginx\n");
  std::string big(256 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  write_file(root / "html/static/big.bin", big);
  return start_nginx_with(dir, port, "h2c.conf.in", {});
}

Process start_nginx_proxy(const fs::path& dir, int port, int upstream_port,
                          bool forward_trace_headers) {
  const fs::path root = dir / "nginx";
  for (const char* sub : {"logs", "tmp"}) fs::create_directories(root / sub);
  return start_nginx_with(
      dir, port, "proxy.conf.in",
      {{"@UPSTREAM_PORT@", std::to_string(upstream_port)},
       {"@TRACE_HEADERS@",
        forward_trace_headers
            ? "# (forwarded)"
            : "proxy_set_header traceparent \"\"; proxy_set_header tracestate \"\";"}});
}

Process start_raw_http_server(const fs::path& dir, int port, const fs::path& outdir) {
  fs::create_directories(outdir);
  return start_server(dir, "raw-http-server", port,
                      {python3().string(), (peers_dir() / "python" / "raw_http.py").string(),
                       "server", std::to_string(port), outdir.string()},
                      {});
}

std::vector<std::string> raw_http_client(int port, const fs::path& outdir,
                                         std::vector<std::string> scenarios) {
  std::vector<std::string> argv = {python3().string(),
                                   (peers_dir() / "python" / "raw_http.py").string(), "client",
                                   std::to_string(port), outdir.string()};
  argv.insert(argv.end(), scenarios.begin(), scenarios.end());
  return argv;
}

namespace {
fs::path hostile_peers_script() { return peers_dir() / "python" / "hostile_peers.py"; }
}  // namespace

Process start_fd_reuse_server(const fs::path& dir, int port) {
  return start_server(dir, "fd-reuse-server", port,
                      {python3().string(), hostile_peers_script().string(), "fd-reuse-server",
                       std::to_string(port), dir.string()},
                      {});
}

Process start_expect_server(const fs::path& dir, int port) {
  return start_server(
      dir, "expect-server", port,
      {python3().string(), hostile_peers_script().string(), "expect-server", std::to_string(port)},
      {});
}

std::vector<std::string> bodies_client(int port, const fs::path& outdir, int connections) {
  return {python3().string(), hostile_peers_script().string(),
          "bodies-client",    std::to_string(port),
          outdir.string(),    std::to_string(connections)};
}

Process start_framing_http_server(const fs::path& dir, int port, const fs::path& outdir) {
  fs::create_directories(outdir);
  return start_server(dir, "framing-http-server", port,
                      {python3().string(), (peers_dir() / "python" / "framing_http.py").string(),
                       "server", std::to_string(port), outdir.string()},
                      {});
}

std::vector<std::string> framing_http_client(int port, const fs::path& outdir,
                                             std::vector<std::string> scenarios) {
  std::vector<std::string> argv = {python3().string(),
                                   (peers_dir() / "python" / "framing_http.py").string(), "client",
                                   std::to_string(port), outdir.string()};
  argv.insert(argv.end(), scenarios.begin(), scenarios.end());
  return argv;
}

std::vector<std::string> framing_http_fuzz(int port, const fs::path& outdir, unsigned seed,
                                           int requests, int workers) {
  return {python3().string(),
          (peers_dir() / "python" / "framing_http.py").string(),
          "fuzz",
          std::to_string(port),
          outdir.string(),
          std::to_string(seed),
          std::to_string(requests),
          std::to_string(workers)};
}

std::vector<std::string> go_client(std::vector<std::string> args) {
  std::vector<std::string> argv = {go_peer().string(), "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> java_client(std::vector<std::string> args) {
  std::vector<std::string> argv = {"java", "-cp", java_classes().string(), "Peer", "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> node_client(std::vector<std::string> args) {
  std::vector<std::string> argv = {"node", (peers_dir() / "node" / "peer.js").string(), "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string must_run(const fs::path& dir, std::vector<std::string> argv, Env env) {
  CommandResult r = run_command(dir, std::move(argv), 60s, std::move(env));
  INFO(r.describe);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::vector<std::string> curl_command(const std::vector<CurlRequest>& requests) {
  std::vector<std::string> argv = {"curl"};
  bool first = true;
  for (const auto& r : requests) {
    if (!first) argv.push_back("--next");
    first = false;
    argv.insert(argv.end(), {"-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                             "%{http_code} %{num_connects} %{local_port}\\n"});
    if (r.method == "HEAD") {
      argv.push_back("-I");
    } else if (r.method != "GET" || !r.body.empty()) {
      argv.insert(argv.end(), {"-X", r.method});
    }
    if (!r.body.empty()) argv.insert(argv.end(), {"--data-binary", r.body});
    argv.insert(argv.end(), r.extra_args.begin(), r.extra_args.end());
    argv.push_back(r.url);
  }
  return argv;
}

std::vector<CurlLine> parse_curl_output(const std::string& out) {
  std::vector<CurlLine> lines;
  std::istringstream ss(out);
  CurlLine l;
  while (ss >> l.code >> l.connects >> l.local_port) lines.push_back(l);
  return lines;
}

std::string curl_user_agent() {
  static const std::string ua = [] {
    fs::create_directories(scratch_dir());
    // "curl 7.88.1 (x86_64-pc-linux-gnu) ..." -> "curl/7.88.1"
    CommandResult r = run_command(scratch_dir(), {"curl", "--version"}, 10s);
    auto sp1 = r.out.find(' ');
    auto sp2 = r.out.find(' ', sp1 + 1);
    if (r.exit_code != 0 || sp1 == std::string::npos || sp2 == std::string::npos) {
      throw std::runtime_error("curl --version failed:\n" + r.describe);
    }
    return "curl/" + r.out.substr(sp1 + 1, sp2 - sp1 - 1);
  }();
  return ua;
}

}  // namespace ztrace::e2e
