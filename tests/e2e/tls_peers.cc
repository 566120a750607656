#include "tests/e2e/tls_peers.h"

#include <catch2/catch_test_macros.hpp>
#include <stdexcept>

namespace ztrace::e2e {

TlsCert make_tls_cert(const fs::path& dir) {
  TlsCert out{dir / "cert.pem", dir / "key.pem"};
  CommandResult r = run_command(
      dir, {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=127.0.0.1", "-keyout", out.key.string(), "-out", out.cert.string()});
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed\n" + r.describe);
  return out;
}

Process start_nginx_tls(const fs::path& dir, int port) {
  const fs::path root = dir / "nginx";
  for (const char* sub : {"html/static", "logs", "tmp"}) fs::create_directories(root / sub);
  for (const char* page : {"index.html", "head.html", "v10.html"}) {
    write_file(root / "html/static" / page, "hello nginx\n");
  }
  std::string big(256 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  write_file(root / "html/static/big.bin", big);
  make_tls_cert(root);
  std::string conf = read_file(peers_dir() / "nginx" / "tls.conf.in");
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = conf.find(from); at != std::string::npos; at = conf.find(from, at + to.size()))
      conf.replace(at, from.size(), to);
  };
  replace_all("@DIR@", root.string());
  replace_all("@PORT@", std::to_string(port));
  write_file(root / "nginx.conf", conf);
  ProcessOptions o;
  o.argv = {"nginx",       "-e", (root / "logs/error.log").string(), "-p",
            root.string(), "-c", (root / "nginx.conf").string()};
  o.cwd = dir;
  o.stdout_path = dir / "nginx.stdout";
  o.stderr_path = dir / "nginx.stderr";
  Process p(std::move(o));
  if (!wait_for_port(port, 60s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error("nginx (TLS) did not listen on port " + std::to_string(port) + "\n" +
                             p.describe());
  }
  return p;
}

Process start_python_tls_server(const fs::path& dir, int port) {
  const TlsCert cert = make_tls_cert(dir);
  ProcessOptions o;
  o.argv = {python3().string(), (peers_dir() / "python" / "tls_http.py").string(),
            "server",           std::to_string(port),
            cert.cert.string(), cert.key.string()};
  o.cwd = dir;
  o.stdout_path = dir / "python-tls-server.stdout";
  o.stderr_path = dir / "python-tls-server.stderr";
  Process p(std::move(o));
  if (!wait_for_port(port, 60s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error("python TLS server did not listen on port " + std::to_string(port) +
                             "\n" + p.describe());
  }
  return p;
}

std::vector<std::string> python_tls_client(const std::vector<std::string>& urls) {
  std::vector<std::string> argv = {python3().string(),
                                   (peers_dir() / "python" / "tls_http.py").string(), "client"};
  argv.insert(argv.end(), urls.begin(), urls.end());
  return argv;
}

Process start_node_tls_server(const fs::path& dir, int port, const std::string& mode) {
  const TlsCert cert = make_tls_cert(dir);
  ProcessOptions o;
  o.argv = {"node",
            (peers_dir() / "node" / "tls_peer.js").string(),
            mode,
            std::to_string(port),
            cert.cert.string(),
            cert.key.string()};
  o.cwd = dir;
  o.stdout_path = dir / ("node-" + mode + ".stdout");
  o.stderr_path = dir / ("node-" + mode + ".stderr");
  Process p(std::move(o));
  if (!wait_for_port(port, 60s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error("node " + mode + " did not listen on port " + std::to_string(port) +
                             "\n" + p.describe());
  }
  return p;
}

std::vector<std::string> node_tls_client(const std::string& mode,
                                         const std::vector<std::string>& urls) {
  std::vector<std::string> argv = {"node", (peers_dir() / "node" / "tls_peer.js").string(), mode};
  argv.insert(argv.end(), urls.begin(), urls.end());
  return argv;
}

namespace {

fs::path java_tls_classes() {
  const fs::path dir = scratch_dir() / "peers";
  const fs::path src = peers_dir() / "java-tls" / "TlsPeer.java";
  const fs::path classes = dir / "java-tls";
  BuildLock lock(dir);
  if (up_to_date(classes / "TlsPeer.class", src)) return classes;
  fs::create_directories(classes);
  auto r = run_command(dir, {"javac", "-d", classes.string(), src.string()}, 120s);
  if (r.exit_code != 0) throw std::runtime_error("javac failed:\n" + r.describe);
  return classes;
}

}  // namespace

Process start_java_tls_server(const fs::path& dir, int port,
                              const std::vector<std::string>& jvm_flags,
                              const std::vector<std::string>& launcher) {
  const fs::path keystore = dir / "java-tls.p12";
  CommandResult k = run_command(dir, {"keytool",    "-genkeypair",
                                      "-alias",     "zt",
                                      "-keyalg",    "RSA",
                                      "-keysize",   "2048",
                                      "-keystore",  keystore.string(),
                                      "-storetype", "PKCS12",
                                      "-storepass", "changeit",
                                      "-dname",     "CN=127.0.0.1",
                                      "-ext",       "SAN=ip:127.0.0.1",
                                      "-validity",  "2"});
  if (k.exit_code != 0) throw std::runtime_error("keytool failed\n" + k.describe);
  ProcessOptions o;
  o.argv = launcher;
  o.argv.push_back("java");
  o.argv.insert(o.argv.end(), jvm_flags.begin(), jvm_flags.end());
  o.argv.insert(o.argv.end(), {"-cp", java_tls_classes().string(), "TlsPeer", "server",
                               std::to_string(port), keystore.string()});
  o.cwd = dir;
  o.stdout_path = dir / "java-tls-server.stdout";
  o.stderr_path = dir / "java-tls-server.stderr";
  Process p(std::move(o));
  if (!wait_for_port(port, 60s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error("Java HttpsServer did not listen on port " + std::to_string(port) +
                             "\n" + p.describe());
  }
  return p;
}

std::vector<std::string> java_tls_client(const std::string& mode,
                                         const std::vector<std::string>& urls) {
  std::vector<std::string> argv = {"java", "-cp", java_tls_classes().string(), "TlsPeer"};
  if (mode == "urlconnection") {
    argv.push_back(mode);
  } else {
    argv.insert(argv.end(), {"httpclient", mode == "httpclient-h2" ? "h2" : "h1"});
  }
  argv.insert(argv.end(), urls.begin(), urls.end());
  return argv;
}

void check_secrets_absent(const Agent& agent) {
  const std::string spans_text = read_file(agent.jsonl_path());
  const std::string log = agent.log();
  for (std::string_view secret : {kSecretToken, kSecretCookie}) {
    INFO("secret " << secret);
    CHECK(spans_text.find(secret) == std::string::npos);
    CHECK(log.find(secret) == std::string::npos);
  }
}

std::string https_url_of(int port, std::string_view path) {
  return "https://127.0.0.1:" + std::to_string(port) + std::string(path);
}

}  // namespace ztrace::e2e
